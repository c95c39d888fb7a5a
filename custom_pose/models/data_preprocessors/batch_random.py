# Copyright (c) custom_pose contributors. All rights reserved.
"""mmpose 1.3's random top-down augmentations, vectorised over a batch on
the model's device: ``RandomFlip``, ``RandomHalfBody`` and
``RandomBBoxTransform``, with their arguments, defaults and parameter
distributions.

Each transform draws its random parameters in :meth:`sample` and applies
them in :meth:`apply_params`, so that tests can apply parameters drawn by
mmpose's own transforms. Random numbers come from ``generator`` (a
``torch.Generator`` on the batch's device) or torch's default generator.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from mmpose.registry import MODELS
from .topdown_batch import TopdownBatch

FLIP_DIRECTIONS = ('horizontal', 'vertical', 'diagonal')


def _rand(shape: Tuple[int, ...], batch: TopdownBatch,
          generator: Optional[torch.Generator]) -> Tensor:
    return torch.rand(shape, generator=generator, device=batch.device)


def truncated_normal(shape: Tuple[int, ...],
                     batch: TopdownBatch,
                     generator: Optional[torch.Generator] = None,
                     low: float = -1.0,
                     high: float = 1.0) -> Tensor:
    """Standard normal samples truncated to ``[low, high]`` (what
    ``scipy.stats.truncnorm.rvs(low, high)`` draws in mmpose), by the
    inverse of the normal CDF."""
    cdf_low = 0.5 * (1 + math.erf(low / math.sqrt(2)))
    cdf_high = 0.5 * (1 + math.erf(high / math.sqrt(2)))
    p = cdf_low + _rand(shape, batch, generator) * (cdf_high - cdf_low)
    x = math.sqrt(2) * torch.special.erfinv(2 * p - 1)
    return x.clamp_(low, high)


def _check_probability(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f'{name} must be a probability in [0, 1], '
                         f'got {value!r}')


class RandomBatchTransform(nn.Module):
    """A random transform of a :class:`TopdownBatch`: :meth:`sample` draws
    the parameters of every sample, :meth:`apply_params` applies them."""

    def sample(self, batch: TopdownBatch,
               generator: Optional[torch.Generator] = None):
        raise NotImplementedError

    def apply_params(self, batch: TopdownBatch, params) -> TopdownBatch:
        raise NotImplementedError

    def forward(self,
                batch: TopdownBatch,
                generator: Optional[torch.Generator] = None) -> TopdownBatch:
        return self.apply_params(batch, self.sample(batch, generator))


@MODELS.register_module()
class CustomPoseBatchRandomFlip(RandomBatchTransform):
    """mmpose's ``RandomFlip`` for a :class:`TopdownBatch`.

    Flips the box centre and the keypoints (mirror keypoints swap places,
    ``flip_indices``) as mmpose does, and records the flip in ``flip_x`` /
    ``flip_y``: the crop then samples the image mirrored, so no flipped copy
    of the image is ever made.

    Args:
        prob (float | list[float]): Flip probability, or one per direction.
            Defaults to 0.5.
        direction (str | list[str]): ``'horizontal'``, ``'vertical'``,
            ``'diagonal'`` or a list of them (one chosen per sample).
            Defaults to ``'horizontal'``.
    """

    def __init__(self,
                 prob: Union[float, List[float]] = 0.5,
                 direction: Union[str, List[str]] = 'horizontal') -> None:
        super().__init__()
        directions = [direction] if isinstance(direction, str) else list(
            direction)
        for d in directions:
            if d not in FLIP_DIRECTIONS:
                raise ValueError(f'flip direction must be one of '
                                 f'{FLIP_DIRECTIONS}, got {d!r}')
        if isinstance(prob, (list, tuple)):
            if len(prob) != len(directions):
                raise ValueError(
                    f'prob {list(prob)} needs one value per direction '
                    f'{directions}')
            for p in prob:
                _check_probability('prob', p)
            if sum(prob) > 1:
                raise ValueError(f'sum(prob) must be <= 1, got {sum(prob)}')
            probs = [float(p) for p in prob]
        else:
            _check_probability('prob', prob)
            probs = [float(prob) / len(directions)] * len(directions)
        self.prob = prob
        self.direction = direction
        self.directions = directions
        self.register_buffer(
            'cum_probs', torch.tensor(probs).cumsum(0), persistent=False)

    def sample(self,
               batch: TopdownBatch,
               generator: Optional[torch.Generator] = None) -> Tensor:
        """``(B,)`` int64: index into ``self.directions``, -1 for no flip."""
        u = _rand((batch.batch_size, ), batch, generator)
        choice = torch.searchsorted(self.cum_probs, u, right=True)
        return torch.where(choice < len(self.directions), choice,
                           torch.full_like(choice, -1))

    def apply_params(self, batch: TopdownBatch, choice: Tensor) -> TopdownBatch:
        """Flip the samples whose ``choice`` is a direction."""
        flip_x = torch.zeros_like(batch.flip_x)
        flip_y = torch.zeros_like(batch.flip_y)
        swap = torch.zeros_like(batch.flip_x)
        for i, d in enumerate(self.directions):
            chosen = choice == i
            if d in ('horizontal', 'diagonal'):
                flip_x |= chosen
            if d in ('vertical', 'diagonal'):
                flip_y |= chosen
            if d != 'diagonal':  # mmpose swaps mirror keypoints for h / v
                swap |= chosen
        kpts = torch.where(swap[:, None, None],
                           batch.keypoints[:, batch.flip_indices],
                           batch.keypoints)
        batch.keypoints_visible = torch.where(
            swap[:, None], batch.keypoints_visible[:, batch.flip_indices],
            batch.keypoints_visible)
        flip = torch.stack([flip_x, flip_y], dim=-1)  # (B, 2)
        last = batch.image_wh - 1  # x -> w - 1 - x, y -> h - 1 - y
        batch.keypoints = torch.where(flip[:, None], last[:, None] - kpts,
                                      kpts)
        batch.bbox_center = torch.where(flip, last - batch.bbox_center,
                                        batch.bbox_center)
        batch.flip_x = batch.flip_x ^ flip_x
        batch.flip_y = batch.flip_y ^ flip_y
        return batch


@dataclass
class HalfBodyParams:
    """Per sample: whether the half-body draw passed (``rand <= prob``) and
    whether it prefers the upper body (``rand < upper_prioritized_prob``)."""
    apply: Tensor
    prefer_upper: Tensor


@MODELS.register_module()
class CustomPoseBatchRandomHalfBody(RandomBatchTransform):
    """mmpose's ``RandomHalfBody`` for a :class:`TopdownBatch`.

    A sample with at least ``min_total_keypoints`` visible keypoints gets,
    with probability ``prob``, the box of its visible upper- or lower-body
    keypoints (upper preferred with ``upper_prioritized_prob``; a half with
    too few visible keypoints is not chosen): centre = their mean, size =
    their extent times ``padding``.

    Args:
        min_total_keypoints (int): Defaults to 9.
        min_upper_keypoints (int): Defaults to 2.
        min_lower_keypoints (int): Defaults to 3.
        padding (float): Defaults to 1.5.
        prob (float): Defaults to 0.3.
        upper_prioritized_prob (float): Defaults to 0.7.
    """

    def __init__(self,
                 min_total_keypoints: int = 9,
                 min_upper_keypoints: int = 2,
                 min_lower_keypoints: int = 3,
                 padding: float = 1.5,
                 prob: float = 0.3,
                 upper_prioritized_prob: float = 0.7) -> None:
        super().__init__()
        _check_probability('prob', prob)
        _check_probability('upper_prioritized_prob', upper_prioritized_prob)
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def sample(self,
               batch: TopdownBatch,
               generator: Optional[torch.Generator] = None) -> HalfBodyParams:
        u = _rand((2, batch.batch_size), batch, generator)
        return HalfBodyParams(
            apply=~(u[0] > self.prob),
            prefer_upper=u[1] < self.upper_prioritized_prob)

    @staticmethod
    def _part_mask(ids: Tensor, num_keypoints: int) -> Tensor:
        mask = torch.zeros(num_keypoints, dtype=torch.bool, device=ids.device)
        mask[ids] = True
        return mask

    def apply_params(self, batch: TopdownBatch,
              params: HalfBodyParams) -> TopdownBatch:
        visible = batch.keypoints_visible
        num_keypoints = visible.shape[1]
        labelled = visible > 0
        upper = labelled & self._part_mask(batch.upper_body_ids,
                                           num_keypoints)
        lower = labelled & self._part_mask(batch.lower_body_ids,
                                           num_keypoints)
        upper_ok = upper.sum(1) >= self.min_upper_keypoints
        lower_ok = lower.sum(1) >= self.min_lower_keypoints
        use_upper = upper_ok & (~lower_ok | params.prefer_upper)
        use_lower = lower_ok & (~upper_ok | ~params.prefer_upper)
        active = ((visible.sum(1) >= self.min_total_keypoints)
                  & params.apply & (use_upper | use_lower))
        selected = torch.where(use_upper[:, None], upper, lower)  # (B, K)
        sel = selected[..., None]
        kpts = batch.keypoints
        count = selected.sum(1, keepdim=True).clamp(min=1)
        center = torch.where(sel, kpts, 0).sum(1) / count
        low = torch.where(sel, kpts, math.inf).amin(1)
        high = torch.where(sel, kpts, -math.inf).amax(1)
        scale = (high - low) * self.padding
        batch.bbox_center = torch.where(active[:, None], center,
                                        batch.bbox_center)
        batch.bbox_scale = torch.where(active[:, None], scale,
                                       batch.bbox_scale)
        return batch


@dataclass
class BBoxTransformParams:
    """Per sample: ``offset`` (B, 2) in box sizes, ``scale`` (B, 1) factor,
    ``rotate`` (B,) degrees (mmpose's ``_get_transform_params``)."""
    offset: Tensor
    scale: Tensor
    rotate: Tensor


@MODELS.register_module()
class CustomPoseBatchRandomBBoxTransform(RandomBatchTransform):
    """mmpose's ``RandomBBoxTransform`` for a :class:`TopdownBatch`.

    With probability ``shift_prob`` the centre moves by
    ``shift_factor * N(0,1)|[-1,1]`` box sizes in x and y; with
    ``scale_prob`` the box is resized by ``mu + sigma * N(0,1)|[-1,1]``
    (``mu``/``sigma``: the middle and half-width of ``scale_factor``); with
    ``rotate_prob`` it is rotated by ``rotate_factor * N(0,1)|[-1,1]``
    degrees. ``N(0,1)|[-1,1]`` is the standard normal truncated to [-1, 1].

    Args:
        shift_factor (float): Defaults to 0.16.
        shift_prob (float): Defaults to 0.3.
        scale_factor (tuple[float, float]): Defaults to (0.5, 1.5).
        scale_prob (float): Defaults to 1.0.
        rotate_factor (float): Defaults to 80.0.
        rotate_prob (float): Defaults to 0.6.
    """

    def __init__(self,
                 shift_factor: float = 0.16,
                 shift_prob: float = 0.3,
                 scale_factor: Sequence[float] = (0.5, 1.5),
                 scale_prob: float = 1.0,
                 rotate_factor: float = 80.0,
                 rotate_prob: float = 0.6) -> None:
        super().__init__()
        for name, p in (('shift_prob', shift_prob),
                        ('scale_prob', scale_prob),
                        ('rotate_prob', rotate_prob)):
            _check_probability(name, p)
        if len(scale_factor) != 2 or scale_factor[0] > scale_factor[1]:
            raise ValueError('scale_factor must be (min, max) with min <= '
                             f'max, got {scale_factor!r}')
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = tuple(scale_factor)
        self.scale_prob = scale_prob
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def sample(self,
               batch: TopdownBatch,
               generator: Optional[torch.Generator] = None
               ) -> BBoxTransformParams:
        n = batch.batch_size
        v = truncated_normal((n, 4), batch, generator)
        u = _rand((n, 3), batch, generator)
        offset = torch.where(u[:, :1] < self.shift_prob,
                             v[:, :2] * self.shift_factor, 0.0)
        scale_min, scale_max = self.scale_factor
        mu = (scale_max + scale_min) * 0.5
        sigma = (scale_max - scale_min) * 0.5
        scale = torch.where(u[:, 1:2] < self.scale_prob,
                            v[:, 2:3] * sigma + mu, 1.0)
        rotate = torch.where(u[:, 2] < self.rotate_prob,
                             v[:, 3] * self.rotate_factor, 0.0)
        return BBoxTransformParams(offset=offset, scale=scale, rotate=rotate)

    def apply_params(self, batch: TopdownBatch,
              params: BBoxTransformParams) -> TopdownBatch:
        batch.bbox_center = batch.bbox_center + params.offset * batch.bbox_scale
        batch.bbox_scale = batch.bbox_scale * params.scale
        batch.bbox_rotation = params.rotate.to(batch.bbox_center.dtype)
        return batch
