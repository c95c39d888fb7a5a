# Animal-Pose (Cao et al., ICCV 2019) read in its original release format by
# custom_pose's `org_animal_pose_dataset`: <data_root>/keypoints.json and the
# images under <data_root>/images/.  The release has no official split; train
# and val are a deterministic seeded split of the images, with the dataset's
# default split_ratio (DEFAULT_SPLIT_RATIO in
# custom_pose/datasets/animalpose_format.py, the tools' default too) and
# split_seed 0; set them in train_dataloader.dataset / val_dataloader.dataset.
#
# No real data at hand? `make data` (or tools/make_synthetic_animalpose.py)
# writes a synthetic dataset in the same format.

# codec: 256x256 input -> 64x64 heatmaps with sigma 2 (SimpleBaseline)
codec = dict(
    type='MSRAHeatmap', input_size=(256, 256), heatmap_size=(64, 64), sigma=2)

dataset_type = 'org_animal_pose_dataset'
data_mode = 'topdown'
data_root = 'data/animalpose/'

# pipelines: the augmentation mmpose uses for Animal-Pose; CustomPoseLoadImage
# is mmpose's LoadImage naming an image file that does not load (set
# skip_undecodable=True in train_dataloader.dataset to skip such samples)
train_pipeline = [
    dict(type='CustomPoseLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
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

# data loaders
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='keypoints.json',
        data_prefix=dict(img='images/'),
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
        data_mode=data_mode,
        ann_file='keypoints.json',
        data_prefix=dict(img='images/'),
        split='val',
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators: COCO keypoint AP/AR (ground truth comes from the dataset itself,
# no separate COCO file) and PCK@{0.05,0.1,0.2} of the bbox size with EPE
val_evaluator = [
    dict(type='CocoMetric'),
    dict(type='CustomPosePCKMetric'),
]
test_evaluator = val_evaluator
