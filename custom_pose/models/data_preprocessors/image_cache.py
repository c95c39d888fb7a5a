# Copyright (c) custom_pose contributors. All rights reserved.
"""Decoded training images kept on the model's device.

The first time an image reaches the data preprocessor it is copied into one
growing device buffer of pixels, and its slot is flagged in a host tensor in
shared memory that the data-loader workers read
(:class:`~custom_pose.datasets.transforms.CustomPoseLoadImage`): from then on
the workers send only the sample's annotation, and the crop is sampled from
the cache. Once every image is in (the second epoch), no image is read,
decoded or copied to the device again.

:class:`~custom_pose.engine.hooks.CustomPoseDeviceImageCacheHook` creates the
cache and the flags and attaches them to both sides.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .topdown_batch import PackedImages


class DeviceImageCache:
    """A pixel buffer on ``device`` holding decoded images by slot.

    Args:
        cached_flags (Tensor): ``(N,)`` uint8 CPU tensor in shared memory,
            one flag per image slot, set here once the slot's image is in the
            cache (the workers stop loading it).
        max_bytes (int): Most bytes of pixels to keep; images that do not fit
            any more keep being loaded by the workers.
        device (torch.device | str): Where the buffer lives.
    """

    def __init__(self, cached_flags: Tensor, max_bytes: int,
                 device) -> None:
        if cached_flags.dtype != torch.uint8 or cached_flags.dim() != 1:
            raise ValueError('cached_flags must be a 1-D uint8 tensor')
        self.cached_flags = cached_flags
        # written through numpy: a host write, not a torch op on the step
        self._flags = cached_flags.numpy()
        self.max_bytes = int(max_bytes)
        self.device = torch.device(device)
        num_slots = cached_flags.numel()
        # host copy of the slot table: first pixel, h, w (-1: not cached)
        self._host_offset = np.full(num_slots, -1, dtype=np.int64)
        self._host_size = np.zeros((num_slots, 2), dtype=np.int64)
        # the same table on the device, read by index without a host sync
        self._table = torch.full((num_slots, 3), -1, dtype=torch.int64,
                                 device=self.device)
        self._buffer: Optional[Tensor] = None
        self.used_pixels = 0

    @property
    def num_cached(self) -> int:
        return int((self._host_offset >= 0).sum())

    @property
    def nbytes(self) -> int:
        """Bytes of pixels held."""
        channels = 0 if self._buffer is None else self._buffer.shape[1]
        return self.used_pixels * channels

    def _reserve(self, num_pixels: int, channels: int) -> bool:
        """Make room for ``num_pixels`` more; False when over ``max_bytes``."""
        needed = self.used_pixels + num_pixels
        if needed * channels > self.max_bytes:
            return False
        if self._buffer is None:
            self._buffer = torch.empty((0, channels), dtype=torch.uint8,
                                       device=self.device)
        elif self._buffer.shape[1] != channels:
            raise ValueError(
                f'the image cache holds {self._buffer.shape[1]}-channel '
                f'images, got {channels} channels')
        capacity = self._buffer.shape[0]
        if needed > capacity:
            # grow geometrically (amortised copies), within max_bytes
            new_capacity = min(self.max_bytes // channels,
                               max(needed, 2 * capacity, 1 << 20))
            grown = torch.empty((new_capacity, channels), dtype=torch.uint8,
                                device=self.device)
            grown[:self.used_pixels] = self._buffer[:self.used_pixels]
            self._buffer = grown
        return True

    def images_for_batch(self, slots: np.ndarray, host_offsets: np.ndarray,
                         host_sizes: np.ndarray,
                         batch_images: PackedImages,
                         device_slots: Tensor) -> PackedImages:
        """Insert the batch's new images and return where to sample from.

        Args:
            slots (np.ndarray): (B,) each sample's slot (-1: not cacheable).
            host_offsets (np.ndarray): (B,) first pixel of each sample's
                image in ``batch_images`` (-1: the worker did not load it).
            host_sizes (np.ndarray): (B, 2) (h, w) of the loaded images.
            batch_images (PackedImages): The batch's own pixels, on device.
            device_slots (Tensor): ``slots`` on the device.

        Returns:
            PackedImages: The cache buffer when it holds every image of the
            batch, else a buffer holding the batch's pixels followed by
            copies of its cached images.
        """
        channels = batch_images.channels
        new_slots = []
        for i, slot in enumerate(slots):
            # a slot twice in the batch is inserted once (then offset >= 0)
            if slot < 0 or host_offsets[i] < 0 or self._host_offset[slot] >= 0:
                continue
            h, w = host_sizes[i]
            n = int(h * w)
            if not self._reserve(n, channels):
                continue
            start = self.used_pixels
            self._buffer[start:start + n] = batch_images.pixels[
                host_offsets[i]:host_offsets[i] + n]
            self._host_offset[slot] = start
            self._host_size[slot] = (h, w)
            # scalar fills of the device table: no host data copied, so no
            # sync (a pageable copy would wait for the GPU)
            for column, value in enumerate((start, int(h), int(w))):
                self._table[int(slot), column] = value
            self.used_pixels += n
            new_slots.append(slot)
        if new_slots:
            self._flags[new_slots] = 1

        in_cache = (slots >= 0) & (self._host_offset[np.maximum(slots, 0)]
                                   >= 0)
        if in_cache.all():
            rows = self._table[device_slots]
            return PackedImages(self._buffer, rows[:, 0], rows[:, 1:],
                                host_offsets=self._host_offset[slots],
                                host_sizes=self._host_size[slots])
        missing = ~in_cache & (host_offsets < 0)
        if missing.any():
            raise RuntimeError(
                'a sample came without its image but the device image cache '
                f'does not hold slot(s) {slots[missing].tolist()}')
        if not in_cache.any():
            return batch_images
        # some images only in the cache (full cache, or loaded before the
        # cache knew them): append copies of those after the batch's pixels
        parts = [batch_images.pixels]
        next_offset = batch_images.pixels.shape[0]
        offsets = batch_images.offsets.clone()
        mixed_offsets = host_offsets.copy()
        mixed_sizes = host_sizes.copy()
        for i in np.flatnonzero(in_cache & (host_offsets < 0)):
            start = int(self._host_offset[slots[i]])
            n = int(np.prod(self._host_size[slots[i]]))
            parts.append(self._buffer[start:start + n])
            offsets[i] = next_offset  # a scalar fill, no transfer
            mixed_offsets[i] = next_offset
            mixed_sizes[i] = self._host_size[slots[i]]
            next_offset += n
        rows = self._table[device_slots.clamp(min=0)]
        from_cache = ((device_slots >= 0) & (rows[:, 0] >= 0)
                      & (batch_images.offsets < 0))
        sizes = torch.where(from_cache[:, None], rows[:, 1:],
                            batch_images.sizes)
        return PackedImages(torch.cat(parts), offsets, sizes,
                            host_offsets=mixed_offsets,
                            host_sizes=mixed_sizes)
