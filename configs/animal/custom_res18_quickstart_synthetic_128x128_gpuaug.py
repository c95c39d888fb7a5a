# The quickstart (ResNet-18, 128x128, synthetic data) with the augmentation
# on the model's device: the same training as the quickstart config, for the
# accuracy comparison of the two input paths (see the res101 _gpuaug config).
_base_ = ['./custom_res18_quickstart_synthetic_128x128.py']

train_pipeline = [
    dict(type='CustomPoseLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='CustomPosePackRawPoseInputs'),
]
train_dataloader = dict(
    pin_memory=True,
    collate_fn=dict(type='custom_pose_topdown_collate'),
    dataset=dict(pipeline=train_pipeline))

model = dict(
    data_preprocessor=dict(
        type='CustomPoseTopdownDataPreprocessor',
        topdown_transforms=[
            dict(type='CustomPoseBatchRandomFlip', direction='horizontal'),
            dict(type='CustomPoseBatchRandomHalfBody'),
            dict(type='CustomPoseBatchRandomBBoxTransform'),
            dict(type='CustomPoseBatchTopdownAffine',
                 input_size=_base_.codec['input_size']),
            dict(type='CustomPoseBatchGenerateTarget', encoder=_base_.codec),
        ]),
    backbone=dict(channels_last=True),
    head=dict(channels_last=True))

default_hooks = dict(runtime_info=dict(type='CustomPoseRuntimeInfoHook'))
custom_hooks = [
    dict(type='CustomPoseInvalidLossHook', defer_check=True),
    dict(type='SyncBuffersHook'),
    dict(type='CustomPoseDeviceImageCacheHook', max_size_gb=8),
    dict(type='CustomPosePinMemoryHook'),  # pinned on a GPU only
]
optim_wrapper = dict(optimizer=dict(fused=True))
env_cfg = dict(cudnn_benchmark=True)
# opt-in: torch.compile the training step (--cfg-options compile=True)
compile = False
