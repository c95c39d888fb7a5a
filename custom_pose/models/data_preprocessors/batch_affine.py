# Copyright (c) custom_pose contributors. All rights reserved.
"""mmpose 1.3's ``TopdownAffine`` vectorised over a batch on the model's
device: the box is brought to the input aspect ratio, the warp matrix is
mmpose's ``get_warp_matrix`` (or ``get_udp_warp_matrix``) in closed form, the
keypoints are mapped with it, and the crop is sampled bilinearly from the
(possibly mirrored) source image."""
from typing import Sequence, Tuple

import torch
from torch import Tensor, nn

from mmpose.registry import MODELS
from .topdown_batch import TopdownBatch, sample_bilinear


def fix_aspect_ratio(bbox_scale: Tensor, aspect_ratio: float) -> Tensor:
    """Grow the (B, 2) box sizes (w, h) to ``w / h == aspect_ratio`` (as
    ``TopdownAffine._fix_aspect_ratio``)."""
    w, h = bbox_scale.unbind(-1)
    wide = w > h * aspect_ratio
    return torch.stack([
        torch.where(wide, w, h * aspect_ratio),
        torch.where(wide, w / aspect_ratio, h)
    ], dim=-1)


def warp_matrices(center: Tensor,
                  scale: Tensor,
                  rotation: Tensor,
                  output_size: Tuple[int, int],
                  use_udp: bool = False) -> Tensor:
    """mmpose's top-down warp matrices for a batch, in closed form.

    ``get_warp_matrix(center, scale, rot, output_size)`` (with its default
    ``fix_aspect_ratio=True``) is the similarity that sends the box centre to
    the crop centre, scales by ``output_w / scale_w`` and rotates by
    ``-rot``; ``get_udp_warp_matrix`` scales by ``(output - 1) / scale`` per
    axis and rotates by ``+rot`` about the image centre ``center``.

    Args:
        center (Tensor): (B, 2) box centres.
        scale (Tensor): (B, 2) box sizes (w, h).
        rotation (Tensor): (B,) degrees.
        output_size (tuple[int, int]): Crop (w, h).
        use_udp (bool): UDP's matrix. Defaults to False.

    Returns:
        Tensor: (B, 2, 3) matrices mapping image pixels to crop pixels.
    """
    out_w, out_h = output_size
    theta = torch.deg2rad(rotation)
    cos, sin = torch.cos(theta), torch.sin(theta)
    cx, cy = center.unbind(-1)
    sw, sh = scale.unbind(-1)
    if use_udp:
        sx = (out_w - 1) / sw
        sy = (out_h - 1) / sh
        row0 = [cos * sx, -sin * sx,
                sx * (-cx * cos + cy * sin + 0.5 * sw)]
        row1 = [sin * sy, cos * sy,
                sy * (-cx * sin - cy * cos + 0.5 * sh)]
    else:
        s = out_w / sw
        a, b = cos * s, sin * s  # s * R(-rot) = [[a, b], [-b, a]]
        row0 = [a, b, 0.5 * out_w - (a * cx + b * cy)]
        row1 = [-b, a, 0.5 * out_h - (-b * cx + a * cy)]
    return torch.stack(
        [torch.stack(row0, dim=-1),
         torch.stack(row1, dim=-1)], dim=-2)


def transform_points(matrix: Tensor, points: Tensor) -> Tensor:
    """Apply (B, 2, 3) affine matrices to (B, N, 2) points (elementwise,
    so that autocast never runs it in reduced precision)."""
    x, y = points.unbind(-1)
    m = matrix[:, None]  # (B, 1, 2, 3)
    return torch.stack([
        m[..., 0, 0] * x + m[..., 0, 1] * y + m[..., 0, 2],
        m[..., 1, 0] * x + m[..., 1, 1] * y + m[..., 1, 2]
    ], dim=-1)


def invert_affine(matrix: Tensor) -> Tensor:
    """Inverse of (B, 2, 3) affine matrices."""
    a, b, tx = matrix[:, 0].unbind(-1)
    c, d, ty = matrix[:, 1].unbind(-1)
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return torch.stack([
        torch.stack([ia, ib, -(ia * tx + ib * ty)], dim=-1),
        torch.stack([ic, id_, -(ic * tx + id_ * ty)], dim=-1)
    ], dim=-2)


@MODELS.register_module()
class CustomPoseBatchTopdownAffine(nn.Module):
    """mmpose's ``TopdownAffine`` for a :class:`TopdownBatch`.

    Sets ``bbox_scale`` to the input aspect ratio, ``warp_matrix``,
    ``transformed_keypoints`` and the crops ``inputs`` (B, C, h, w), sampled
    bilinearly with a black border as ``cv2.warpAffine`` does. A flip chosen
    earlier is folded into the sampling positions.

    Args:
        input_size (tuple[int, int]): Crop size (w, h).
        use_udp (bool): Unbiased data processing (UDP) matrices. Defaults to
            False.
        sampler (str): How crops are sampled (see :func:`sample_bilinear`):
            ``'auto'`` (default), ``'gather'`` or ``'grid_sample'``.
    """

    def __init__(self,
                 input_size: Sequence[int],
                 use_udp: bool = False,
                 sampler: str = 'auto') -> None:
        super().__init__()
        if (len(input_size) != 2
                or not all(isinstance(v, int) and v > 0 for v in input_size)):
            raise ValueError('input_size must be two positive ints (w, h), '
                             f'got {input_size!r}')
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_udp = use_udp
        if sampler not in ('auto', 'gather', 'grid_sample'):
            raise ValueError("sampler must be 'auto', 'gather' or "
                             f"'grid_sample', got {sampler!r}")
        self.sampler = sampler

    def forward(self, batch: TopdownBatch, generator=None) -> TopdownBatch:
        w, h = self.input_size
        batch.bbox_scale = fix_aspect_ratio(batch.bbox_scale, w / h)
        matrix = warp_matrices(batch.bbox_center, batch.bbox_scale,
                               batch.bbox_rotation, self.input_size,
                               self.use_udp)
        batch.warp_matrix = matrix
        batch.transformed_keypoints = transform_points(matrix,
                                                       batch.keypoints)
        batch.input_size = self.input_size
        batch.inputs = self.crop(batch, matrix)
        return batch

    def crop(self, batch: TopdownBatch, matrix: Tensor) -> Tensor:
        """(B, C, h, w) float crops: the source position of crop pixel
        (u, v) is ``matrix^-1 (u, v)``, mirrored where the sample is
        flipped."""
        w, h = self.input_size
        inv = invert_affine(matrix)[:, :, None, None, :]  # (B, 2, 1, 1, 3)
        u = torch.arange(w, device=batch.device, dtype=inv.dtype)
        v = torch.arange(h, device=batch.device, dtype=inv.dtype)[:, None]
        src_x = inv[:, 0, ..., 0] * u + inv[:, 0, ..., 1] * v + inv[:, 0, ..., 2]
        src_y = inv[:, 1, ..., 0] * u + inv[:, 1, ..., 1] * v + inv[:, 1, ..., 2]
        last = (batch.image_wh - 1)[:, :, None, None]  # (B, 2, 1, 1)
        src_x = torch.where(batch.flip_x[:, None, None], last[:, 0] - src_x,
                            src_x)
        src_y = torch.where(batch.flip_y[:, None, None], last[:, 1] - src_y,
                            src_y)
        return sample_bilinear(batch.images, src_x, src_y, self.sampler)
