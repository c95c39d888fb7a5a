# Copyright (c) custom_pose contributors. All rights reserved.
"""Stacked Hourglass network (Newell et al., 2016)."""
import re
from typing import Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptMultiConfig
from .base import CustomPoseBackbone, ResidualBlock


class PreActBottleneck(ResidualBlock):
    """Pre-activation residual bottleneck of the Stacked Hourglass network.

    ``BN-ReLU-conv1x1 -> BN-ReLU-conv3x3 -> BN-ReLU-conv1x1`` with
    ``out_channels // 2`` intermediate channels (expansion 2), plus a 1x1
    projection on the skip path when ``in_channels != out_channels``.
    The spatial size is preserved.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (must be even).
        norm_cfg (dict, optional): See :class:`ResidualBlock`.
    """

    expansion = 2

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: OptConfigType = None) -> None:
        super().__init__(norm_cfg)
        mid_channels = out_channels // self.expansion
        self.bn1 = self._norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, bias=False)
        self.bn2 = self._norm(mid_channels)
        self.conv2 = nn.Conv2d(
            mid_channels, mid_channels, 3, padding=1, bias=False)
        self.bn3 = self._norm(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False)
            if in_channels != out_channels else None)

    def forward(self, x: Tensor) -> Tensor:
        """Forward: (N, in_channels, H, W) -> (N, out_channels, H, W)."""
        identity = x if self.skip is None else self.skip(x)
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        # in place: no new buffer (a conv's backward does not need its output)
        out += identity
        return out


def _residuals(in_channels: int, out_channels: int, num_blocks: int,
               norm_cfg: ConfigType) -> nn.Sequential:
    """``num_blocks`` pre-activation bottlenecks, the first one mapping
    ``in_channels`` to ``out_channels``."""
    blocks = [PreActBottleneck(in_channels, out_channels, norm_cfg)]
    blocks += [
        PreActBottleneck(out_channels, out_channels, norm_cfg)
        for _ in range(1, num_blocks)
    ]
    return nn.Sequential(*blocks)


class HourglassModule(nn.Module):
    """One hourglass of order ``depth`` (recursive).

    The upper branch keeps the resolution (``num_blocks`` residuals); the
    lower branch max-pools by 2, applies ``num_blocks`` residuals, a
    hourglass of order ``depth - 1`` (or ``num_blocks`` residuals at the
    lowest resolution), ``num_blocks`` residuals and nearest-neighbour
    upsampling by 2; the two branches are added. A depth-4 hourglass on a
    64x64 map visits 64 -> 32 -> 16 -> 8 -> 4 and back.

    Args:
        depth (int): Number of down-sampling steps.
        channels (int): Feature channels (kept throughout).
        num_blocks (int): Residual blocks per position.
        norm_cfg (dict): Config of the normalization layers.
    """

    def __init__(self, depth: int, channels: int, num_blocks: int,
                 norm_cfg: ConfigType) -> None:
        super().__init__()
        self.depth = depth
        self.up1 = _residuals(channels, channels, num_blocks, norm_cfg)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.low1 = _residuals(channels, channels, num_blocks, norm_cfg)
        if depth > 1:
            self.low2 = HourglassModule(depth - 1, channels, num_blocks,
                                        norm_cfg)
        else:
            self.low2 = _residuals(channels, channels, num_blocks, norm_cfg)
        self.low3 = _residuals(channels, channels, num_blocks, norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Forward: (N, C, H, W) -> (N, C, H, W)."""
        up1 = self.up1(x)
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return add_upsampled_nearest(up1, low)


class _AddUpsampled2x(torch.autograd.Function):
    """``x += nearest_upsample_2x(low)`` in place; the backward is
    ATen's nearest-upsampling backward (a sum over each 2x2 block),
    which is faster than autograd's reduction over the broadcast view."""

    @staticmethod
    def forward(ctx, x: Tensor, low: Tensor) -> Tensor:
        n, c, h, w = low.shape
        ctx.sizes = ([2 * h, 2 * w], [n, c, h, w])
        x.unflatten(3, (w, 2)).unflatten(2, (h, 2)).add_(
            low[:, :, :, None, :, None])
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        grad_low = None
        if ctx.needs_input_grad[1]:
            output_size, input_size = ctx.sizes
            grad_low = torch.ops.aten.upsample_nearest2d_backward(
                grad, output_size, input_size)
        return grad, grad_low


def add_upsampled_nearest(x: Tensor, low: Tensor) -> Tensor:
    """``x += F.interpolate(low, size=x.shape[-2:], mode='nearest')``.

    Where ``x`` is exactly twice the size of ``low`` (every hourglass level
    of an input that is a multiple of 64), each value of ``low`` is added
    to its 2x2 block of ``x`` through a broadcasting view, in one pass over
    ``x`` in any memory format: no upsampled copy is made (the two copies
    of the NCHW nearest upsampling took 5-20% of an fp32 forward, more at
    larger batches). The backward is the nearest-upsampling one. Otherwise,
    and while tracing or exporting to ONNX (the exporters cannot record an
    in-place ``autograd.Function``), it falls back to ``F.interpolate``.
    The result is the same either way.

    Args:
        x (Tensor): (N, C, H, W); modified in place and returned.
        low (Tensor): (N, C, h, w), with h <= H and w <= W.

    Returns:
        Tensor: ``x``.
    """
    h, w = low.shape[-2:]
    exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    if x.shape[-2:] == (2 * h, 2 * w) and x.dtype == low.dtype and \
            not exporting:
        return _AddUpsampled2x.apply(x, low)
    x += F.interpolate(low, size=x.shape[-2:], mode='nearest')
    return x


@MODELS.register_module()
class CustomPoseHourglass(CustomPoseBackbone):
    """Stacked Hourglass network of `Newell et al. (2016)`_.

    Stem: 7x7 stride-2 conv + BN + ReLU, a residual to 128 channels, 2x2
    max-pool, residuals to ``feat_channels`` (256 features at 64x64 for a
    256x256 input). Then ``num_stacks`` stacks, each a depth-4 hourglass
    followed by ``num_blocks`` residuals, a 1x1 conv-BN-ReLU and a 1x1 conv
    to ``out_channels`` heatmaps. For every stack but the last, the
    features and the heatmaps are mapped back to ``feat_channels`` by 1x1
    convs and added to the stack's input to form the next stack's input
    (intermediate supervision); the last stack has no such merge convs, so
    every parameter contributes to the output. Only the prediction convs have
    a bias: every other conv output reaches the heatmaps only through a BN
    layer, which would cancel a per-channel constant (its gradient would be
    zero).

    The backbone returns the heatmaps of every stack, so it is meant to be
    paired with the parameter-free
    :class:`~custom_pose.models.heads.CustomPoseMultiStageHead`.

    Args:
        out_channels (int): Number of heatmaps K (joints).
        num_stacks (int): Number of stacked hourglasses, one of 1, 2, 4, 8.
            Defaults to 2.
        num_blocks (int): Residual blocks per position inside the hourglass
            and after it. Defaults to 1.
        feat_channels (int): Feature channels of the hourglasses (even).
            Defaults to 256.
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int): Output channels of the stem conv. Defaults to 64.
        hourglass_depth (int): Down-sampling steps of each hourglass.
            Defaults to 4.
        norm_cfg (dict, optional): Config of the normalization layers.
            ``None`` means ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep all norm layers in eval mode during training.
            Defaults to ``False``.
        channels_last (bool): Keep the conv weights in channels-last (NHWC)
            memory format and convert the input to it (oneDNN's and, with
            AMP, cuDNN's fastest layout; same results up to float summation
            order). Defaults to ``False``.
        init_cfg (dict | list[dict], optional): Initialization config.
            ``None`` means Kaiming init for convs and constant 1/0 for norms;
            a ``Pretrained`` entry is loaded strictly (see
            :class:`~custom_pose.models.backbones.base.CustomPoseBackbone`).

    Example:
        >>> import torch
        >>> model = CustomPoseHourglass(out_channels=17, num_stacks=2)
        >>> outs = model(torch.rand(1, 3, 256, 256))
        >>> [tuple(o.shape) for o in outs]
        [(1, 17, 64, 64), (1, 17, 64, 64)]

    .. _`Newell et al. (2016)`: https://arxiv.org/abs/1603.06937
    """

    allowed_num_stacks: Tuple[int, ...] = (1, 2, 4, 8)

    def __init__(self,
                 out_channels: int,
                 num_stacks: int = 2,
                 num_blocks: int = 1,
                 feat_channels: int = 256,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 hourglass_depth: int = 4,
                 norm_cfg: OptConfigType = None,
                 norm_eval: bool = False,
                 channels_last: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(norm_cfg, norm_eval, init_cfg)
        self._check_choice('num_stacks', num_stacks, self.allowed_num_stacks)
        for name, value in (('num_blocks', num_blocks),
                            ('out_channels', out_channels),
                            ('hourglass_depth', hourglass_depth)):
            self._check_positive_int(name, value)
        self._check_positive_int('feat_channels', feat_channels, even=True)
        self.out_channels = out_channels
        self.num_stacks = num_stacks
        self.num_blocks = num_blocks
        self.feat_channels = feat_channels
        self.hourglass_depth = hourglass_depth
        norm_cfg = self.norm_cfg

        # stem: (N, 3, H, W) -> (N, feat_channels, H/4, W/4)
        self.stem = nn.Sequential(
            nn.Conv2d(
                in_channels,
                stem_channels,
                7,
                stride=2,
                padding=3,
                bias=False),
            build_norm_layer(norm_cfg, stem_channels)[1],
            nn.ReLU(inplace=True),
            PreActBottleneck(stem_channels, 128, norm_cfg),
            nn.MaxPool2d(kernel_size=2, stride=2),
            PreActBottleneck(128, 128, norm_cfg),
            PreActBottleneck(128, feat_channels, norm_cfg),
        )

        self.hourglasses = nn.ModuleList()
        self.stack_residuals = nn.ModuleList()
        self.stack_convs = nn.ModuleList()
        self.predictors = nn.ModuleList()
        self.merge_feats = nn.ModuleList()
        self.merge_preds = nn.ModuleList()
        for i in range(num_stacks):
            self.hourglasses.append(
                HourglassModule(hourglass_depth, feat_channels, num_blocks,
                                norm_cfg))
            self.stack_residuals.append(
                _residuals(feat_channels, feat_channels, num_blocks,
                           norm_cfg))
            self.stack_convs.append(
                nn.Sequential(
                    nn.Conv2d(feat_channels, feat_channels, 1, bias=False),
                    build_norm_layer(norm_cfg, feat_channels)[1],
                    nn.ReLU(inplace=True)))
            self.predictors.append(
                nn.Conv2d(feat_channels, out_channels, 1))
            if i < num_stacks - 1:
                self.merge_feats.append(
                    nn.Conv2d(feat_channels, feat_channels, 1, bias=False))
                self.merge_preds.append(
                    nn.Conv2d(out_channels, feat_channels, 1, bias=False))
        self._finish_init(channels_last)

    @classmethod
    def describe_weights(cls, state: Mapping[str, Tensor],
                         prefix: str = '') -> Optional[str]:
        """``'2-stack hourglass'`` from the per-stack predictors in a state
        dict, ``None`` for a state dict without them."""
        pattern = re.compile(re.escape(prefix) + r'predictors\.(\d+)\.weight$')
        stacks = {int(m.group(1)) for m in map(pattern.match, state) if m}
        return f'{len(stacks)}-stack hourglass' if stacks else None

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward the network.

        Args:
            x (Tensor): Images in shape (N, C_in, H, W); H and W should be
                multiples of ``4 * 2**hourglass_depth`` (64 by default).

        Returns:
            tuple[Tensor]: ``num_stacks`` heatmap predictions, each in shape
            (N, out_channels, H/4, W/4), from the first to the last stack
            (channels-last memory format with ``channels_last``).
        """
        x = self.stem(self._to_memory_format(x))
        outs = []
        for i in range(self.num_stacks):
            feat = self.hourglasses[i](x)
            feat = self.stack_convs[i](self.stack_residuals[i](feat))
            pred = self.predictors[i](feat)
            outs.append(pred)
            if i < self.num_stacks - 1:
                x = x + self.merge_feats[i](feat) + self.merge_preds[i](pred)
        return tuple(outs)


__all__ = ['CustomPoseHourglass']
