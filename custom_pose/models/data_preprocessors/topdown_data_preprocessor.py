# Copyright (c) custom_pose contributors. All rights reserved.
"""A data preprocessor that runs mmpose's top-down training augmentation and
target encoding on the model's device, batched."""
from typing import List, Optional, Sequence, Union

import torch
from mmengine.dist import get_rank
from mmengine.structures import InstanceData, PixelData
from torch import Tensor, nn

from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS
from .batch_affine import CustomPoseBatchTopdownAffine
from .batch_targets import CustomPoseBatchGenerateTarget
from .image_cache import DeviceImageCache
from .topdown_batch import PackedImages, TopdownBatch

#: what the collated training batch must carry (see
#: custom_pose.datasets.transforms.custom_pose_topdown_collate)
RAW_BATCH_KEYS = ('img', 'img_offset', 'img_shape', 'cache_slot',
                  'bbox_center', 'bbox_scale', 'keypoints',
                  'keypoints_visible', 'flip_indices', 'upper_body_ids',
                  'lower_body_ids')


@MODELS.register_module()
class CustomPoseTopdownDataPreprocessor(PoseDataPreprocessor):
    """``PoseDataPreprocessor`` whose training batches are augmented and
    encoded on the model's device.

    In training, the data-loader workers only decode the images
    (:class:`~custom_pose.datasets.transforms.CustomPosePackRawPoseInputs`
    and the ``custom_pose_topdown_collate`` collate function): the batch
    arrives as one flat pixel buffer plus the boxes and keypoints, is copied
    to the device (``non_blocking``; pinned when the data loader has
    ``pin_memory=True``), and ``topdown_transforms`` -- the batched
    counterparts of mmpose's ``RandomFlip``, ``RandomHalfBody``,
    ``RandomBBoxTransform``, ``TopdownAffine`` and ``GenerateTarget`` --
    produce the crops and the targets. The crops are then converted and
    normalised as ``PoseDataPreprocessor`` does, and ``batch_augments``
    (mmpose's idiom) apply to them. Validation and test batches (crops made
    by the CPU pipeline) take ``PoseDataPreprocessor``'s path unchanged.

    Args:
        topdown_transforms (list[dict]): Configs of the device transforms,
            in order, e.g. ``CustomPoseBatchRandomFlip``,
            ``CustomPoseBatchRandomHalfBody``,
            ``CustomPoseBatchRandomBBoxTransform``,
            ``CustomPoseBatchTopdownAffine`` and
            ``CustomPoseBatchGenerateTarget`` (the last two required, in
            this order, at the end).
        mean, std, pad_size_divisor, pad_value, bgr_to_rgb, rgb_to_bgr,
            batch_augments: As :class:`PoseDataPreprocessor`.
        non_blocking (bool): Asynchronous host-to-device copies. Defaults
            to True.
        seed (int, optional): Seed of the device random generator; by
            default torch's initial seed (mmengine's ``randomness.seed``)
            plus the process rank, so that ranks draw different
            augmentations.
    """

    def __init__(self,
                 topdown_transforms: Sequence[dict],
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 pad_size_divisor: int = 1,
                 pad_value: Union[float, int] = 0,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 non_blocking: bool = True,
                 batch_augments: Optional[List[dict]] = None,
                 seed: Optional[int] = None) -> None:
        super().__init__(
            mean=mean,
            std=std,
            pad_size_divisor=pad_size_divisor,
            pad_value=pad_value,
            bgr_to_rgb=bgr_to_rgb,
            rgb_to_bgr=rgb_to_bgr,
            non_blocking=non_blocking,
            batch_augments=batch_augments)
        self.topdown_transforms = nn.ModuleList(
            [MODELS.build(t) for t in topdown_transforms])
        self._check_transforms()
        self.seed = seed
        self._generator: Optional[torch.Generator] = None
        self._generator_device: Optional[torch.device] = None
        #: set by CustomPoseDeviceImageCacheHook
        self.image_cache: Optional[DeviceImageCache] = None

    def _check_transforms(self) -> None:
        types = [type(t) for t in self.topdown_transforms]
        if types[-2:] != [CustomPoseBatchTopdownAffine,
                          CustomPoseBatchGenerateTarget]:
            names = [t.__name__ for t in types]
            raise ValueError(
                'topdown_transforms must end with CustomPoseBatchTopdownAffine'
                f' then CustomPoseBatchGenerateTarget, got {names}')
        for t in types[:-2]:
            if t in (CustomPoseBatchTopdownAffine,
                     CustomPoseBatchGenerateTarget):
                raise ValueError(f'{t.__name__} may appear only once, at the '
                                 'end of topdown_transforms')

    @property
    def generator(self) -> torch.Generator:
        """The device random generator (created on first use)."""
        if self._generator is None or self._generator_device != self.device:
            seed = torch.initial_seed() if self.seed is None else self.seed
            self._generator = torch.Generator(device=self.device)
            self._generator.manual_seed((seed + 1_000_003 * get_rank())
                                        % (2**63))
            self._generator_device = self.device
        return self._generator

    def forward(self, data: dict, training: bool = False) -> dict:
        """Crops, targets and normalisation for a raw training batch;
        ``PoseDataPreprocessor.forward`` for anything else.

        Args:
            data (dict): From the data loader: ``inputs`` (a dict of
                :data:`RAW_BATCH_KEYS` tensors for raw training batches) and
                ``data_samples``.
            training (bool): Whether this is a training step.

        Returns:
            dict: ``inputs`` (B, C, h, w) normalised crops and
            ``data_samples`` with ``gt_fields.heatmaps`` (K, H, W) and
            ``gt_instance_labels.keypoint_weights`` (1, K).
        """
        raw = data.get('inputs')
        if not isinstance(raw, dict):
            if 'raw_annotations' in data:
                raise ValueError(
                    'the training batch holds raw samples of '
                    'CustomPosePackRawPoseInputs that were not collated: set '
                    "train_dataloader.collate_fn=dict(type='custom_pose_"
                    "topdown_collate')")
            return super().forward(data, training)
        if not training:
            raise ValueError(
                'raw top-down batches (custom_pose_topdown_collate) are for '
                'training; the val/test pipeline must crop on the CPU '
                '(TopdownAffine + PackPoseInputs)')
        missing = [k for k in RAW_BATCH_KEYS if k not in raw]
        if missing:
            raise ValueError(f'the raw training batch lacks {missing}; '
                             'build it with custom_pose_topdown_collate')
        batch = self.make_batch(raw)
        with torch.autocast(device_type=self.device.type, enabled=False):
            batch = self.run_transforms(batch)
            inputs = self.normalize(batch.inputs)
        data_samples = attach_targets(data['data_samples'], batch)
        if self.batch_augments is not None:
            for batch_aug in self.batch_augments:
                inputs, data_samples = batch_aug(inputs, data_samples)
        return {'inputs': inputs, 'data_samples': data_samples}

    def make_batch(self, raw: dict) -> TopdownBatch:
        """Copy a collated raw batch to the device as a
        :class:`TopdownBatch` (images from the device cache where it has
        them)."""
        dev = self.cast_data(raw)
        # the data loader's tensors are in host memory: reading them there
        # costs no device sync
        images = PackedImages(dev['img'], dev['img_offset'], dev['img_shape'],
                              host_offsets=raw['img_offset'].numpy(),
                              host_sizes=raw['img_shape'].numpy())
        if self.image_cache is not None:
            images = self.image_cache.images_for_batch(
                raw['cache_slot'].numpy(), images.host_offsets,
                images.host_sizes, images, dev['cache_slot'])
        elif (raw['img_offset'].numpy() < 0).any():  # host data, no sync
            raise ValueError('a sample came without its image, but this '
                             'preprocessor has no device image cache')
        return TopdownBatch(
            images=images,
            bbox_center=dev['bbox_center'],
            bbox_scale=dev['bbox_scale'],
            keypoints=dev['keypoints'],
            keypoints_visible=dev['keypoints_visible'],
            flip_indices=dev['flip_indices'],
            upper_body_ids=dev['upper_body_ids'],
            lower_body_ids=dev['lower_body_ids'],
            dataset_keypoint_weights=dev.get('dataset_keypoint_weights'))

    def run_transforms(self, batch: TopdownBatch) -> TopdownBatch:
        """Apply ``topdown_transforms`` in order."""
        for transform in self.topdown_transforms:
            batch = transform(batch, generator=self.generator)
        return batch

    def normalize(self, crops: Tensor) -> Tensor:
        """Channel conversion and normalisation of (B, C, h, w) crops, as
        ``ImgDataPreprocessor`` does for images."""
        if self._channel_conversion and crops.shape[1] == 3:
            crops = crops.flip(1)  # BGR <-> RGB (no index tensor to copy)
        if self._enable_normalize:
            crops = (crops - self.mean) / self.std
        return crops


def attach_targets(data_samples: list, batch: TopdownBatch) -> list:
    """Give each data sample its heatmaps (K, H, W) and keypoint weights
    (1, K) (views of the batch tensors, as mmpose's heads read them)."""
    if len(data_samples) != batch.batch_size:
        raise ValueError(f'{len(data_samples)} data samples for a batch of '
                         f'{batch.batch_size}')
    for i, sample in enumerate(data_samples):
        sample.gt_fields = PixelData(heatmaps=batch.heatmaps[i])
        sample.gt_instance_labels = InstanceData(
            keypoint_weights=batch.keypoint_weights[i:i + 1])
    return data_samples
