# Your own animals: Stacked Hourglass, 2 stacks, intermediate supervision,
# 256x256, trained from scratch. The backbone ends in the heatmaps, so its
# out_channels is the dataset's number of keypoints.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/custom_keypoints.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/hourglass.py',
]

model = dict(
    backbone=dict(out_channels=_base_.num_keypoints),
    head=dict(decoder=_base_.codec))
