# Copyright (c) custom_pose contributors. All rights reserved.
"""The models a benchmark compares and the numeric paths it runs them on.

:class:`ModelSpec` pairs one of our configs with mmpose's built-in
equivalent (:data:`MODEL_SPECS`); :func:`model_cfg_for` and
:func:`build_model` build either side with seeded weights. :class:`Variant`
is a numeric path (``fp32``, ``bf16+fuse+cl``, ...) and
:func:`prepare_model` applies it. :func:`fit_heatmap_tail` and
:func:`calibrate_bn` give random-weight models the sharp heatmaps and BN
statistics of a trained one, so that the checks of the fast paths measure
something; :func:`count_params_flops` counts parameters and FLOPs.
"""
import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

#: the goal for the mean keypoint deviation of a fast path, model-input px
MAX_MEAN_KPT_DEV_PX = 1.0
#: the goal for the gradient cosine of a fast training path against fp32
MIN_TRAIN_GRAD_COSINE = 0.99


def train_check_passes(check: dict) -> bool:
    """Whether the gradients of a fast training path (a
    :func:`train_check` result) agree with fp32: cosine of at least
    :data:`MIN_TRAIN_GRAD_COSINE`."""
    return check.get('grad_cosine', -1.0) >= MIN_TRAIN_GRAD_COSINE


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """One of our models and mmpose's built-in equivalent.

    Attributes:
        name (str): Short name used on the command line.
        config (str): Our config, relative to ``configs/``.
        mmpose_backbone (dict, optional): mmpose's backbone replacing ours;
            ``None``: no counterpart (FLOPs only).
        mmpose_head (dict, optional): mmpose's head replacing ours (its
            ``loss`` defaults to ``KeypointMSELoss``, its ``decoder`` is our
            config's codec).
        published (dict, optional): ``params_m``, ``gflops``, ``input``
            (``'HxW'``) and ``source`` of published figures.
        note (str): Shown under the tables.
    """
    name: str
    config: str
    mmpose_backbone: Optional[dict] = None
    mmpose_head: Optional[dict] = None
    published: Optional[dict] = None
    note: str = ''


def _simplebaseline(depth: int, params_m: float, gflops: float) -> ModelSpec:
    """Our ResNet-``depth`` + deconv head config against mmpose's ``ResNet``
    + ``HeatmapHead``, with the SimpleBaseline paper's COCO figures."""
    return ModelSpec(
        f'res{depth}', f'animal/custom_res{depth}_animalpose_256x256.py',
        dict(type='ResNet', depth=depth),
        dict(type='HeatmapHead', in_channels=2048, out_channels=20),
        dict(params_m=params_m, gflops=gflops, input='256x192',
             source='SimpleBaseline (Xiao et al. 2018), COCO 17 keypoints'))


MODEL_SPECS: Dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _simplebaseline(50, params_m=34.0, gflops=8.9),
        _simplebaseline(101, params_m=53.0, gflops=12.4),
        _simplebaseline(152, params_m=68.6, gflops=15.7),
        ModelSpec(
            'hourglass8', 'animal/custom_hourglass8_animalpose_256x256.py',
            dict(
                type='HourglassNet',
                num_stacks=2,
                downsample_times=4,
                stage_channels=(256, 128, 128, 128, 128),
                stage_blocks=(1, 1, 1, 1, 1),
                feat_channel=256),
            dict(
                type='CPMHead',
                in_channels=256,
                out_channels=20,
                num_stages=2,
                deconv_out_channels=None),
            dict(
                params_m=25.1,
                gflops=14.3,
                input='256x192',
                source='8-stage Hourglass (Newell et al. 2016) as listed by '
                'HRNet (Sun et al. 2019), COCO'),
            note='mmpose has no pre-activation 8-stack Hourglass; its '
            'HourglassNet (2 stacks, 128-channel inner stages) has about '
            'the same FLOPs'),
        ModelSpec('hourglass2',
                  'animal/custom_hourglass2_animalpose_256x256.py'),
        ModelSpec(
            'hrnet_w32', 'animal/custom_hrnet_w32_animalpose_256x256.py',
            published=dict(
                params_m=28.5,
                gflops=7.1,
                input='256x192',
                source='HRNet-W32 (Sun et al. 2019), COCO'),
            note='our config uses mmpose\'s own HRNet and HeatmapHead'),
        ModelSpec(
            'res18_128', 'animal/custom_res18_quickstart_synthetic_128x128.py',
            dict(type='ResNet', depth=18),
            dict(
                type='HeatmapHead',
                in_channels=512,
                out_channels=20,
                deconv_out_channels=(128, 128, 128),
                deconv_kernel_sizes=(4, 4, 4))),
    )
}

#: section -> the models it runs by default (``--models`` overrides); a new
#: section adds its entry here
DEFAULT_MODELS: Dict[str, Tuple[str, ...]] = {
    'train': ('res50', 'res101', 'hourglass8'),
    'infer': ('res50', 'res101', 'hourglass8', 'res18_128'),
    'data': ('res50', ),
    'video': ('res18_128', ),
    'flops': ('res50', 'res101', 'res152', 'hourglass2', 'hourglass8',
              'hrnet_w32', 'res18_128'),
    'train-e2e': ('res50', 'res101'),
}


def load_model_config(spec: ModelSpec, config_dir: Path):
    """Our config of ``spec`` (an mmengine ``Config``)."""
    from mmengine.config import Config
    path = Path(config_dir) / spec.config
    if not path.is_file():
        raise FileNotFoundError(f'config of {spec.name!r} not found: {path}')
    return Config.fromfile(str(path))


def model_cfg_for(spec: ModelSpec, side: str, cfg) -> dict:
    """The model config of one side: ``'ours'`` (the config's model, without
    pretrained weights) or ``'mmpose'`` (same estimator, data preprocessor,
    codec and test_cfg; mmpose's backbone and head)."""
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.backbone.get('init_cfg', None) is not None:
        model_cfg.backbone.init_cfg = None
    if side == 'ours':
        return model_cfg
    if side != 'mmpose':
        raise ValueError(f'side: expected "ours" or "mmpose", got {side!r}')
    if spec.mmpose_backbone is None:
        raise ValueError(f'model {spec.name!r} has no mmpose counterpart')
    head = dict(copy.deepcopy(spec.mmpose_head))
    head.setdefault('loss',
                    dict(type='KeypointMSELoss', use_target_weight=True))
    head['decoder'] = copy.deepcopy(cfg.model.head.get('decoder'))
    model_cfg.backbone = copy.deepcopy(spec.mmpose_backbone)
    model_cfg.head = head
    return model_cfg


def build_model(model_cfg: dict, device: str, seed: int = 0) -> nn.Module:
    """Build a pose estimator with seeded initial weights."""
    from mmengine.registry import init_default_scope

    import custom_pose  # noqa: F401  (registers our modules)
    from mmpose.models.builder import build_pose_estimator
    from mmengine.logging import MMLogger
    init_default_scope('mmpose')
    torch.manual_seed(seed)
    model = build_pose_estimator(copy.deepcopy(model_cfg))
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights logs every parameter
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.to(device)


def input_size_of(cfg) -> Tuple[int, int]:
    """(w, h) of the model input, from the config's codec."""
    return tuple(int(v) for v in cfg.model.head.decoder['input_size'])


@torch.no_grad()
def calibrate_bn(model: nn.Module, data: dict, steps: int = 2) -> None:
    """Set the BN running statistics to those of ``data`` (cumulative
    average over ``steps`` forward passes in train mode), so that BN
    folding and reduced precision are checked on realistic statistics
    rather than the initial (0, 1)."""
    bns = [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    inputs = model.data_preprocessor(data, False)['inputs']
    for _ in range(steps):
        model.extract_feat(inputs)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    model.train(was_training)


def _heatmap_tail(model: nn.Module, inputs: torch.Tensor):
    """The trainable end of a heatmap model and a function computing its
    (N, K, H, W) heatmaps from fixed (precomputed) features.

    The head when it has parameters (SimpleBaseline's deconv head); the
    last stack of a :class:`CustomPoseHourglass` (its head has none).
    """
    from custom_pose.models.backbones import CustomPoseHourglass
    bb = model.backbone
    if not any(True for _ in model.head.parameters()) and isinstance(
            bb, CustomPoseHourglass):
        captured = {}
        hook = bb.hourglasses[-1].register_forward_pre_hook(
            lambda m, args: captured.__setitem__('x', args[0]))
        with torch.no_grad():
            model.extract_feat(inputs)
        hook.remove()
        x = captured['x'].detach()
        modules = [bb.hourglasses[-1], bb.stack_residuals[-1],
                   bb.stack_convs[-1], bb.predictors[-1]]

        def tail():
            feat = bb.stack_convs[-1](bb.stack_residuals[-1](
                bb.hourglasses[-1](x)))
            return bb.predictors[-1](feat)

        return modules, tail
    if not any(True for _ in model.head.parameters()):
        raise ValueError(f'no trainable heatmap tail in '
                         f'{type(bb).__name__} + {type(model.head).__name__}')
    with torch.no_grad():
        feats = model.extract_feat(inputs)

    def tail():
        out = model.head.forward(feats)
        return out[-1] if isinstance(out, (tuple, list)) else out

    return [model.head], tail


def fit_heatmap_tail(model: nn.Module,
                     data: dict,
                     max_steps: int = 300,
                     lr: float = 1e-3,
                     target_ratio: float = 0.1,
                     amp: bool = True) -> dict:
    """Fit the end of ``model`` to the target heatmaps of ``data``, in place.

    Random weights give flat heatmaps whose arg-max is decided by noise, so
    comparing the keypoints of two numeric paths on them measures the noise.
    This overfits the head (or the last hourglass stack) on the crops of
    ``data`` (built with :func:`fit_pipeline`), the rest frozen (BN of the
    frozen part in eval mode), until the loss is ``target_ratio`` of the
    initial one; then the BN statistics are set to those of ``data``
    (:func:`calibrate_bn`). On these crops the model then predicts sharp
    peaks, as a trained model does, and the keypoint checks of the fast
    paths are meaningful.

    Args:
        model (nn.Module): A top-down heatmap estimator.
        data (dict): Collated samples with ``gt_fields.heatmaps``.
        max_steps (int): Adam steps at most.
        lr (float): Adam learning rate.
        target_ratio (float): Stop when the loss falls below this fraction
            of the loss of all-zero heatmaps (after 20 steps at least).
        amp (bool): Compute in bf16 (CPU) / fp16 (CUDA) autocast (faster;
            the weights stay fp32).

    Returns:
        dict: ``loss_zero`` (of all-zero heatmaps), ``loss_start``,
        ``loss_end``, ``steps``, ``seconds``.
    """
    t0 = time.perf_counter()
    model.eval()
    batch = model.data_preprocessor(data, False)
    samples = batch['data_samples']
    target = torch.stack([s.gt_fields.heatmaps for s in samples]).float()
    weights = torch.cat(
        [s.gt_instance_labels.keypoint_weights for s in samples]).float()
    target = target.to(batch['inputs'].device)
    weights = weights.to(batch['inputs'].device)
    loss_zero = float((target.pow(2).mean(dim=(2, 3)) * weights).mean())
    modules, tail = _heatmap_tail(model, batch['inputs'])
    for m in modules:
        m.train()
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.Adam(params, lr=lr)
    device_type = batch['inputs'].device.type
    loss_start = loss_end = None
    step = 0
    for step in range(1, max_steps + 1):
        with torch.autocast(device_type, enabled=amp,
                            dtype=torch.bfloat16 if device_type == 'cpu'
                            else torch.float16):
            heatmaps = tail()
        err = (heatmaps.float() - target).pow(2).mean(dim=(2, 3))
        loss = (err * weights).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        loss_start = value if loss_start is None else loss_start
        loss_end = value
        if step >= 20 and value < target_ratio * loss_zero:
            break
    model.zero_grad(set_to_none=True)
    model.eval()
    calibrate_bn(model, data)
    return dict(
        loss_zero=loss_zero,
        loss_start=loss_start,
        loss_end=loss_end,
        steps=step,
        seconds=time.perf_counter() - t0)


def labelled_mask(data: dict) -> np.ndarray:
    """(N, K) bool: keypoints with a target (weight > 0) in ``data``."""
    return np.stack([
        np.asarray(s.gt_instance_labels.keypoint_weights[0]) > 0
        for s in data['data_samples']
    ])


# ---------------------------------------------------------------------------
# numeric paths
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A numeric path, parsed from e.g. ``'bf16+fuse+cl'``."""
    name: str
    precision: str = 'fp32'
    channels_last: bool = False
    fuse_bn: bool = False
    compile: bool = False

    @property
    def is_plain(self) -> bool:
        return self.name == 'fp32'

    @property
    def amp_dtype(self) -> Optional[torch.dtype]:
        return dict(
            bf16=torch.bfloat16, fp16=torch.float16).get(self.precision)

    @classmethod
    def parse(cls, name: str) -> 'Variant':
        tokens = name.strip().split('+')
        precision = tokens[0]
        if precision not in ('fp32', 'bf16', 'fp16'):
            raise ValueError(
                f'variant {name!r}: the first token must be fp32, bf16 or '
                'fp16')
        flags = set(tokens[1:])
        unknown = flags - {'cl', 'fuse', 'compile'}
        if unknown:
            raise ValueError(f'variant {name!r}: unknown flags '
                             f'{sorted(unknown)} (allowed: cl, fuse, '
                             'compile)')
        return cls(
            name='+'.join([precision] +
                          [f for f in ('fuse', 'cl', 'compile')
                           if f in flags]),
            precision=precision,
            channels_last='cl' in flags,
            fuse_bn='fuse' in flags,
            compile='compile' in flags)

    def check_device(self, device: str) -> None:
        dev = torch.device(device).type
        if self.precision == 'fp16' and dev == 'cpu':
            raise ValueError(f'variant {self.name}: fp16 autocast needs CUDA '
                             '(use bf16 on CPU)')


def default_variants(section: str, device: str, fast_paths: bool,
                     compile: bool) -> List[str]:
    """The variants a section runs by default."""
    cuda = torch.device(device).type == 'cuda'
    amp = 'fp16' if cuda else 'bf16'
    names = ['fp32']
    if fast_paths:
        if section == 'train':
            names += ['fp32+cl', f'{amp}+cl']
        else:
            names += ['fp32+fuse', 'fp32+fuse+cl', f'{amp}+fuse+cl']
    if compile:
        names += [f'{amp}+fuse+cl+compile'
                  if section != 'train' else f'{amp}+cl+compile']
    return names


def prepare_model(model: nn.Module, variant: Variant, train: bool,
                  device: str = 'cpu') -> nn.Module:
    """A copy of ``model`` with the variant's model transforms applied.

    Mixed precision is :func:`custom_pose.models.utils.autocast_forward`
    (autocast inside the backbone and head, fp32 heatmaps out), on both
    sides: mmpose's heads cannot decode nor compute their training accuracy
    from bf16 heatmaps (``to_numpy`` of a bf16 tensor fails).
    """
    from custom_pose.models.utils import (autocast_forward, compile_model,
                                          fuse_conv_bn, to_channels_last)
    model = copy.deepcopy(model)
    if variant.fuse_bn:
        if train:
            raise ValueError('BN folding is for inference only')
        fuse_conv_bn(model, inplace=True)
    if variant.channels_last:
        to_channels_last(model)
    if variant.amp_dtype is not None:
        autocast_forward(
            model,
            torch.device(device).type,
            variant.amp_dtype,
            cast_weights=not train)
    if variant.compile:
        compile_model(model)
    model.train(train)
    return model


# ---------------------------------------------------------------------------
# parameters and FLOPs
# ---------------------------------------------------------------------------
class _TensorForward(nn.Module):
    """``model._forward``: backbone (+ neck) + head forward, for counting."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        return self.model._forward(x)


def count_params_flops(model: nn.Module,
                       hw: Tuple[int, int]) -> Tuple[float, float]:
    """(parameters in millions, GFLOPs at a 1 x 3 x H x W input) with
    mmengine's ``FlopAnalyzer`` (a multiply-add counts as one FLOP; a
    transposed conv counts the multiply-adds it does, input pixels x k^2 x
    C_in x C_out). ``model`` is an estimator (backbone + head) or any module
    taking the image tensor."""
    from mmengine.analysis import FlopAnalyzer
    from mmengine.logging import MMLogger
    wrapper = (_TensorForward(model) if hasattr(model, '_forward') else
               model)
    wrapper.eval()  # (some train() overrides return None)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        with torch.no_grad():
            analyzer = FlopAnalyzer(wrapper, (torch.zeros(1, 3, *hw), ))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            flops = analyzer.total() / 1e9
    finally:
        logger.setLevel(level)
    return params, flops
