# SimpleBaseline (Xiao et al. 2018): CustomPoseResNet-50 + 3 deconvolution
# layers to the 20 Animal-Pose heatmaps. A config sets the depth (and its
# ImageNet checkpoint) and the head's decoder (the dataset's codec).
_base_ = ['./topdown.py']

model = dict(
    backbone=dict(
        type='CustomPoseResNet',
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'),
    ),
    head=dict(
        type='CustomPoseDeconvHead',
        in_channels=2048,
        out_channels=20,
        loss=dict(type='CustomPoseJointsMSELoss', use_target_weight=True)))
