# Copyright (c) custom_pose contributors. All rights reserved.
"""ResNet backbone of Simple Baselines (Xiao et al., 2018).

The parameter names follow torchvision's ResNet (``conv1``, ``bn1``,
``layer1.0.conv1``, ..., ``layer1.0.downsample.0/1``) so that an ImageNet
state dict from torchvision loads into it without key conversion.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Type

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model.weight_init import constant_init
from torch import Tensor

from mmpose.registry import MODELS
from mmpose.utils.typing import OptConfigType, OptMultiConfig
from .base import CustomPoseBackbone, ResidualBlock


class BasicBlock(ResidualBlock):
    """Basic residual block of ResNet-18/34 (two 3x3 convs, expansion 1).

    Args:
        in_channels (int): Input channels.
        channels (int): Channels of the 3x3 convs; the block outputs
            ``channels * expansion`` channels.
        stride (int): Stride of the first 3x3 conv. Defaults to 1.
        downsample (nn.Module, optional): Projection shortcut (1x1 conv + BN)
            used when the shape changes. Defaults to ``None`` (identity).
        norm_cfg (dict, optional): See :class:`ResidualBlock`.
    """

    expansion = 1

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 norm_cfg: OptConfigType = None) -> None:
        super().__init__(norm_cfg)
        self.conv1 = nn.Conv2d(
            in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = self._norm(channels)
        self.conv2 = nn.Conv2d(
            channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = self._norm(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        """The norm layer before the residual addition."""
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        """Forward: (N, C_in, H, W) -> (N, channels, H/stride, W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # in place: no new (N, C, H, W) buffer per block (BN's backward does
        # not need its output)
        out += identity
        return self.relu(out)


class Bottleneck(ResidualBlock):
    """Bottleneck block of ResNet-50/101/152 (1x1, 3x3, 1x1; expansion 4).

    The stride sits on the 3x3 conv as in torchvision ("ResNet v1.5").

    Args:
        in_channels (int): Input channels.
        channels (int): Channels of the 1x1 and 3x3 convs; the block outputs
            ``channels * 4`` channels.
        stride (int): Stride of the 3x3 conv. Defaults to 1.
        downsample (nn.Module, optional): Projection shortcut (1x1 conv + BN)
            used when the shape changes. Defaults to ``None`` (identity).
        norm_cfg (dict, optional): See :class:`ResidualBlock`.
    """

    expansion = 4

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 norm_cfg: OptConfigType = None) -> None:
        super().__init__(norm_cfg)
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = self._norm(channels)
        self.conv2 = nn.Conv2d(
            channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = self._norm(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = self._norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        """The norm layer before the residual addition."""
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        """Forward: (N, C_in, H, W) -> (N, 4*channels, H/stride, W/stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity  # in place, as in BasicBlock
        return self.relu(out)


@MODELS.register_module()
class CustomPoseResNet(CustomPoseBackbone):
    """ResNet backbone of `Simple Baselines`_ (Xiao et al., 2018).

    Stem: 7x7 stride-2 conv to ``stem_channels``, BN, ReLU, 3x3 stride-2
    max-pool; then ``num_stages`` residual stages (``layer1`` ...) with the
    given ``strides``. A 1x1 (stride ``s``) conv + BN projection shortcut is
    used wherever a block changes the shape. For a 256x256 input and
    ``depth >= 50`` the four stage outputs are (N, 256, 64, 64),
    (N, 512, 32, 32), (N, 1024, 16, 16) and (N, 2048, 8, 8).

    Parameter names match torchvision's ResNet, so ImageNet weights load
    through ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` where
    ``PATH`` is a local torchvision ``.pth`` file or ``torchvision://resnet50``
    (downloaded into torch hub's cache). Unlike mmengine's default
    (non-strict) ``Pretrained`` init, every parameter and buffer of this
    backbone must be found in the checkpoint with its shape (torchvision's
    ``fc.*`` keys are expected extras and ignored); otherwise a
    :class:`~custom_pose.errors.CheckpointError` names the mismatch (e.g. a
    ResNet-50 file for a ResNet-18). If a remote checkpoint cannot be
    downloaded, :class:`PretrainedWeightsUnavailableError` explains how to
    train without it. ``init_cfg`` may carry ``prefix='backbone.'`` to load
    the backbone part of a full-model checkpoint (see
    :class:`~custom_pose.models.backbones.base.CustomPoseBackbone`).

    Args:
        depth (int): Network depth, one of 18, 34, 50, 101 and 152.
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int): Output channels of the stem conv. Defaults to 64.
        base_channels (int): Channels of the first stage's 3x3 convs; stage
            ``i`` uses ``base_channels * 2**i``. Defaults to 64.
        num_stages (int): Number of residual stages, 1 to 4. Defaults to 4.
        strides (Sequence[int]): Stride of the first block of each stage.
            Defaults to ``(1, 2, 2, 2)``.
        out_indices (Sequence[int]): Indices (0-based) of the stages whose
            outputs are returned. Defaults to ``(3, )``.
        frozen_stages (int): Freeze the stem (``>= 0``) and stages
            ``1..frozen_stages`` (parameters get ``requires_grad=False`` and
            the modules stay in eval mode). ``-1`` freezes nothing.
            Defaults to -1.
        norm_cfg (dict, optional): Config of the normalization layers.
            ``None`` means ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep all norm layers in eval mode (frozen running
            statistics) during training. Defaults to ``False``.
        zero_init_residual (bool): Zero-initialize the last norm layer of
            every residual block so that blocks start as identity (not applied
            when loading pretrained weights). Defaults to ``True``.
        channels_last (bool): Keep the conv weights in channels-last (NHWC)
            memory format and convert the input to it, so that the whole
            network runs in NHWC: oneDNN's (CPU) and cuDNN's (with AMP)
            fastest layout, 1.2-1.9x faster than NCHW on a CPU with the same
            results up to float summation order (checked in
            ``tests/test_fast_paths.py``, measured by
            ``tools/analysis_tools/benchmark.py``). Parameter names and
            shapes do not depend on it. Defaults to ``False`` (NCHW, as
            torchvision: bit-identical features).
        init_cfg (dict | list[dict], optional): Initialization config.
            ``None`` means Kaiming init for convs and constant 1 (weight) /
            0 (bias) for norm layers.

    Example:
        >>> import torch
        >>> model = CustomPoseResNet(depth=50, out_indices=(0, 1, 2, 3))
        >>> model.init_weights()
        >>> outs = model(torch.rand(1, 3, 256, 256))
        >>> [tuple(o.shape) for o in outs]
        [(1, 256, 64, 64), (1, 512, 32, 32), (1, 1024, 16, 16), (1, 2048, 8, 8)]

    .. _`Simple Baselines`: https://arxiv.org/abs/1804.06208
    """

    arch_settings: Dict[int, Tuple[Type[nn.Module], Tuple[int, ...]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
    }

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 num_stages: int = 4,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_cfg: OptConfigType = None,
                 norm_eval: bool = False,
                 zero_init_residual: bool = True,
                 channels_last: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(norm_cfg, norm_eval, init_cfg)
        self._check_choice('depth', depth, sorted(self.arch_settings))
        if not 1 <= num_stages <= 4:
            raise ValueError(
                f'`num_stages` must be in 1..4, got {num_stages!r}')
        strides = tuple(strides)
        if len(strides) != num_stages:
            raise ValueError(
                f'`strides` must have num_stages={num_stages} entries, got '
                f'{strides!r}')
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_stages
                                  for i in out_indices):
            raise ValueError(
                f'`out_indices` must be non-empty indices in '
                f'0..{num_stages - 1}, got {out_indices!r}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'`frozen_stages` must be in -1..{num_stages}, got '
                f'{frozen_stages!r}')

        self.depth = depth
        self.in_channels = in_channels
        self.stem_channels = stem_channels
        self.base_channels = base_channels
        self.num_stages = num_stages
        self.strides = strides
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.zero_init_residual = zero_init_residual
        self.block, stage_blocks = self.arch_settings[depth]
        self.stage_blocks = stage_blocks[:num_stages]

        # stem
        self.conv1 = nn.Conv2d(
            in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = build_norm_layer(self.norm_cfg, stem_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        # residual stages
        self.res_layers: List[str] = []
        block_in = stem_channels
        for i, (num_blocks, stride) in enumerate(
                zip(self.stage_blocks, self.strides)):
            channels = base_channels * 2**i
            layer = self._make_res_layer(block_in, channels, num_blocks,
                                         stride)
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, layer)
            self.res_layers.append(layer_name)
            block_in = channels * self.block.expansion
        self.feat_dim = block_in
        self._finish_init(channels_last)

    @property
    def pretrained_hint(self) -> str:
        """Appended to the message when a pretrained checkpoint does not
        fit."""
        return (f'Expected a torchvision-format ResNet-{self.depth} state '
                'dict; for a full-model checkpoint set '
                "model.backbone.init_cfg.prefix='backbone.'")

    def describe(self) -> str:
        """``'ResNet-50'``: the configured depth (with fewer than 4 stages
        the blocks alone could be a smaller depth's)."""
        return f'ResNet-{self.depth}'

    @classmethod
    def describe_weights(cls, state: Mapping[str, Tensor],
                         prefix: str = '') -> Optional[str]:
        """``'ResNet-50'`` from the blocks in a state dict (its number of
        blocks per stage and whether they are bottlenecks), ``None`` for a
        state dict without ResNet stages."""
        blocks: List[int] = []
        for stage in range(1, 5):
            n = 0
            while f'{prefix}layer{stage}.{n}.conv1.weight' in state:
                n += 1
            if n == 0:
                break
            blocks.append(n)
        if not blocks:
            return None
        bottleneck = f'{prefix}layer1.0.conv3.weight' in state
        for depth, (block, counts) in cls.arch_settings.items():
            if (block is Bottleneck) == bottleneck and \
                    tuple(counts[:len(blocks)]) == tuple(blocks):
                return f'ResNet-{depth}'
        kind = 'bottleneck' if bottleneck else 'basic'
        return f'ResNet with {blocks} {kind} blocks'

    def _make_res_layer(self, in_channels: int, channels: int,
                        num_blocks: int, stride: int) -> nn.Sequential:
        """Build one stage of ``num_blocks`` residual blocks."""
        out_channels = channels * self.block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(
                    in_channels,
                    out_channels,
                    kernel_size=1,
                    stride=stride,
                    bias=False),
                build_norm_layer(self.norm_cfg, out_channels)[1])
        layers = [
            self.block(
                in_channels,
                channels,
                stride=stride,
                downsample=downsample,
                norm_cfg=self.norm_cfg)
        ]
        for _ in range(1, num_blocks):
            layers.append(
                self.block(out_channels, channels, norm_cfg=self.norm_cfg))
        return nn.Sequential(*layers)

    def _freeze_stages(self) -> None:
        """Freeze the stem and the first ``frozen_stages`` stages."""
        if self.frozen_stages >= 0:
            self.bn1.eval()
            for m in (self.conv1, self.bn1):
                for param in m.parameters():
                    param.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f'layer{i}')
            m.eval()
            for param in m.parameters():
                param.requires_grad = False

    def _init_from_scratch(self) -> None:
        """Zero the last norm of every block with ``zero_init_residual``
        (not applied when loading pretrained weights)."""
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    constant_init(m.last_norm, 0)

    # ------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Forward the backbone.

        Args:
            x (Tensor): Images in shape (N, C_in, H, W).

        Returns:
            tuple[Tensor]: Outputs of the stages in ``out_indices``; stage
            ``i`` has shape (N, base_channels * 2**i * expansion,
            H / (4 * prod(strides[:i+1])), W / (...)), in channels-last
            memory format with ``channels_last``.
        """
        x = self._to_memory_format(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


__all__ = ['CustomPoseResNet']
