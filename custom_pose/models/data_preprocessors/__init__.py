# Copyright (c) custom_pose contributors. All rights reserved.
"""Top-down training augmentation and target encoding on the model's device.

:class:`CustomPoseTopdownDataPreprocessor` takes batches whose workers only
decoded the images and runs the batched counterparts of mmpose's
``RandomFlip``, ``RandomHalfBody``, ``RandomBBoxTransform``,
``TopdownAffine`` and ``GenerateTarget`` on the model's device.
"""
from .batch_affine import (CustomPoseBatchTopdownAffine, fix_aspect_ratio,
                           transform_points, warp_matrices)
from .batch_random import (BBoxTransformParams, CustomPoseBatchRandomBBoxTransform,
                           CustomPoseBatchRandomFlip,
                           CustomPoseBatchRandomHalfBody, HalfBodyParams,
                           truncated_normal)
from .batch_targets import CustomPoseBatchGenerateTarget, gaussian_heatmaps
from .image_cache import DeviceImageCache
from .topdown_batch import PackedImages, TopdownBatch, sample_bilinear
from .topdown_data_preprocessor import CustomPoseTopdownDataPreprocessor

__all__ = [
    'CustomPoseTopdownDataPreprocessor', 'CustomPoseBatchRandomFlip',
    'CustomPoseBatchRandomHalfBody', 'CustomPoseBatchRandomBBoxTransform',
    'CustomPoseBatchTopdownAffine', 'CustomPoseBatchGenerateTarget',
    'DeviceImageCache', 'PackedImages', 'TopdownBatch', 'HalfBodyParams',
    'BBoxTransformParams', 'sample_bilinear', 'warp_matrices',
    'transform_points', 'fix_aspect_ratio', 'gaussian_heatmaps',
    'truncated_normal'
]
