# Copyright (c) custom_pose contributors. All rights reserved.
"""Faster numeric paths for custom_pose (and any mmpose) models.

Each path is opt-in and changes the numbers only within a tolerance that
``tests/test_fast_paths.py`` checks and ``tools/analysis_tools/benchmark.py``
measures and reports next to every timing:

- :func:`fuse_conv_bn` (inference): BN folded into the conv before it
  (fp32; differences ~1e-6 relative).
- :func:`to_channels_last` (training, inference): NHWC memory layout (fp32;
  only the summation order changes).
- :func:`autocast_context` (training, inference): bf16 (CPU) / fp16 (CUDA)
  autocast as a context manager.
- :func:`autocast_forward` (training, inference): the model's forward under
  autocast, fp32 heatmaps out (and, for inference, the conv weights stored
  in bf16/fp16 once).
- :func:`compile_model` (opt-in): ``torch.compile`` of the forward methods
  (compiling takes minutes on a CPU).
- :func:`prepare_for_inference`: the above in one call.

Example::

    from custom_pose.models.utils import prepare_for_inference
    # BN folded, NHWC, bf16 autocast inside (CPU), fp32 heatmaps out
    model = prepare_for_inference(model, fuse_bn=True, channels_last=True,
                                  amp=True)
    with torch.no_grad():
        results = model.test_step(data)   # or TopdownBatchInferencer(model)
"""
import contextlib
import copy
import types
from typing import Any, ContextManager, Dict, Iterable, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

#: names of the fast paths, as the benchmark reports them
FAST_PATHS: Tuple[str, ...] = ('fuse_bn', 'channels_last', 'bf16', 'fp16',
                               'compile')

_ConvTypes = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_ConvTransposeTypes = (nn.ConvTranspose1d, nn.ConvTranspose2d,
                       nn.ConvTranspose3d)


def _bn_scale_shift(bn: _BatchNorm) -> Tuple[Tensor, Tensor]:
    """Per-channel ``scale`` and ``shift`` with ``bn(x) == x * scale +
    shift`` in eval mode (running statistics), in float64."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(
            f'fuse_conv_bn: {type(bn).__name__} without running statistics '
            '(track_running_stats=False) cannot be folded')
    var = bn.running_var.detach().double()
    mean = bn.running_mean.detach().double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


def _fold(conv: nn.Module, bn: _BatchNorm) -> None:
    """Fold eval-mode ``bn`` into ``conv`` (which directly feeds it), in
    place: ``conv'(x) == bn(conv(x))``."""
    scale, shift = _bn_scale_shift(bn)
    weight = conv.weight.detach().double()
    out_channels = scale.numel()
    if isinstance(conv, _ConvTransposeTypes):
        # weight: (C_in, C_out / groups, *k); output channel g * C_out/g + j
        groups = conv.groups
        w = weight.reshape(groups, weight.shape[0] // groups,
                           weight.shape[1], *weight.shape[2:])
        s = scale.reshape(groups, 1, -1, *([1] * (weight.dim() - 2)))
        new_weight = (w * s).reshape(weight.shape)
    else:
        # weight: (C_out, C_in / groups, *k)
        new_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    bias = (conv.bias.detach().double()
            if conv.bias is not None else torch.zeros_like(scale))
    new_bias = bias * scale + shift
    if new_bias.numel() != out_channels:  # pragma: no cover - shape guard
        raise ValueError('fuse_conv_bn: conv/BN channel mismatch')
    dtype = conv.weight.dtype
    conv.weight = nn.Parameter(
        new_weight.to(dtype).contiguous(
            memory_format=_memory_format_of(conv.weight)),
        requires_grad=conv.weight.requires_grad)
    conv.bias = nn.Parameter(
        new_bias.to(dtype), requires_grad=conv.weight.requires_grad)


def _memory_format_of(t: Tensor) -> torch.memory_format:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) \
            and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _fuse_children(module: nn.Module) -> int:
    """Fold every BN child registered right after a conv child of the same
    parent; recurse. Returns the number of folded BN layers."""
    num = 0
    last_conv: Optional[Tuple[str, nn.Module]] = None
    for name, child in list(module.named_children()):
        if isinstance(child, _BatchNorm) and last_conv is not None:
            conv = last_conv[1]
            if conv.out_channels == child.num_features:
                _fold(conv, child)
                setattr(module, name, nn.Identity())
                num += 1
            last_conv = None
        elif isinstance(child, _ConvTypes + _ConvTransposeTypes):
            last_conv = (name, child)
        else:
            last_conv = None
            num += _fuse_children(child)
    return num


def fuse_conv_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold BatchNorm layers into the convolution that feeds them (inference
    only).

    A BN layer is folded when it is registered right after a conv (``Conv*d``
    or ``ConvTranspose*d``) in the same parent module and has as many
    channels, the layout of every ``conv -> BN`` pair in custom_pose's and
    mmpose's models (``conv1, bn1`` of ResNet blocks, ``Sequential(conv, BN,
    ReLU)``, mmcv's ``ConvModule``, the deconv head) and the rule of mmcv's
    ``fuse_conv_bn``. The folded conv computes ``bn(conv(x))`` with the
    running statistics (the weights are combined in float64); the BN becomes
    ``nn.Identity``. Pre-activation BNs (``bn -> relu -> conv``) have no conv
    before them in their parent and are left as they are.

    Args:
        model (nn.Module): The model. It is put in eval mode: the result is
            for inference (training would update statistics that no longer
            exist).
        inplace (bool): Modify ``model`` itself instead of a deep copy.
            Defaults to ``False``.

    Returns:
        nn.Module: The model with the BN layers folded, in eval mode, with
        ``_custom_pose_fused_bn`` set to the number of folded layers.
    """
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    num = _fuse_children(model)
    model._custom_pose_fused_bn = num
    return model


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store the 4-D weights of ``model`` in channels-last (NHWC) order, in
    place.

    Convolutions whose weight (or input) is channels-last produce
    channels-last outputs, so the whole network runs in NHWC, which oneDNN
    (CPU) and cuDNN (tensor cores) run faster. Inputs may stay NCHW: the
    first convolution converts. The values are unchanged; results differ
    from NCHW only by the summation order.

    Args:
        model (nn.Module): The model.

    Returns:
        nn.Module: ``model``.
    """
    return model.to(memory_format=torch.channels_last)


def default_autocast_dtype(device_type: str) -> torch.dtype:
    """``torch.bfloat16`` on CPU (AMX/AVX512-BF16 units; no loss scaling
    needed), ``torch.float16`` elsewhere (CUDA tensor cores)."""
    return torch.bfloat16 if device_type == 'cpu' else torch.float16


def _resolve_autocast_dtype(device_type: str, dtype: Optional[torch.dtype],
                            caller: str) -> torch.dtype:
    """``dtype`` or the device's default; CPU autocast takes bf16 only."""
    if dtype is None:
        dtype = default_autocast_dtype(device_type)
    if device_type == 'cpu' and dtype != torch.bfloat16:
        raise ValueError(
            f'{caller}: CPU autocast supports bfloat16 only, got '
            f'dtype={dtype}')
    return dtype


def autocast_context(device_type: Union[str, torch.device] = 'cpu',
                     enabled: bool = True,
                     dtype: Optional[torch.dtype] = None) -> ContextManager:
    """Mixed-precision autocast for ``device_type``.

    Args:
        device_type (str | torch.device): ``'cpu'``, ``'cuda'`` or a device
            such as ``'cuda:0'``.
        enabled (bool): ``False`` gives a no-op context.
        dtype (torch.dtype, optional): Lower precision type;
            :func:`default_autocast_dtype` when ``None``.

    Returns:
        A context manager.
    """
    device_type = torch.device(device_type).type
    if not enabled:
        return contextlib.nullcontext()
    dtype = _resolve_autocast_dtype(device_type, dtype, 'autocast_context')
    return torch.autocast(device_type=device_type, dtype=dtype)


def _to_float(out: Any) -> Any:
    """Cast reduced-precision floating tensors (in tuples/lists/dicts) to
    float32."""
    if isinstance(out, Tensor):
        return out.float() if out.dtype in (torch.bfloat16,
                                            torch.float16) else out
    if isinstance(out, (tuple, list)):
        return type(out)(_to_float(o) for o in out)
    if isinstance(out, dict):
        return {k: _to_float(v) for k, v in out.items()}
    return out


def _autocast_forward(self: nn.Module, *args, **kwargs) -> Any:
    """``forward`` of a module wrapped by :func:`autocast_forward`."""
    device_type, dtype, cast_outputs = self._custom_pose_autocast
    with torch.autocast(device_type=device_type, dtype=dtype):
        out = type(self).forward(self, *args, **kwargs)
    return _to_float(out) if cast_outputs else out


def autocast_forward(model: nn.Module,
                     device_type: Optional[str] = None,
                     dtype: Optional[torch.dtype] = None,
                     submodules: Iterable[str] = ('backbone', 'neck', 'head'),
                     cast_weights: bool = False) -> nn.Module:
    """Run the forward of a pose estimator's parts under autocast, in place.

    The ``forward`` of the backbone, neck and head (or of ``model`` itself
    if it has none of them) runs under ``torch.autocast``; the head's
    outputs are cast back to float32, so that flip-test averaging, decoding,
    the loss and the training accuracy work in full precision, and any code
    that calls ``model.extract_feat`` / ``model.head.forward`` (e.g.
    ``custom_pose.apis.TopdownBatchInferencer``) gets the mixed-precision
    path without an autocast context of its own. Parameters stay float32
    (mixed precision, not a bf16 model); the state dict is unchanged, and a
    ``copy.deepcopy`` of the model keeps the behaviour.

    Args:
        model (nn.Module): The model.
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; defaults to the
            device of the model's parameters.
        dtype (torch.dtype, optional): Defaults to
            :func:`default_autocast_dtype` (bf16 on CPU, fp16 on CUDA).
        submodules (Iterable[str]): Parts of ``model`` to wrap.
        cast_weights (bool): Inference only: store the weights and biases of
            the convolution and linear layers in ``dtype`` once, instead of
            autocast converting them at every call (each call is a new
            autocast region, whose cast cache does not outlive it: at batch
            1 the casts took half of a bf16 ResNet forward). The results are
            the same (autocast casts those weights to ``dtype`` anyway); the
            model can no longer be trained.

    Returns:
        nn.Module: ``model``.
    """
    if device_type is None:
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
    device_type = torch.device(device_type).type
    dtype = _resolve_autocast_dtype(device_type, dtype, 'autocast_forward')
    targets = [(getattr(model, n), n == 'head') for n in submodules
               if isinstance(getattr(model, n, None), nn.Module)]
    if not targets:
        targets = [(model, True)]
    for module, cast_outputs in targets:
        module._custom_pose_autocast = (device_type, dtype, cast_outputs)
        module.forward = types.MethodType(_autocast_forward, module)
        if cast_weights:
            for m in module.modules():
                if isinstance(m, _ConvTypes + _ConvTransposeTypes +
                              (nn.Linear, )):
                    for name in ('weight', 'bias'):
                        p = getattr(m, name, None)
                        if p is not None:
                            p.data = p.data.to(dtype)
    return model


def _compile_forward(module: nn.Module, **compile_kwargs) -> None:
    """Replace ``module.forward`` by its ``torch.compile``-d version (bound
    to the module, so that the state dict and ``copy.deepcopy`` work)."""
    fwd = module.forward
    func = fwd.__func__ if isinstance(fwd, types.MethodType) else \
        type(module).forward
    module.forward = types.MethodType(
        torch.compile(func, **compile_kwargs), module)
    module._custom_pose_compiled = True


def compile_model(model: nn.Module,
                  submodules: Iterable[str] = ('backbone', 'neck', 'head'),
                  **compile_kwargs) -> nn.Module:
    """``torch.compile`` the ``forward`` of a pose estimator's parts, in
    place (opt-in).

    The ``forward`` methods of the backbone, neck and head (or of ``model``
    itself if it has none of them) are compiled; they are what
    ``TopdownPoseEstimator`` and mmpose's heads call (the head's
    ``predict``/``loss`` call ``self.forward``), and what
    :func:`autocast_forward` wraps (apply that first: the autocast region is
    compiled with it). Parameter names (state-dict keys) do not change.
    (``nn.Module.compile`` is not used: in this torch it leaves
    ``Module._call_impl`` uncompiled.)

    The first call of each input shape compiles (tens of seconds to
    minutes on a 2-core CPU; inductor needs a C++ compiler), later calls
    are fast.

    Args:
        model (nn.Module): The model.
        submodules (Iterable[str]): Attributes of ``model`` to compile.
        **compile_kwargs: Passed to ``torch.compile`` (e.g. ``mode``,
            ``dynamic``).

    Returns:
        nn.Module: ``model``.
    """
    targets = [getattr(model, n) for n in submodules
               if isinstance(getattr(model, n, None), nn.Module)]
    for module in targets or [model]:
        _compile_forward(module, **compile_kwargs)
    return model


def prepare_for_inference(model: nn.Module,
                          fuse_bn: bool = True,
                          channels_last: bool = False,
                          amp: bool = False,
                          amp_dtype: Optional[torch.dtype] = None,
                          compile: bool = False,
                          inplace: bool = False,
                          compile_kwargs: Optional[dict] = None) -> nn.Module:
    """Apply the inference fast paths to a (top-down) pose model.

    Args:
        model (nn.Module): The model (e.g. from ``init_pose_model``).
        fuse_bn (bool): :func:`fuse_conv_bn`. Defaults to ``True``.
        channels_last (bool): :func:`to_channels_last`. Defaults to
            ``False`` (a gain with bf16/fp16 and on GPUs; measure with
            ``tools/analysis_tools/benchmark.py``).
        amp (bool): :func:`autocast_forward` with ``cast_weights``: bf16
            autocast on CPU, fp16 on CUDA (``amp_dtype`` to choose), the
            conv weights stored in that type, fp32 heatmaps out. Defaults
            to ``False``.
        amp_dtype (torch.dtype, optional): Autocast dtype for ``amp``.
        compile (bool): :func:`compile_model`. Defaults to ``False``.
        inplace (bool): Modify ``model`` itself instead of a deep copy.
        compile_kwargs (dict, optional): Passed to ``torch.compile``.

    Returns:
        nn.Module: The prepared model, in eval mode.
    """
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    if fuse_bn:
        fuse_conv_bn(model, inplace=True)
    if channels_last:
        to_channels_last(model)
    if amp:
        autocast_forward(model, dtype=amp_dtype, cast_weights=True)
    if compile:
        compile_model(model, **(compile_kwargs or {}))
    return model


def keypoint_deviation(reference: Union[np.ndarray, Tensor],
                       other: Union[np.ndarray, Tensor],
                       px_per_unit: Union[float, np.ndarray, None] = None
                       ) -> Dict[str, float]:
    """Distances between two sets of keypoints.

    Args:
        reference (np.ndarray | Tensor): (..., K, 2) keypoints.
        other (np.ndarray | Tensor): Keypoints of the same shape.
        px_per_unit (float | np.ndarray, optional): Factor (broadcast to
            (..., K)) converting the distances into the unit to report, e.g.
            ``input_size / input_scale`` per sample to go from image to
            model-input pixels. ``None`` means 1.

    Returns:
        dict: ``mean``, ``median``, ``max`` distance and ``frac_le_1px``
        (fraction of keypoints within 1 unit).
    """
    ref = np.asarray(
        reference.detach().float().cpu() if isinstance(reference, Tensor)
        else reference, dtype=np.float64)
    oth = np.asarray(
        other.detach().float().cpu() if isinstance(other, Tensor) else other,
        dtype=np.float64)
    if ref.shape != oth.shape or ref.shape[-1] != 2:
        raise ValueError(
            f'keypoint_deviation: expected two (..., K, 2) arrays of the '
            f'same shape, got {ref.shape} and {oth.shape}')
    dist = np.linalg.norm(ref - oth, axis=-1)
    if px_per_unit is not None:
        dist = dist * np.asarray(px_per_unit, dtype=np.float64)
    return dict(
        mean=float(dist.mean()),
        median=float(np.median(dist)),
        max=float(dist.max()),
        frac_le_1px=float((dist <= 1.0).mean()))


__all__ = [
    'FAST_PATHS', 'autocast_context', 'autocast_forward', 'compile_model',
    'default_autocast_dtype', 'fuse_conv_bn', 'keypoint_deviation',
    'prepare_for_inference', 'to_channels_last'
]
