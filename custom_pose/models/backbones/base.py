# Copyright (c) custom_pose contributors. All rights reserved.
"""What the custom_pose backbones share: norm config, default init,
channels-last layout, ``norm_eval``, and strict ``Pretrained`` loading."""
import copy
import logging
import os.path as osp
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlparse

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model import initialize
from mmengine.runner.checkpoint import get_torchvision_models
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from custom_pose.errors import CheckpointError, CustomPoseError
from custom_pose.utils.checkpoint import (is_remote, load_checkpoint_file,
                                          load_state_dict_strict)
from mmpose.models.backbones.base_backbone import BaseBackbone
from mmpose.utils.typing import OptConfigType, OptMultiConfig

__all__ = [
    'CustomPoseBackbone', 'ResidualBlock', 'PretrainedWeightsUnavailableError'
]

#: How messages name ``init_cfg.checkpoint``.
_PRETRAINED = 'pretrained checkpoint'


class PretrainedWeightsUnavailableError(CustomPoseError, RuntimeError):
    """Raised when pretrained backbone weights cannot be obtained (e.g. the
    machine is offline and the file is not in torch hub's cache)."""


class ResidualBlock(nn.Module):
    """What the residual blocks of the backbones share: the norm config
    (``None`` means ``dict(type='BN')``) and a norm-layer factory.

    Subclasses take ``norm_cfg`` as their last argument and pass it here.
    """

    #: Output channels / channels of the block.
    expansion: int = 1

    def __init__(self, norm_cfg: OptConfigType = None) -> None:
        super().__init__()
        self.norm_cfg = dict(type='BN') if norm_cfg is None else norm_cfg

    def _norm(self, channels: int) -> nn.Module:
        """A norm layer of ``norm_cfg`` over ``channels``."""
        return build_norm_layer(self.norm_cfg, channels)[1]


class CustomPoseBackbone(BaseBackbone):
    """Base class of the custom_pose backbones.

    Subclasses call ``super().__init__(norm_cfg, norm_eval, init_cfg)``
    first, build their layers, then :meth:`_finish_init` with
    ``channels_last``.

    ``init_cfg=None`` means :attr:`default_init_cfg` (Kaiming convs,
    constant 1/0 norms, as mmpose's ResNet). A ``Pretrained`` entry is
    loaded strictly through :func:`custom_pose.utils.checkpoint.
    load_state_dict_strict`: every parameter and buffer of the backbone must
    be in the checkpoint with its shape (weights the backbone does not have,
    such as torchvision's ``fc.*``, are ignored and logged); otherwise a
    :class:`~custom_pose.errors.CheckpointError` names what does not fit.
    ``init_cfg`` may carry ``prefix='backbone.'`` to load the backbone part
    of a full-model checkpoint. A remote checkpoint (``torchvision://...``,
    ``https://...``) is fetched into torch hub's cache once; where that
    fails, :class:`PretrainedWeightsUnavailableError` says how to train
    without it.

    Args:
        norm_cfg (dict, optional): Config of the normalization layers.
            ``None`` means ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep all norm layers in eval mode (frozen running
            statistics) during training.
        init_cfg (dict | list[dict], optional): Initialization config.
    """

    #: Appended to the message when a pretrained checkpoint does not fit.
    pretrained_hint: str = ''

    def __init__(self, norm_cfg: OptConfigType, norm_eval: bool,
                 init_cfg: OptMultiConfig) -> None:
        super().__init__(
            init_cfg=self.default_init_cfg if init_cfg is None else init_cfg)
        self.norm_cfg = (
            dict(type='BN', requires_grad=True)
            if norm_cfg is None else copy.deepcopy(norm_cfg))
        self.norm_eval = norm_eval
        self.channels_last = False

    def _check_choice(self, name: str, value, allowed) -> None:
        """Raise a ``ValueError`` naming the argument unless ``value`` is
        one of ``allowed``."""
        if value not in allowed:
            raise ValueError(
                f'Unsupported `{name}` {value!r} for {type(self).__name__}; '
                f'allowed values: {list(allowed)}')

    @staticmethod
    def _check_positive_int(name: str, value, even: bool = False) -> None:
        """Raise a ``ValueError`` naming the argument unless ``value`` is a
        positive (and with ``even``, even) int."""
        if not isinstance(value, int) or isinstance(value, bool) or \
                value < 1 or (even and value % 2):
            kind = 'positive even' if even else 'positive'
            raise ValueError(f'`{name}` must be a {kind} int, got {value!r}')

    def _finish_init(self, channels_last: bool) -> None:
        """Freeze what is frozen and set the memory format of the weights."""
        self._freeze_stages()
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    @property
    def default_init_cfg(self) -> List[dict]:
        """Kaiming init for convs, constant 1/0 for norm layers (as mmpose's
        ResNet)."""
        return [
            dict(type='Kaiming', layer=['Conv2d']),
            dict(
                type='Constant',
                val=1,
                bias=0,
                layer=['_BatchNorm', 'GroupNorm'])
        ]

    def _to_memory_format(self, x: Tensor) -> Tensor:
        """The (N, C, H, W) input in the backbone's memory format."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    @classmethod
    def describe_weights(cls, state: Mapping[str, Tensor],
                         prefix: str = '') -> Optional[str]:
        """A short architecture name (``'ResNet-50'``) read from the keys
        and shapes of a state dict, ``None`` when they are not this
        backbone's. The strict loader names a mismatch with it."""
        return None

    def describe(self) -> str:
        """How messages name this backbone."""
        return self.describe_weights(self.state_dict()) or \
            type(self).__name__

    # ------------------------------------------------------------------
    # mode
    # ------------------------------------------------------------------
    def _freeze_stages(self) -> None:
        """Freeze parameters (none by default)."""

    def train(self, mode: bool = True) -> 'CustomPoseBackbone':
        """Set train/eval mode, keeping frozen stages (and, with
        ``norm_eval``, all norm layers) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ------------------------------------------------------------------
    # initialization
    # ------------------------------------------------------------------
    def _split_init_cfg(self) -> Tuple[Optional[dict], List[dict]]:
        """Split ``init_cfg`` into the (last) Pretrained entry and the rest."""
        cfgs = self.init_cfg
        if cfgs is None:
            return None, []
        if isinstance(cfgs, dict):
            cfgs = [cfgs]
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        return (pretrained[-1] if pretrained else None), others

    def _init_from_scratch(self) -> None:
        """Initialization after ``init_cfg`` when no weights are loaded."""

    def init_weights(self) -> None:
        """Initialize the weights.

        Without a ``Pretrained`` entry in ``init_cfg`` this applies
        ``init_cfg`` and then :meth:`_init_from_scratch`. With one, the
        checkpoint is loaded strictly (see the class docstring).
        """
        pretrained_cfg, other_cfgs = self._split_init_cfg()
        if pretrained_cfg is None:
            super().init_weights()
            self._init_from_scratch()
            return
        if self.is_init:
            print_log(
                f'init_weights of {self.__class__.__name__} has been called '
                'more than once.',
                logger='current',
                level=logging.WARNING)
            return
        if other_cfgs:
            initialize(self, other_cfgs)
        checkpoint = pretrained_cfg.get('checkpoint')
        if not checkpoint:
            raise CheckpointError(
                'model.backbone.init_cfg of type "Pretrained" needs a '
                '`checkpoint` (a local path or e.g. "torchvision://resnet50")')
        ckpt = self._read_pretrained(
            str(checkpoint), pretrained_cfg.get('map_location', 'cpu'))
        name = self.describe()
        ignored = load_state_dict_strict(
            self, ckpt, checkpoint, target=name,
            prefix=pretrained_cfg.get('prefix'), ignore_unexpected=True,
            what=_PRETRAINED, hint=self.pretrained_hint)
        shown = [k for k in ignored if not k.startswith('fc.')]
        if shown:
            print_log(
                f'Ignored {len(shown)} unexpected keys of pretrained '
                f'checkpoint {checkpoint!r}: {", ".join(shown[:10])}',
                logger='current')
        print_log(
            f'Loaded all {len(self.state_dict())} parameters/buffers of '
            f'{name} from {checkpoint}',
            logger='current')
        self.is_init = True

    def _read_pretrained(self, checkpoint: str,
                         map_location) -> Dict[str, Tensor]:
        """The checkpoint file; remote ones through torch hub's cache."""
        if not is_remote(checkpoint):
            if not osp.exists(checkpoint):
                raise CheckpointError(
                    f'Pretrained checkpoint {checkpoint!r} '
                    '(model.backbone.init_cfg.checkpoint) does not exist. '
                    'Point it at an existing file, or train from scratch with '
                    '`--cfg-options model.backbone.init_cfg=None`.')
            return load_checkpoint_file(
                checkpoint, map_location, what=_PRETRAINED)
        try:
            return load_checkpoint_file(
                checkpoint, map_location, what=_PRETRAINED, download=True)
        except KeyError as err:  # unknown torchvision:// model name
            raise CheckpointError(
                f'Unknown pretrained checkpoint name {checkpoint!r} in '
                'model.backbone.init_cfg.checkpoint (e.g. use '
                '"torchvision://resnet50" or a local path)') from err
        except (OSError, EOFError) as err:
            # URLError, socket errors, timeouts and HTTP errors are OSErrors
            raise self._offline_error(checkpoint, err) from err

    @staticmethod
    def _resolve_url(checkpoint: str) -> Optional[str]:
        """The download URL of a remote checkpoint, if it can be resolved
        without network access."""
        if checkpoint.startswith(('http://', 'https://')):
            return checkpoint
        for prefix in ('torchvision://', 'modelzoo://'):
            if checkpoint.startswith(prefix):
                try:
                    return get_torchvision_models().get(
                        checkpoint[len(prefix):])
                except Exception:  # noqa: BLE001 -- only used for a message
                    return None
        return None

    def _offline_error(self, checkpoint: str,
                       err: BaseException) -> PretrainedWeightsUnavailableError:
        """Build the error raised when remote weights cannot be obtained."""
        url = self._resolve_url(checkpoint)
        if url is not None:
            filename = osp.basename(urlparse(url).path)
            cached = osp.join(torch.hub.get_dir(), 'checkpoints', filename)
            what = (f'{checkpoint!r} (from {url}, not found in the torch hub '
                    f'cache as {cached})')
            get_it = (f'download {url} on a machine with network access and '
                      f'either copy it to {cached} (picked up automatically) '
                      'or point `model.backbone.init_cfg.checkpoint` at it, '
                      '`--cfg-options model.backbone.init_cfg.checkpoint='
                      f'/path/to/{filename}`')
        else:
            what = repr(checkpoint)
            get_it = ('download the file on a machine with network access '
                      'and point `model.backbone.init_cfg.checkpoint` at the '
                      'local copy, `--cfg-options '
                      'model.backbone.init_cfg.checkpoint=/path/to/file.pth`')
        return PretrainedWeightsUnavailableError(
            f'Could not load the pretrained weights {what} for '
            f'{self.__class__.__name__}: the download failed '
            f'({type(err).__name__}: {err}), so they cannot be loaded '
            'offline. To train without them, either train from scratch '
            'with `--cfg-options model.backbone.init_cfg=None`, or '
            f'{get_it}.')
