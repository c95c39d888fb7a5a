# Your own animals on a CPU: SimpleBaseline with CustomPoseResNet-18 at
# 128x128, trained from scratch (the quickstart's recipe). Point it at a
# DeepLabCut project:
#   python tools/train.py configs/custom/custom_res18_keypoints_128x128.py \
#       --cfg-options data_root=/path/to/dlc-project
# (SLEAP / COCO: add ann_file=labels.slp / ann_file=keypoints.json.)
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/custom_keypoints.py',
    '../_base_/schedules/adam_210e.py',
    '../_base_/models/simplebaseline_resnet.py',
]

# 128x128 input -> 32x32 heatmaps
codec = dict(
    type='MSRAHeatmap', input_size=(128, 128), heatmap_size=(32, 32), sigma=2)

optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01,
         by_epoch=False),  # warm-up
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200],
         gamma=0.1, by_epoch=True),
]
default_hooks = dict(logger=dict(interval=10))
log_processor = dict(window_size=10)

model = dict(
    backbone=dict(depth=18, init_cfg=None),
    head=dict(
        in_channels=512,
        out_channels=_base_.num_keypoints,
        num_deconv_filters=(128, 128, 128),
        decoder=codec))

train_pipeline = [
    dict(type='CustomPoseLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='CustomPoseLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
