# mmpose's HourglassNet (2 stacks of 3x3 basic blocks, 256 features at
# 64x64 and 128 below) and CPMHead with intermediate supervision, on our
# original-format Animal-Pose dataset. It has about the FLOPs of our 8-stack
# Newell hourglass (28 GFLOPs at 256x256) and trains 1.6-2.5x as fast on
# CPU; it is the benchmark's counterpart of custom_hourglass8 (see the
# README, "Performance"). Trained from scratch.
_base_ = ['./custom_res101_animalpose_256x256.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='HourglassNet',
        num_stacks=2,
        downsample_times=4,
        stage_channels=(256, 128, 128, 128, 128),
        stage_blocks=(1, 1, 1, 1, 1),
        feat_channel=256),
    head=dict(
        _delete_=True,
        type='CPMHead',
        in_channels=256,
        out_channels=20,
        num_stages=2,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=_base_.codec))
