# Runtime shared by every custom_pose config.
# `import custom_pose` registers our models, dataset, metric and hooks into
# mmpose's registries; mmengine imports it when it reads this config, from
# any working directory (custom_pose is installed into the environment).
custom_imports = dict(imports=['custom_pose'], allow_failed_imports=False)

default_scope = 'mmpose'

# custom_pose's Runner: strict checkpoint loading, atomic checkpoint saving,
# --resume falls back to the newest readable checkpoint, one training per
# work dir (custom_pose/engine/runner.py)
runner_type = 'CustomPoseRunner'

# hooks
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # keep the latest checkpoint and the one with the best COCO AP (the
    # datasets' val_evaluator); superseded ones are removed only after the
    # new one is complete
    checkpoint=dict(
        type='CustomPoseCheckpointHook',
        interval=10,
        max_keep_ckpts=1,
        save_best='coco/AP',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False))

custom_hooks = [
    # before the first step: the model predicts exactly the datasets'
    # keypoints (else one error naming both counts)
    dict(type='CustomPoseKeypointCheckHook'),
    # stop at the first NaN/inf loss, naming the iteration, before a broken
    # checkpoint can be written
    dict(type='CustomPoseInvalidLossHook'),
    # synchronise BN buffers across processes at the end of each epoch
    dict(type='SyncBuffersHook'),
]

# multi-processing backend; tools/train.py picks gloo when there is no GPU
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# visualizer
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')

# logger
log_processor = dict(
    type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False

# file I/O backend
backend_args = dict(backend='local')

# validation/testing loops (train_cfg comes with the schedule)
val_cfg = dict()
test_cfg = dict()
