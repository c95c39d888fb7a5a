# SimpleBaseline ResNet-50 with the augmentation on the GPU (see the res101
# _gpuaug config).
_base_ = ['./custom_res101_animalpose_256x256_gpuaug.py']

model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')))
