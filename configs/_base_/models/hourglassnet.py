# mmpose's HourglassNet (2 stacks of 3x3 basic blocks, 256 features at
# 64x64 and 128 below) and CPMHead with intermediate supervision, trained
# from scratch. A config sets the head's decoder (the dataset's codec).
_base_ = ['./topdown.py']

model = dict(
    backbone=dict(
        type='HourglassNet',
        num_stacks=2,
        downsample_times=4,
        stage_channels=(256, 128, 128, 128, 128),
        stage_blocks=(1, 1, 1, 1, 1),
        feat_channel=256),
    head=dict(
        type='CPMHead',
        in_channels=256,
        out_channels=20,
        num_stages=2,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True)))
