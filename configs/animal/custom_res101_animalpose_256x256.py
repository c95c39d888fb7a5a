# SimpleBaseline (Xiao et al. 2018): CustomPoseResNet-101 + 3 deconvolution
# layers, 256x256 input, Animal-Pose in its original format.
#
# Offline, the ImageNet initialisation (torchvision://resnet101) cannot be
# fetched. Train from scratch with
#   --cfg-options model.backbone.init_cfg=None
# or point it at a local copy of torchvision's file:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/resnet101-63fe2227.pth
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/org_animalpose.py',
    '../_base_/schedules/adam_210e.py',
]

# keep the checkpoint with the best COCO AP
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='CustomPoseResNet',
        depth=101,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101'),
    ),
    head=dict(
        type='CustomPoseDeconvHead',
        in_channels=2048,
        out_channels=20,
        loss=dict(type='CustomPoseJointsMSELoss', use_target_weight=True),
        decoder=_base_.codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))
