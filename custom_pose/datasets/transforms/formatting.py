# Copyright (c) custom_pose contributors. All rights reserved.
"""Packing and collating top-down samples whose augmentation runs on the
model's device (see
:class:`~custom_pose.models.data_preprocessors.CustomPoseTopdownDataPreprocessor`).
"""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.registry import FUNCTIONS

from mmpose.registry import TRANSFORMS
from mmpose.structures import PoseDataSample

#: dataset metainfo every sample of a batch must share
SHARED_META_KEYS = ('flip_indices', 'upper_body_ids', 'lower_body_ids')


@TRANSFORMS.register_module()
class CustomPosePackRawPoseInputs(BaseTransform):
    """Pack a decoded image with its box and keypoints, untransformed.

    The last transform of a training pipeline whose augmentation runs on
    the device: ``[CustomPoseLoadImage, GetBBoxCenterScale,
    CustomPosePackRawPoseInputs]``. Collate with
    :func:`custom_pose_topdown_collate`.

    Required keys: ``img`` (HWC or HW uint8, or None when the device image
    cache has it), ``bbox_center``/``bbox_scale`` (1, 2), ``keypoints``
    (1, K, 2), ``keypoints_visible`` (1, K), ``flip_indices``,
    ``upper_body_ids``, ``lower_body_ids``.

    Returns a dict with ``inputs`` (the image or None), ``data_samples`` (a
    ``PoseDataSample`` with the ``meta_keys`` as metainfo) and
    ``raw_annotations`` (the arrays above, one instance).

    Args:
        meta_keys (Sequence[str]): Keys packed into the data sample's
            metainfo. Defaults to ``('id', 'img_id', 'img_path',
            'category_id', 'ori_shape', 'img_shape', 'dataset_name')``.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('id', 'img_id', 'img_path',
                                             'category_id', 'ori_shape',
                                             'img_shape', 'dataset_name')
                 ) -> None:
        super().__init__()
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        center = np.asarray(results['bbox_center'], dtype=np.float32)
        if center.shape != (1, 2):
            raise ValueError(
                'CustomPosePackRawPoseInputs packs one instance per sample '
                f"(top-down), got bbox_center of shape {center.shape} for "
                f"{results.get('img_path')}")
        visible = np.asarray(results['keypoints_visible'], dtype=np.float32)
        if visible.ndim != 2:
            raise ValueError(
                'keypoints_visible must have shape (1, K), got '
                f'{visible.shape}; visibility weights (1, K, 2) are not '
                'supported by the device pipeline')
        raw = dict(
            bbox_center=center[0],
            bbox_scale=np.asarray(results['bbox_scale'],
                                  dtype=np.float32)[0],
            keypoints=np.asarray(results['keypoints'], dtype=np.float32)[0],
            keypoints_visible=visible[0],
            cache_slot=int(results.get('cache_slot', -1)),
            dataset_keypoint_weights=results.get('dataset_keypoint_weights'))
        for key in SHARED_META_KEYS:
            raw[key] = list(results[key])
        data_sample = PoseDataSample(
            metainfo={k: results[k]
                      for k in self.meta_keys if k in results})
        return dict(
            inputs=results.get('img'),
            data_samples=data_sample,
            raw_annotations=raw)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'


@FUNCTIONS.register_module()
def custom_pose_topdown_collate(data_batch: Sequence[dict]) -> dict:
    """Collate samples of :class:`CustomPosePackRawPoseInputs` for the
    device pipeline.

    Runs in the data-loader workers. The loaded images become ONE flat
    ``(P, C)`` uint8 pixel buffer (one copy to the device per batch,
    pinned with ``pin_memory=True``), the annotations batched tensors.

    Args:
        data_batch (Sequence[dict]): Packed samples.

    Returns:
        dict: ``inputs``: ``img`` (P, C) uint8, ``img_offset`` (B,) first
        pixel of each image (-1: not loaded, the device cache has it),
        ``img_shape`` (B, 2) (h, w), ``cache_slot`` (B,), ``bbox_center``,
        ``bbox_scale`` (B, 2), ``keypoints`` (B, K, 2),
        ``keypoints_visible`` (B, K), ``flip_indices`` (K,),
        ``upper_body_ids``, ``lower_body_ids`` and, when the dataset has
        them, ``dataset_keypoint_weights`` (K,); ``data_samples``: the list
        of ``PoseDataSample``.
    """
    if not data_batch or 'raw_annotations' not in data_batch[0]:
        raise ValueError(
            'custom_pose_topdown_collate collates samples packed by '
            'CustomPosePackRawPoseInputs (the last transform of the '
            'training pipeline)')
    anns = [sample['raw_annotations'] for sample in data_batch]
    first = anns[0]
    for key in SHARED_META_KEYS:
        for ann in anns[1:]:
            if ann[key] != first[key]:
                raise ValueError(
                    f'samples of one batch have different {key}; the device '
                    'pipeline needs one keypoint definition per batch')
    pixels, offsets, sizes = [], [], []
    next_offset = 0
    channels = None
    for sample in data_batch:
        img = sample['inputs']
        if img is None:
            offsets.append(-1)
            sizes.append((0, 0))
            continue
        img = np.ascontiguousarray(img)
        c = 1 if img.ndim == 2 else img.shape[2]
        if img.dtype != np.uint8 or channels not in (None, c):
            raise ValueError(
                'the device pipeline needs uint8 images with one channel '
                f'count per batch, got {img.dtype} with {c} channels')
        channels = c
        pixels.append(img.reshape(-1, c))
        offsets.append(next_offset)
        sizes.append(img.shape[:2])
        next_offset += img.shape[0] * img.shape[1]
    img = (torch.from_numpy(np.concatenate(pixels))
           if pixels else torch.zeros((0, 3), dtype=torch.uint8))
    inputs = dict(
        img=img,
        img_offset=torch.tensor(offsets, dtype=torch.int64),
        img_shape=torch.tensor(sizes, dtype=torch.int64).view(-1, 2),
        cache_slot=torch.tensor([a['cache_slot'] for a in anns],
                                dtype=torch.int64))
    for key in ('bbox_center', 'bbox_scale', 'keypoints',
                'keypoints_visible'):
        inputs[key] = torch.from_numpy(np.stack([a[key] for a in anns]))
    for key in SHARED_META_KEYS:
        inputs[key] = torch.tensor(first[key], dtype=torch.int64)
    if first['dataset_keypoint_weights'] is not None:
        inputs['dataset_keypoint_weights'] = torch.as_tensor(
            np.asarray(first['dataset_keypoint_weights'], dtype=np.float32))
    return dict(
        inputs=inputs,
        data_samples=[sample['data_samples'] for sample in data_batch])
