# Copyright (c) custom_pose contributors. All rights reserved.
"""Data-pipeline transforms of the device-side training path: the workers
load and pack; the model's data preprocessor augments."""
from .formatting import CustomPosePackRawPoseInputs, custom_pose_topdown_collate
from .loading import CustomPoseLoadImage, ImageLoadError

__all__ = [
    'CustomPoseLoadImage', 'ImageLoadError', 'CustomPosePackRawPoseInputs',
    'custom_pose_topdown_collate'
]
