# Copyright (c) custom_pose contributors. All rights reserved.
"""mmpose 1.3's ``GenerateTarget`` for Gaussian heatmap codecs, vectorised
over a batch on the model's device.

Supported encoders, with mmpose's arithmetic (window, centre rounding and
target weights included):

- ``MSRAHeatmap`` (``generate_gaussian_heatmaps``; with ``unbiased=True``
  ``generate_unbiased_gaussian_heatmaps``, DARK);
- ``UDPHeatmap`` with ``heatmap_type='gaussian'``
  (``generate_udp_gaussian_heatmaps``).
"""
import math
from typing import Tuple

import torch
from torch import Tensor, nn

from mmpose.registry import KEYPOINT_CODECS, MODELS
from .topdown_batch import TopdownBatch

SUPPORTED_ENCODERS = ('MSRAHeatmap', 'UDPHeatmap')


def gaussian_heatmaps(keypoints: Tensor, keypoints_visible: Tensor,
                      heatmap_size: Tuple[int, int], sigma: float,
                      mode: str) -> Tuple[Tensor, Tensor]:
    """Gaussian heatmaps of keypoints given in heatmap pixels.

    Args:
        keypoints (Tensor): (B, K, 2) keypoints in heatmap pixels.
        keypoints_visible (Tensor): (B, K) visibility.
        heatmap_size (tuple[int, int]): (W, H).
        sigma (float): Gaussian sigma in heatmap pixels.
        mode (str): ``'msra'``: the Gaussian of radius 3 sigma around the
            rounded keypoint; ``'udp'``: the same window, centred on the
            exact keypoint; ``'unbiased'``: the whole map, exact centre.

    Returns:
        tuple[Tensor, Tensor]: (B, K, H, W) heatmaps and (B, K) keypoint
        weights: the visibility, 0 where a labelled keypoint's Gaussian lies
        entirely outside the map.
    """
    if mode not in ('msra', 'udp', 'unbiased'):
        raise ValueError(f"mode must be 'msra', 'udp' or 'unbiased', "
                         f'got {mode!r}')
    width, height = heatmap_size
    radius = sigma * 3
    labelled = keypoints_visible >= 0.5
    if mode == 'unbiased':
        left = keypoints - radius
        right = keypoints + radius + 1
    else:
        # numpy's astype(int64) truncates towards zero
        mu = torch.trunc(keypoints + 0.5)
        left = torch.trunc(mu - radius)
        right = torch.trunc(mu + radius + 1)
    outside = ((left[..., 0] >= width) | (left[..., 1] >= height)
               | (right < 0).any(-1))
    weights = torch.where(labelled & outside,
                          torch.zeros_like(keypoints_visible),
                          keypoints_visible).to(torch.float32)
    draw = (labelled & ~outside).to(torch.float32)

    def axis(i: int, size: int) -> Tensor:
        """(B, K, size) 1-D Gaussian factors along x (i=0) or y (i=1)."""
        p = torch.arange(size, device=keypoints.device, dtype=torch.float32)
        if mode == 'unbiased':
            d = p - keypoints[..., i:i + 1]
            return torch.exp(-d * d / (2 * sigma**2))
        lo, hi = left[..., i:i + 1], right[..., i:i + 1]
        center = math.floor((2 * radius + 1) / 2)  # gaussian_size // 2
        if mode == 'udp':
            center = center + (keypoints[..., i:i + 1] - mu[..., i:i + 1])
        d = p - lo - center
        g = torch.exp(-d * d / (2 * sigma**2))
        return g * ((p >= lo) & (p < hi))

    gx = axis(0, width)
    gy = axis(1, height)
    heatmaps = gy[..., :, None] * gx[..., None, :] * draw[..., None, None]
    return heatmaps, weights


@MODELS.register_module()
class CustomPoseBatchGenerateTarget(nn.Module):
    """mmpose's ``GenerateTarget`` for a :class:`TopdownBatch`: encodes the
    ``transformed_keypoints`` into ``heatmaps`` (B, K, H, W) and
    ``keypoint_weights`` (B, K).

    Args:
        encoder (dict): The codec config, ``MSRAHeatmap`` or ``UDPHeatmap``
            (``heatmap_type='gaussian'``), as for mmpose's transform; it is
            built with mmpose's ``KEYPOINT_CODECS`` so its defaults apply.
        use_dataset_keypoint_weights (bool): Multiply the weights by the
            dataset's per-keypoint weights. Defaults to False.
    """

    def __init__(self,
                 encoder: dict,
                 use_dataset_keypoint_weights: bool = False) -> None:
        super().__init__()
        if not isinstance(encoder, dict) or encoder.get(
                'type') not in SUPPORTED_ENCODERS:
            got = encoder.get('type') if isinstance(encoder, dict) else encoder
            raise ValueError(
                'CustomPoseBatchGenerateTarget encodes on the device with '
                f'{" or ".join(SUPPORTED_ENCODERS)}, got {got!r}; use '
                "mmpose's GenerateTarget in the dataset pipeline for others")
        codec = KEYPOINT_CODECS.build(encoder)
        if encoder['type'] == 'UDPHeatmap':
            if codec.heatmap_type != 'gaussian':
                raise ValueError("UDPHeatmap on the device supports "
                                 "heatmap_type='gaussian' only, got "
                                 f'{codec.heatmap_type!r}')
            self.mode = 'udp'
        else:
            self.mode = 'unbiased' if codec.unbiased else 'msra'
        self.encoder = dict(encoder)
        self.heatmap_size = tuple(int(v) for v in codec.heatmap_size)
        self.sigma = float(codec.sigma)
        # the codec's own float32 factor: input pixels / heatmap pixels (a
        # buffer: it moves with the model, no host copy per step)
        self.register_buffer(
            'scale_factor', torch.from_numpy(codec.scale_factor.copy()),
            persistent=False)
        self.use_dataset_keypoint_weights = use_dataset_keypoint_weights

    def forward(self, batch: TopdownBatch, generator=None) -> TopdownBatch:
        if batch.transformed_keypoints is None:
            raise ValueError('CustomPoseBatchGenerateTarget needs the '
                             'keypoints of CustomPoseBatchTopdownAffine: put '
                             'it after the affine transform')
        heatmaps, weights = gaussian_heatmaps(
            batch.transformed_keypoints / self.scale_factor,
            batch.keypoints_visible,
            self.heatmap_size, self.sigma, self.mode)
        if self.use_dataset_keypoint_weights:
            if batch.dataset_keypoint_weights is None:
                raise ValueError('use_dataset_keypoint_weights=True but the '
                                 'batch carries no dataset_keypoint_weights')
            weights = weights * batch.dataset_keypoint_weights
        batch.heatmaps = heatmaps
        batch.keypoint_weights = weights
        return batch
