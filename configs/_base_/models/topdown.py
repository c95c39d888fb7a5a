# mmpose's top-down estimator with ImageNet normalisation and flip testing;
# the backbone and head come from the fragment that inherits this one.
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))
