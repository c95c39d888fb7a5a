# SimpleBaseline ResNet-101 trained with the augmentation on the GPU.
#
# The data-loader workers only decode the images; mmpose's RandomFlip,
# RandomHalfBody, RandomBBoxTransform, TopdownAffine and GenerateTarget run
# batched on the model's device, with the same arguments and random
# distributions. The decoded images stay on the GPU after the first epoch,
# the training step reads nothing back to the host between log lines, and
# the model runs channels-last with cuDNN autotuning (fixed input size).
# On a machine without a GPU the same config trains on the CPU (no image
# cache there).
_base_ = ['./custom_res101_animalpose_256x256.py']

# CPU side: load and pack
train_pipeline = [
    dict(type='CustomPoseLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='CustomPosePackRawPoseInputs'),
]
train_dataloader = dict(
    pin_memory=True,
    collate_fn=dict(type='custom_pose_topdown_collate'),
    dataset=dict(pipeline=train_pipeline))

# device side: mmpose's augmentation and target encoding, batched
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

# a training step without host syncs: outputs are read at the log interval
default_hooks = dict(runtime_info=dict(type='CustomPoseRuntimeInfoHook'))
custom_hooks = [
    dict(type='CustomPoseInvalidLossHook', defer_check=True),
    dict(type='SyncBuffersHook'),
    dict(type='CustomPoseDeviceImageCacheHook', max_size_gb=8),
    dict(type='CustomPosePinMemoryHook'),  # pinned on a GPU only
]
optim_wrapper = dict(optimizer=dict(fused=True))  # one kernel per step
env_cfg = dict(cudnn_benchmark=True)
# opt-in: torch.compile the training step (--cfg-options compile=True)
compile = False
