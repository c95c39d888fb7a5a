# mmpose's HRNet-W32 backbone and heatmap head on our original-format
# Animal-Pose dataset, trained from scratch (see the fragment for the
# ImageNet initialisation).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/org_animalpose.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/hrnet_w32.py',
]

model = dict(head=dict(decoder=_base_.codec))
