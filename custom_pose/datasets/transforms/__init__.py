# Copyright (c) custom_pose contributors. All rights reserved.
"""Data-pipeline transforms of the device-side training path: the workers
load and pack; the model's data preprocessor augments."""
from .formatting import CustomPosePackRawPoseInputs, custom_pose_topdown_collate
from .loading import CustomPoseLoadImage

__all__ = [
    'CustomPoseLoadImage', 'CustomPosePackRawPoseInputs',
    'custom_pose_topdown_collate'
]
