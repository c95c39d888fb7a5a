# SimpleBaseline with CustomPoseResNet-50 (34.0 M parameters with the head).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/org_animalpose.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/simplebaseline_resnet.py',
]

model = dict(
    backbone=dict(
        depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(decoder=_base_.codec))
