# SimpleBaseline with CustomPoseResNet-50 (34.0 M parameters with the head).
_base_ = ['./custom_res101_animalpose_256x256.py']

model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
