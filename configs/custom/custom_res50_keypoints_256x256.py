# Your own animals: SimpleBaseline with CustomPoseResNet-50 at 256x256 from
# ImageNet weights (offline: --cfg-options model.backbone.init_cfg=None, or
# init_cfg.checkpoint=/path/to/resnet50-0676ba61.pth).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/custom_keypoints.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/simplebaseline_resnet.py',
]

model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(out_channels=_base_.num_keypoints, decoder=_base_.codec))
