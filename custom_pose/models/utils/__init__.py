# Copyright (c) custom_pose contributors. All rights reserved.
"""Model utilities: fast numeric paths for training and inference."""
from .fast_inference import (FAST_PATHS, autocast_context, autocast_forward,
                             compile_model, default_autocast_dtype,
                             fuse_conv_bn, keypoint_deviation,
                             prepare_for_inference, to_channels_last)
from .pck_accuracy import heatmap_argmax, heatmap_pck_accuracy

__all__ = [
    'FAST_PATHS', 'autocast_context', 'autocast_forward', 'compile_model',
    'default_autocast_dtype', 'fuse_conv_bn', 'heatmap_argmax',
    'heatmap_pck_accuracy',
    'keypoint_deviation', 'prepare_for_inference', 'to_channels_last'
]
