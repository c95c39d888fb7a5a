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
    '../_base_/models/simplebaseline_resnet.py',
]

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')),
    head=dict(decoder=_base_.codec))
