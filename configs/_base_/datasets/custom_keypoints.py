# Your own animals and body parts: a DeepLabCut project, a SLEAP file or a
# COCO keypoint file, read by custom_pose's `CustomPoseKeypointDataset`
# (format by file type). Point the config at it with one key:
#
#   --cfg-options data_root=/path/to/dlc-project            # DeepLabCut
#   --cfg-options data_root=/path/to/dir ann_file=labels.slp  # SLEAP
#   --cfg-options data_root=/path/to/dir ann_file=keypoints.json  # COCO
#
# The keypoint names, skeleton and flip pairs (from left/right names) come
# from the file; `num_keypoints = None` becomes their number when the tools
# load the config, and the model's head follows it. Train and val are a
# seeded split of the labelled images (split_ratio 0.9, split_seed 0; or
# split_file=...). Formats, naming rules, sigmas and box margins:
# docs/custom_data.md.

# codec: 256x256 input -> 64x64 heatmaps with sigma 2 (SimpleBaseline)
codec = dict(
    type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=2)

dataset_type = 'CustomPoseKeypointDataset'
data_mode = 'topdown'
# a DeepLabCut project folder (ann_file ''), or the folder of ann_file
data_root = 'data/my_project/'
# '' (data_root is a DeepLabCut project), config.yaml, a
# CollectedData_*.csv/.h5, a SLEAP .slp/.pkg.slp or a COCO .json
ann_file = ''
# the dataset's number of keypoints (filled in from ann_file)
num_keypoints = None

# pipelines: mmpose's top-down augmentation; the flip swaps the file's
# left/right pairs
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

# data loaders: the same data_root / ann_file for train, val and test
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        data_mode=data_mode,
        split='train',
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=ann_file,
        data_mode=data_mode,
        split='val',
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators: COCO keypoint AP/AR (OKS with the dataset's sigmas), PCK of the
# box size with EPE, and the error in image pixels (DeepLabCut's train/test
# error: px/mean, px/rmse, px/PCK@5/10, per keypoint)
val_evaluator = [
    dict(type='CocoMetric'),
    dict(type='CustomPosePCKMetric'),
    dict(type='CustomPosePixelErrorMetric'),
]
test_evaluator = val_evaluator
