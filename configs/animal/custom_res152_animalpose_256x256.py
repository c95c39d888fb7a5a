# SimpleBaseline with CustomPoseResNet-152.
_base_ = ['./custom_res101_animalpose_256x256.py']

model = dict(
    backbone=dict(
        depth=152,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet152')))
