# Stacked Hourglass (Newell et al. 2016), 2 stacks, intermediate supervision:
# the loss sums every stack's heatmaps against the same target; inference
# decodes the last stack. Trained from scratch, as in the paper. A config
# sets the head's decoder (the dataset's codec).
_base_ = ['./topdown.py']

model = dict(
    backbone=dict(
        type='CustomPoseHourglass',
        num_stacks=2,
        num_blocks=1,
        feat_channels=256,
        out_channels=20),
    head=dict(
        type='CustomPoseMultiStageHead',
        loss=dict(type='CustomPoseJointsMSELoss', use_target_weight=True)))
