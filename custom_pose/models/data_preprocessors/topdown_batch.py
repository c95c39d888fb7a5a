# Copyright (c) custom_pose contributors. All rights reserved.
"""The state that the device-side top-down transforms pass along, and the
bilinear sampler that crops from images of different sizes.

Images of a batch differ in size. Instead of padding them to a common canvas
(wasted memory and work for every large image, and a padded region that is
not cv2's black border), they travel as ONE flat buffer of pixels, ``(P, C)``
uint8 rows in the decoded HWC (BGR) order, with each image's first-pixel
offset and ``(h, w)``. The workers concatenate the buffer in the collate (one
pinned host-to-device copy per batch), the device image cache is the same
kind of buffer, and :func:`sample_bilinear` gathers every output pixel of
every crop with four index lookups, whatever the source sizes (on the CPU,
where a fused kernel per image is faster, it calls ``F.grid_sample`` per
image).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class PackedImages:
    """Images of different sizes in one flat pixel buffer.

    Attributes:
        pixels (Tensor): ``(P, C)`` uint8, the images' rows one after the
            other (HWC order, as decoded).
        offsets (Tensor): ``(B,)`` int64, index of each image's first pixel
            in ``pixels``.
        sizes (Tensor): ``(B, 2)`` int64, each image's ``(h, w)``.
        host_offsets (np.ndarray, optional): ``offsets`` in host memory.
        host_sizes (np.ndarray, optional): ``sizes`` in host memory (the
            per-image sampler reads them without a device sync).
    """

    pixels: Tensor
    offsets: Tensor
    sizes: Tensor
    host_offsets: Optional[np.ndarray] = None
    host_sizes: Optional[np.ndarray] = None

    @property
    def channels(self) -> int:
        return self.pixels.shape[1]


@dataclass
class TopdownBatch:
    """One batch of top-down samples on the model's device.

    The random transforms change the box, the keypoints and the flip state;
    :class:`~.batch_affine.CustomPoseBatchTopdownAffine` then crops
    ``inputs`` and maps the keypoints, and
    :class:`~.batch_targets.CustomPoseBatchGenerateTarget` encodes
    ``heatmaps`` and ``keypoint_weights``. Coordinates are in pixels of the
    original image, pixel centres at integers (mmpose's and OpenCV's
    convention).

    Attributes:
        images (PackedImages): The ``B`` source images.
        bbox_center (Tensor): ``(B, 2)`` box centres (x, y).
        bbox_scale (Tensor): ``(B, 2)`` box sizes (w, h), padding included.
        keypoints (Tensor): ``(B, K, 2)`` keypoints.
        keypoints_visible (Tensor): ``(B, K)`` visibility (0/1).
        flip_indices (Tensor): ``(K,)`` int64, each keypoint's mirror.
        upper_body_ids (Tensor): ``(U,)`` int64 (for the half-body transform).
        lower_body_ids (Tensor): ``(L,)`` int64.
        dataset_keypoint_weights (Tensor, optional): ``(K,)`` per-keypoint
            weights from the dataset's metainfo.
        bbox_rotation (Tensor): ``(B,)`` box rotation in degrees.
        flip_x (Tensor): ``(B,)`` bool, sample the image mirrored left-right
            (the flip transform sets it instead of copying flipped images).
        flip_y (Tensor): ``(B,)`` bool, mirrored top-bottom.
        input_size (tuple[int, int], optional): ``(w, h)`` of the crops.
        warp_matrix (Tensor, optional): ``(B, 2, 3)`` the affine from the
            (flipped) image to the crop, as mmpose's ``get_warp_matrix``.
        inputs (Tensor, optional): ``(B, C, h, w)`` float32 crops in the
            images' intensity range (0-255), channel order as decoded.
        transformed_keypoints (Tensor, optional): ``(B, K, 2)`` keypoints in
            crop pixels.
        heatmaps (Tensor, optional): ``(B, K, H, W)`` float32 targets.
        keypoint_weights (Tensor, optional): ``(B, K)`` float32 weights.
    """

    images: PackedImages
    bbox_center: Tensor
    bbox_scale: Tensor
    keypoints: Tensor
    keypoints_visible: Tensor
    flip_indices: Tensor
    upper_body_ids: Tensor
    lower_body_ids: Tensor
    dataset_keypoint_weights: Optional[Tensor] = None
    bbox_rotation: Optional[Tensor] = None
    flip_x: Optional[Tensor] = None
    flip_y: Optional[Tensor] = None
    input_size: Optional[Tuple[int, int]] = None
    warp_matrix: Optional[Tensor] = None
    inputs: Optional[Tensor] = None
    transformed_keypoints: Optional[Tensor] = None
    heatmaps: Optional[Tensor] = None
    keypoint_weights: Optional[Tensor] = None

    def __post_init__(self) -> None:
        b = self.bbox_center.shape[0]
        device = self.bbox_center.device
        if self.bbox_rotation is None:
            self.bbox_rotation = torch.zeros(b, device=device)
        if self.flip_x is None:
            self.flip_x = torch.zeros(b, dtype=torch.bool, device=device)
        if self.flip_y is None:
            self.flip_y = torch.zeros(b, dtype=torch.bool, device=device)

    @property
    def batch_size(self) -> int:
        return self.bbox_center.shape[0]

    @property
    def device(self) -> torch.device:
        return self.bbox_center.device

    @property
    def image_wh(self) -> Tensor:
        """``(B, 2)`` float32 image (width, height)."""
        return self.images.sizes.flip(-1).to(torch.float32)


def sample_bilinear(images: PackedImages,
                    src_x: Tensor,
                    src_y: Tensor,
                    method: str = 'auto') -> Tensor:
    """Bilinear samples of each image at the given source positions.

    What ``cv2.warpAffine(..., flags=INTER_LINEAR)`` computes with its
    default constant (0) border: a neighbour outside the image counts as 0,
    so crops fade to black at image edges exactly like mmpose's. OpenCV
    rounds positions to 1/32 pixel and the result to uint8; this returns the
    exact float value.

    Two implementations give the same values (to float rounding):
    ``'gather'`` looks up the four neighbours of every output pixel of the
    whole batch in the flat pixel buffer (a fixed number of kernels whatever
    the batch size: the GPU path); ``'grid_sample'`` calls
    ``F.grid_sample`` image by image (fused, several times faster on the
    CPU). ``'auto'`` picks ``'gather'`` on CUDA, ``'grid_sample'`` elsewhere.

    Args:
        images (PackedImages): ``B`` images.
        src_x (Tensor): ``(B, H, W)`` float32 source x per output pixel.
        src_y (Tensor): ``(B, H, W)`` float32 source y per output pixel.
        method (str): ``'auto'``, ``'gather'`` or ``'grid_sample'``.

    Returns:
        Tensor: ``(B, C, H, W)`` float32 (contiguous).
    """
    if method == 'auto':
        method = 'gather' if images.pixels.is_cuda else 'grid_sample'
    if method == 'gather':
        return _sample_by_gather(images, src_x, src_y)
    if method == 'grid_sample':
        return _sample_by_grid_sample(images, src_x, src_y)
    raise ValueError(f"method must be 'auto', 'gather' or 'grid_sample', "
                     f'got {method!r}')


def _sample_by_gather(images: PackedImages, src_x: Tensor,
                      src_y: Tensor) -> Tensor:
    b, h_out, w_out = src_x.shape
    # int32 index math (half the memory traffic of int64) while it fits
    itype = torch.int32 if images.pixels.shape[0] < 2**31 else torch.int64
    h = images.sizes[:, 0].view(b, 1, 1).to(itype)
    w = images.sizes[:, 1].view(b, 1, 1).to(itype)
    base = images.offsets.view(b, 1, 1).to(itype)
    # beyond [-1, size] every neighbour is outside: clamp before the cast
    x = torch.minimum(src_x.clamp(min=-1.0), w.to(src_x.dtype))
    y = torch.minimum(src_y.clamp(min=-1.0), h.to(src_y.dtype))
    x0f = x.floor()
    y0f = y.floor()
    fx = x - x0f
    fy = y - y0f
    x0 = x0f.to(itype)
    y0 = y0f.to(itype)
    # neighbour weights, 0 for neighbours outside the image (x0 >= -1)
    wx0 = (1 - fx).mul_((x0 >= 0) & (x0 < w))[..., None]
    wx1 = fx.mul_(x0 < w - 1)[..., None]
    wy0 = (1 - fy).mul_((y0 >= 0) & (y0 < h))[..., None]
    wy1 = fy.mul_(y0 < h - 1)[..., None]
    # clamped (always valid) indices of the four neighbours
    col0 = x0.clamp(min=0).minimum(w - 1)
    col1 = (x0 + 1).minimum(w - 1)
    row0 = y0.clamp(min=0).minimum(h - 1).mul_(w).add_(base)
    row1 = (y0 + 1).minimum(h - 1).mul_(w).add_(base)
    pixels = images.pixels

    def at(row: Tensor, col: Tensor) -> Tensor:
        return pixels.index_select(0, (row + col).view(-1)).view(
            b, h_out, w_out, -1).to(torch.float32)

    top = at(row0, col0).mul_(wx0).add_(at(row0, col1).mul_(wx1))
    bottom = at(row1, col0).mul_(wx0).add_(at(row1, col1).mul_(wx1))
    out = top.mul_(wy0).add_(bottom.mul_(wy1))
    return out.permute(0, 3, 1, 2).contiguous()


def _sample_by_grid_sample(images: PackedImages, src_x: Tensor,
                           src_y: Tensor) -> Tensor:
    b = src_x.shape[0]
    sizes = images.host_sizes
    offsets = images.host_offsets
    if sizes is None or offsets is None:
        sizes = images.sizes.tolist()
        offsets = images.offsets.tolist()
    wh = images.sizes.flip(-1).to(src_x.dtype).view(b, 1, 1, 2)
    # pixel centres -> grid_sample's [-1, 1] (align_corners=False)
    grid = (2 * torch.stack([src_x, src_y], dim=-1) + 1) / wh - 1
    crops = []
    for i in range(b):
        (h, w), start = sizes[i], int(offsets[i])
        image = images.pixels[start:start + int(h) * int(w)].view(
            1, int(h), int(w), -1).permute(0, 3, 1, 2).to(torch.float32)
        crops.append(
            F.grid_sample(image, grid[i:i + 1], mode='bilinear',
                          padding_mode='zeros', align_corners=False))
    return torch.cat(crops)
