# Copyright (c) custom_pose contributors. All rights reserved.
"""Benchmark of custom_pose's models against mmpose's built-in equivalents.

Used by ``tools/analysis_tools/benchmark.py`` (the command line); see its
docstring for the command. Everything runs in one process, on the same
machine, inputs, batch composition, flip-test setting and thread count for
both sides, with the two sides' iterations interleaved (``A B B A ...``) so
that a change of background load hits both alike.

Sections (each a list of rows in the JSON report and a Markdown table):

``train``
    Training-step throughput (``model.train_step``: data preprocessor,
    forward, loss, backward, optimizer step) in images/s.
``infer``
    ``model.test_step`` latency and throughput at each batch size, with and
    without flip test.
``data``
    Samples/s of the training data pipeline on the synthetic dataset for
    each number of workers, and the time per sample of each transform.
``video``
    Frames/s of ``demo/top_down_video_demo_full_frame_without_det.py``
    against mmpose's own per-frame path (``inference_topdown`` + mmpose's
    visualizer + ``cv2.VideoWriter``) on the same clip and checkpoint.
``flops``
    Parameters and FLOPs (mmengine's counter; a multiply-add counts as one,
    as in the published figures) next to the published figures.

Numeric paths (``variants``): ``fp32`` is the plain path. The fast paths
are ``+``-joined tokens: a precision (``fp32``, ``bf16`` = CPU autocast,
``fp16`` = CUDA autocast) and flags ``cl`` (channels-last), ``fuse``
(BN folding, inference only) and ``compile`` (``torch.compile``). Every
variant runs on both sides, so each row has the ratio at the same path;
rows of fast paths also give the ratio against mmpose's plain ``fp32`` and
the check of the result against ours at ``fp32``: mean keypoint distance
in model-input pixels for inference (the goal: < 1 px), relative loss
difference and gradient cosine for training (the goal: cosine >= 0.99).
"""
import contextlib
import copy
import datetime
import io
import json
import os
import os.path as osp
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

#: repository root (configs/, demo/) when custom_pose is used from a checkout
REPO_ROOT = Path(__file__).resolve().parents[2]

SECTIONS: Tuple[str, ...] = ('train', 'infer', 'data', 'video', 'flops')

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

DEFAULT_MODELS = dict(
    train=('res50', 'res101', 'hourglass8'),
    infer=('res50', 'res101', 'hourglass8', 'res18_128'),
    data=('res50', ),
    video=('res18_128', ),
    flops=('res50', 'res101', 'res152', 'hourglass2', 'hourglass8',
           'hrnet_w32', 'res18_128'))


def config_dir_default() -> Path:
    return REPO_ROOT / 'configs'


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


def fit_pipeline(cfg) -> list:
    """The test pipeline with ``GenerateTarget`` before ``PackPoseInputs``:
    test-time crops that carry their target heatmaps."""
    pipeline = val_pipeline(cfg)
    pack = [i for i, t in enumerate(pipeline)
            if t['type'] == 'PackPoseInputs']
    at = pack[0] if pack else len(pipeline)
    pipeline.insert(at, dict(type='GenerateTarget',
                             encoder=copy.deepcopy(cfg.model.head.decoder)))
    return pipeline


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
# timing
# ---------------------------------------------------------------------------
_CLK_TCK = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


def cpu_snapshot() -> Optional[Tuple[float, float, float]]:
    """(busy CPU seconds of the machine, CPU seconds of this process, wall
    time), from ``/proc``; ``None`` where there is no ``/proc``."""
    try:
        with open('/proc/stat') as f:
            fields = [float(v) for v in f.readline().split()[1:]]
        with open('/proc/self/stat') as f:
            own = f.read().rsplit(')', 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    busy = (sum(fields[:8]) - idle) / _CLK_TCK
    mine = (float(own[11]) + float(own[12])) / _CLK_TCK  # utime + stime
    return busy, mine, time.perf_counter()


def foreign_load(start: Optional[Tuple[float, float, float]],
                 end: Optional[Tuple[float, float, float]]
                 ) -> Optional[float]:
    """Average number of cores busy with other processes between two
    :func:`cpu_snapshot` calls (0 on an otherwise idle machine)."""
    if start is None or end is None or end[2] <= start[2]:
        return None
    other = (end[0] - start[0]) - (end[1] - start[1])
    return round(max(other, 0.0) / (end[2] - start[2]), 2)


def wait_quiet(threshold: Optional[float], log: Callable[[str], None],
               max_wait: float = 900.0, window: float = 3.0
               ) -> Optional[float]:
    """Wait (up to ``max_wait`` s) until other processes use fewer than
    ``threshold`` cores over ``window`` seconds; returns that load."""
    if threshold is None:
        return None
    t0 = time.perf_counter()
    waited = False
    while True:
        start = cpu_snapshot()
        time.sleep(window)
        load = foreign_load(start, cpu_snapshot())
        if load is None or load < threshold:
            if waited:
                log(f'  machine quiet ({load} cores busy elsewhere) after '
                    f'{time.perf_counter() - t0:.0f} s')
            return load
        if time.perf_counter() - t0 > max_wait:
            log(f'  still {load} cores busy elsewhere after {max_wait:.0f}'
                ' s: measuring anyway')
            return load
        if not waited:
            log(f'  waiting: {load} cores busy with other processes')
        waited = True


def _sync(device: str) -> None:
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


#: ``foreign_load`` of the last :func:`time_interleaved` call
LAST_TIMING: Dict[str, Optional[float]] = {}


def time_interleaved(fns: Dict[str, Callable[[], Any]],
                     iters: int,
                     warmup: int,
                     device: str = 'cpu',
                     min_time: float = 0.0,
                     max_iters: Optional[int] = None
                     ) -> Dict[str, List[float]]:
    """Time several functions in alternating order (``A B``, ``B A``, ...).

    Args:
        fns (dict): Name -> function without arguments.
        iters (int): Timed calls of each function (at least).
        warmup (int): Untimed calls of each function first.
        device (str): Synchronised after each call when CUDA.
        min_time (float): Keep timing (up to ``max_iters``) until each
            function has this many seconds timed: short calls get more
            samples.
        max_iters (int, optional): Cap for ``min_time``; defaults to
            ``max(iters, 50)``.

    Returns:
        dict: Name -> list of seconds per timed call. The average number of
        cores other processes used meanwhile is left in
        ``LAST_TIMING['foreign_load']``.
    """
    names = list(fns)
    times = {n: [] for n in names}
    max_iters = max(iters, 50) if max_iters is None else max(iters, max_iters)
    i = 0
    snap = None
    while True:
        if i == warmup:
            snap = cpu_snapshot()
        timed = i >= warmup
        if timed:
            done = i - warmup
            if done >= iters and (done >= max_iters or all(
                    sum(times[n]) >= min_time for n in names)):
                break
        order = names if i % 2 == 0 else names[::-1]
        for n in order:
            _sync(device)
            t0 = time.perf_counter()
            fns[n]()
            _sync(device)
            if timed:
                times[n].append(time.perf_counter() - t0)
        i += 1
    LAST_TIMING['foreign_load'] = foreign_load(snap, cpu_snapshot())
    return times


#: operator classes of :func:`profile_ops` (first match of a name part)
OP_CLASSES = (
    ('conv', ('conv', )),
    ('batch_norm', ('batch_norm', )),
    ('relu', ('relu', 'clamp_min', 'threshold_backward')),
    ('add', ('aten::add', )),
    ('pool/upsample', ('pool', 'upsample')),
    ('copy/cast', ('copy_', '_to_copy', 'empty', 'resize_')),
    ('optimizer', ('Optimizer', 'lerp_', 'addcdiv_', 'addcmul_', 'sqrt',
                   'mul_', 'div')),
)


def _op_class(name: str) -> str:
    for cls, parts in OP_CLASSES:
        if any(p in name for p in parts):
            return cls
    return 'other'


def profile_ops(fn: Callable[[], Any], top: int = 8) -> dict:
    """Profile one call of ``fn`` with ``torch.profiler``.

    Returns:
        dict: ``total_ms`` (self CPU time of all operators), ``top``: the
        ``top`` operators by self CPU time (``op``, ``self_ms``, ``share``,
        ``calls``) and ``classes``: milliseconds per operator class of
        :data:`OP_CLASSES` (convolutions, BatchNorm, ReLU, additions,
        pooling/upsampling, copies, the optimizer step, other).
    """
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [
        e for e in prof.key_averages()
        # the autograd engine's wrappers only add their children's time
        if not e.key.startswith('autograd::engine')
    ]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    classes: Dict[str, float] = {}
    for e in events:
        cls = _op_class(e.key)
        classes[cls] = classes.get(cls, 0.0) + e.self_cpu_time_total / 1e3
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)
    return dict(
        total_ms=total / 1e3,
        classes=dict(sorted(classes.items(), key=lambda kv: -kv[1])),
        top=[
            dict(
                op=e.key,
                self_ms=e.self_cpu_time_total / 1e3,
                share=e.self_cpu_time_total / total,
                calls=e.count) for e in rows[:top]
        ])


def summarize(times: Sequence[float]) -> Dict[str, float]:
    """Median (the figure reported), mean, min and max of seconds."""
    return dict(
        median=float(statistics.median(times)),
        mean=float(statistics.fmean(times)),
        min=float(min(times)),
        max=float(max(times)),
        n=len(times))


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return float(a / b)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def ensure_synthetic_data(root: str, num_images: int,
                          image_size: Tuple[int, int]) -> str:
    """Generate (once) a synthetic Animal-Pose dataset under ``root``."""
    from custom_pose.datasets.synthetic import generate_synthetic_animalpose
    stamp = osp.join(root, f'.benchmark_{num_images}_{image_size[0]}x'
                     f'{image_size[1]}')
    if not osp.exists(stamp):
        generate_synthetic_animalpose(
            root, num_images=num_images, seed=0, image_size=image_size,
            with_clip=False)
        Path(stamp).touch()
    return root


def build_dataset(cfg, data_root: str, pipeline: Sequence[dict]):
    """Our dataset (all images of ``data_root``) with ``pipeline``."""
    from mmengine.registry import init_default_scope

    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(
        data_root=data_root, split='all', pipeline=list(pipeline),
        test_mode=False)
    for key in ('split_ratio', 'split_seed'):
        ds_cfg.pop(key, None)
    return DATASETS.build(ds_cfg)


def make_batch(dataset, n: int) -> dict:
    """``n`` samples (cycling through the dataset) collated as the
    dataloader does."""
    from mmengine.dataset import pseudo_collate
    samples = [dataset[i % len(dataset)] for i in range(n)]
    return pseudo_collate(samples)


def val_pipeline(cfg) -> list:
    return list(cfg.val_dataloader.dataset.pipeline)


def train_pipeline(cfg) -> list:
    return list(cfg.train_dataloader.dataset.pipeline)


# ---------------------------------------------------------------------------
# options and context
# ---------------------------------------------------------------------------
@dataclass
class Options:
    """Settings of one benchmark run (see the command line for help)."""
    sections: Tuple[str, ...] = SECTIONS
    device: str = 'cpu'
    iters: int = 3
    warmup: int = 1
    threads: Optional[int] = None
    fast_paths: bool = False
    compile: bool = False
    out_dir: str = 'work_dirs/benchmark'
    quick: bool = False
    models: Optional[Tuple[str, ...]] = None
    train_variants: Optional[Tuple[str, ...]] = None
    infer_variants: Optional[Tuple[str, ...]] = None
    train_batch: int = 8
    infer_batches: Tuple[int, ...] = (1, 32)
    flip_modes: Tuple[bool, ...] = (False, True)
    data_workers: Tuple[int, ...] = (0, 1, 2)
    data_batch: int = 16
    data_batches: int = 8
    data_images: int = 64
    data_image_size: Tuple[int, int] = (256, 256)
    video_frames: int = 64
    video_size: Tuple[int, int] = (640, 480)
    video_batch: int = 16
    video_repeats: int = 3
    cudnn_benchmark: bool = False
    min_time: float = 2.0
    check_images: int = 4
    fit_steps: int = 300
    profile: bool = False
    #: before each measurement, wait until other processes use fewer cores
    #: than this (None: do not wait)
    wait_quiet: Optional[float] = None
    config_dir: Optional[str] = None
    demo_script: Optional[str] = None
    video_checkpoint: Optional[str] = None
    #: model name -> checkpoint of ours for the infer section's checks
    #: (instead of fitting the heatmap tail)
    checkpoints: Optional[Dict[str, str]] = None
    seed: int = 0

    #: fields set explicitly (e.g. on the command line): ``--quick`` keeps
    #: them
    explicit: Tuple[str, ...] = ()

    def apply_quick(self) -> None:
        """Tiny settings (structure checks, not timings), except for the
        fields named in :attr:`explicit`."""
        quick = dict(
            iters=1,
            warmup=0,
            min_time=0.0,
            train_batch=2,
            infer_batches=(1, 2),
            data_workers=(0, 1),
            data_batch=2,
            data_batches=2,
            data_images=4,
            data_image_size=(96, 96),
            video_frames=4,
            video_size=(96, 64),
            video_batch=2,
            video_repeats=1,
            check_images=2,
            fit_steps=30,
            models=('res18_128', ))
        for key, value in quick.items():
            if key not in self.explicit:
                setattr(self, key, value)

    def models_for(self, section: str) -> Tuple[str, ...]:
        if self.models is not None:
            names = self.models
        else:
            names = DEFAULT_MODELS[section]
        unknown = [n for n in names if n not in MODEL_SPECS]
        if unknown:
            raise ValueError(f'unknown model(s) {unknown}; known: '
                             f'{sorted(MODEL_SPECS)}')
        if section in ('train', 'infer'):
            names = tuple(n for n in names
                          if MODEL_SPECS[n].mmpose_backbone is not None)
        return tuple(names)


class _Context:
    """Shared state of a run: options, caches of configs and datasets."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.config_dir = Path(opts.config_dir or config_dir_default())
        self.out_dir = Path(opts.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._cfgs: Dict[str, Any] = {}
        self._data_root: Optional[str] = None
        self.log_lines: List[str] = []

    def log(self, msg: str) -> None:
        line = f'[benchmark {time.strftime("%H:%M:%S")}] {msg}'
        self.log_lines.append(line)
        print(line, file=sys.stderr, flush=True)

    def cfg(self, name: str):
        if name not in self._cfgs:
            self._cfgs[name] = load_model_config(MODEL_SPECS[name],
                                                 self.config_dir)
        return self._cfgs[name]

    @property
    def data_root(self) -> str:
        if self._data_root is None:
            o = self.opts
            root = str(self.out_dir / 'synthetic_data')
            self.log(f'synthetic data: {o.data_images} images of '
                     f'{o.data_image_size[0]}x{o.data_image_size[1]} in '
                     f'{root}')
            self._data_root = ensure_synthetic_data(root, o.data_images,
                                                    o.data_image_size)
        return self._data_root

    def gflops(self, name: str, side: str) -> float:
        """GFLOPs of one side's model at its config's input size."""
        key = f'gflops/{name}/{side}'
        if key not in self._cfgs:
            cfg = self.cfg(name)
            w, h = input_size_of(cfg)
            model = build_model(
                model_cfg_for(MODEL_SPECS[name], side, cfg), 'cpu',
                self.opts.seed)
            self._cfgs[key] = count_params_flops(model, (h, w))[1]
        return self._cfgs[key]

    def work_ratio(self, name: str) -> float:
        """GFLOPs of ours / GFLOPs of mmpose's model (1 for the same
        architecture)."""
        return self.gflops(name, 'ours') / self.gflops(name, 'mmpose')

    def check_batch(self, name: str) -> dict:
        """The crops the fast paths are checked on (with targets)."""
        key = f'check/{name}'
        if key not in self._cfgs:
            cfg = self.cfg(name)
            dataset = build_dataset(cfg, self.data_root, fit_pipeline(cfg))
            self._cfgs[key] = make_batch(dataset, self.opts.check_images)
        return self._cfgs[key]

    def batch(self, name: str, n: int, train: bool) -> dict:
        cfg = self.cfg(name)
        pipeline = train_pipeline(cfg) if train else val_pipeline(cfg)
        dataset = build_dataset(cfg, self.data_root, pipeline)
        return make_batch(dataset, n)


# ---------------------------------------------------------------------------
# section 1: training step
# ---------------------------------------------------------------------------
def _optim_wrapper(model: nn.Module, variant: Variant, device: str, cfg):
    """The config's optimizer (the same for both sides) in an
    ``OptimWrapper``; ``AmpOptimWrapper`` (loss scaling) for CUDA AMP. On
    CPU, bf16 needs no loss scaling and the autocast is in the model
    (mmengine's AmpOptimWrapper refuses to run without a GPU)."""
    from mmengine.optim import build_optim_wrapper
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg['type'] = 'OptimWrapper'
    for key in ('dtype', 'loss_scale'):
        wrapper_cfg.pop(key, None)
    if variant.amp_dtype is not None and torch.device(
            device).type == 'cuda':
        wrapper_cfg.update(
            type='AmpOptimWrapper', loss_scale='dynamic',
            dtype=variant.amp_dtype)
    return build_optim_wrapper(model, wrapper_cfg)


def _train_step_fn(model, optim_wrapper,
                   data) -> Callable[[], Dict[str, torch.Tensor]]:

    def step():
        return model.train_step(data, optim_wrapper)

    return step


def _loss_and_grads(model: nn.Module,
                    data: dict) -> Tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
    grads = torch.cat([
        p.grad.detach().float().flatten() for p in model.parameters()
        if p.grad is not None
    ])
    return float(loss.detach()), grads


def train_check(model: nn.Module, data: dict, variant: Variant,
                device: str) -> Dict[str, float]:
    """Loss and gradients of one step of ``variant`` against fp32, from the
    same weights and batch (BN in train mode uses batch statistics)."""
    ref_model = copy.deepcopy(model).train()
    ref_loss, ref_grads = _loss_and_grads(ref_model, data)
    fast_model = prepare_model(
        model,
        Variant(variant.name, variant.precision, variant.channels_last),
        train=True,
        device=device)
    loss, grads = _loss_and_grads(fast_model, data)
    cos = torch.nn.functional.cosine_similarity(
        ref_grads.double(), grads.double(), dim=0)
    check = dict(
        loss_fp32=ref_loss,
        loss=loss,
        loss_rel_diff=abs(loss - ref_loss) / max(abs(ref_loss), 1e-12),
        grad_cosine=float(cos))
    check['within_goal'] = train_check_passes(check)
    return check


def run_train_section(ctx: _Context) -> List[dict]:
    o = ctx.opts
    rows = []
    variants = [
        Variant.parse(v) for v in (o.train_variants or default_variants(
            'train', o.device, o.fast_paths, o.compile))
    ]
    for name in o.models_for('train'):
        spec = MODEL_SPECS[name]
        cfg = ctx.cfg(name)
        data = ctx.batch(name, o.train_batch, train=True)
        ref_imgs = {}
        for variant in variants:
            variant.check_device(o.device)
            ctx.log(f'train {name} {variant.name} batch {o.train_batch}')
            fns = {}
            for side in ('ours', 'mmpose'):
                model = build_model(
                    model_cfg_for(spec, side, cfg), o.device, o.seed)
                model = prepare_model(model, variant, train=True,
                                      device=o.device)
                fns[side] = _train_step_fn(
                    model, _optim_wrapper(model, variant, o.device, cfg),
                    data)
            wait_quiet(o.wait_quiet, ctx.log)
            times = time_interleaved(fns, o.iters, o.warmup, o.device)
            busy = LAST_TIMING.get('foreign_load')
            prof = ({side: profile_ops(fns[side])
                     for side in ('ours', 'mmpose')} if o.profile else None)
            del fns
            row = dict(
                model=name, variant=variant.name, batch=o.train_batch,
                input=list(input_size_of(cfg)), foreign_load=busy)
            for side in ('ours', 'mmpose'):
                s = summarize(times[side])
                row[side] = dict(
                    step_s=s, images_per_s=o.train_batch / s['median'])
            ours_ips = row['ours']['images_per_s']
            mm_ips = row['mmpose']['images_per_s']
            row['ratio'] = _ratio(ours_ips, mm_ips)
            row['ratio_per_flop'] = row['ratio'] * ctx.work_ratio(name)
            if variant.is_plain:
                ref_imgs = dict(ours=ours_ips, mmpose=mm_ips)
            row['ratio_vs_mmpose_fp32'] = _ratio(ours_ips,
                                                 ref_imgs.get('mmpose'))
            row['speedup_vs_ours_fp32'] = _ratio(ours_ips,
                                                 ref_imgs.get('ours'))
            if prof is not None:
                row['profile'] = prof
            if not variant.is_plain:
                model = build_model(
                    model_cfg_for(spec, 'ours', cfg), o.device, o.seed)
                row['check'] = train_check(model, data, variant, o.device)
            rows.append(row)
            ctx.log(f'  ours {ours_ips:.2f} img/s, mmpose {mm_ips:.2f} '
                    f'img/s, ratio {row["ratio"]:.3f}')
    return rows


# ---------------------------------------------------------------------------
# section 2: inference
# ---------------------------------------------------------------------------
def _predict_fn(model, data):
    result = {}

    def run():
        with torch.no_grad():
            result['out'] = model.test_step(data)
        return result['out']

    return run, result


def _keypoints_of(outputs) -> Tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) keypoints in image pixels and (N, 1) image->input pixel
    factors of ``test_step`` outputs."""
    kpts, factors = [], []
    for sample in outputs:
        kpts.append(np.asarray(sample.pred_instances.keypoints[0],
                               np.float64))
        size = np.asarray(sample.metainfo['input_size'], np.float64)
        scale = np.asarray(sample.metainfo['input_scale'],
                           np.float64).reshape(-1)[:2]
        factors.append([float(size[0] / scale[0])])
    return np.stack(kpts), np.asarray(factors)


def _set_flip(model: nn.Module, flip: bool) -> nn.Module:
    model.test_cfg = dict(model.test_cfg or {}, flip_test=flip)
    return model


def check_models(ctx: '_Context', name: str) -> Tuple[dict, dict, dict]:
    """Both sides' base models of ``name`` for inference (BN statistics of
    the synthetic crops; ours with its heatmap tail fitted to the check
    crops, see :func:`fit_heatmap_tail`, or with the weights of
    ``Options.checkpoints[name]``), the check batch, and the fit record."""
    o = ctx.opts
    spec = MODEL_SPECS[name]
    cfg = ctx.cfg(name)
    check_data = ctx.check_batch(name)
    models = {}
    fit = {}
    for side in ('ours', 'mmpose'):
        model = build_model(model_cfg_for(spec, side, cfg), o.device, o.seed)
        ckpt = (o.checkpoints or {}).get(name)
        if side == 'ours' and ckpt:
            from mmengine.runner import load_checkpoint
            ctx.log(f'{name}: weights of {ckpt}')
            load_checkpoint(model, ckpt, map_location=o.device, strict=True,
                            logger='silent')
            fit = dict(checkpoint=ckpt)
        else:
            calibrate_bn(model, check_data)
        if side == 'ours' and not ckpt:
            ctx.log(f'fit {name} heatmap tail to {o.check_images} crops')
            fit = fit_heatmap_tail(
                model, check_data, max_steps=o.fit_steps, amp=True)
            ctx.log(f'  loss {fit["loss_start"]:.2e} -> {fit["loss_end"]:.2e}'
                    f' (zero heatmaps: {fit["loss_zero"]:.2e}) in '
                    f'{fit["steps"]} steps, {fit["seconds"]:.0f} s')
        models[side] = model.eval()
    return models, dict(check_data=check_data), fit


def keypoint_check(ref_model: nn.Module, model: nn.Module, data: dict,
                   flip: bool) -> dict:
    """Keypoints of ``model`` against ``ref_model`` on ``data``: distances
    in model-input pixels over the labelled keypoints (``labelled``, the
    goal: mean < 1 px) and over all keypoints (``all``)."""
    from custom_pose.models.utils import keypoint_deviation
    outs = []
    for m in (ref_model, model):
        m = _set_flip(m, flip)
        with torch.no_grad():
            outs.append(_keypoints_of(m.test_step(data)))
    (ref, factors), (kpts, _) = outs
    factors = np.broadcast_to(factors, ref.shape[:2])
    mask = labelled_mask(data)
    labelled = keypoint_deviation(ref[mask], kpts[mask], factors[mask])
    labelled['within_goal'] = labelled['mean'] < MAX_MEAN_KPT_DEV_PX
    return dict(
        labelled=labelled,
        all=keypoint_deviation(ref, kpts, factors),
        num_labelled=int(mask.sum()))


def run_infer_section(ctx: _Context) -> List[dict]:
    o = ctx.opts
    rows = []
    variants = [
        Variant.parse(v) for v in (o.infer_variants or default_variants(
            'infer', o.device, o.fast_paths, o.compile))
    ]
    for v in variants:
        v.check_device(o.device)
    for name in o.models_for('infer'):
        cfg = ctx.cfg(name)
        base, extra, fit = check_models(ctx, name)
        check_data = extra['check_data']
        prepared = {(side, v.name): prepare_model(
            base[side], v, train=False, device=o.device)
                    for side in base for v in variants}
        checks = {}
        for v in variants:
            if v.is_plain:
                continue
            for flip in o.flip_modes:
                checks[(v.name, flip)] = keypoint_check(
                    base['ours'], prepared[('ours', v.name)], check_data,
                    flip)
        for batch_size in o.infer_batches:
            data = ctx.batch(name, batch_size, train=False)
            for flip in o.flip_modes:
                refs: Dict[str, Any] = {}
                for variant in variants:
                    ctx.log(f'infer {name} {variant.name} batch '
                            f'{batch_size} flip {flip}')
                    fns = {
                        side: _predict_fn(
                            _set_flip(prepared[(side, variant.name)], flip),
                            data)[0]
                        for side in ('ours', 'mmpose')
                    }
                    wait_quiet(o.wait_quiet, ctx.log)
                    times = time_interleaved(
                        fns, o.iters, o.warmup, o.device,
                        min_time=o.min_time)
                    row = dict(
                        model=name, variant=variant.name, batch=batch_size,
                        flip_test=flip, input=list(input_size_of(cfg)),
                        foreign_load=LAST_TIMING.get('foreign_load'))
                    for side in ('ours', 'mmpose'):
                        s = summarize(times[side])
                        row[side] = dict(
                            latency_ms=s['median'] * 1e3,
                            images_per_s=batch_size / s['median'],
                            call_s=s)
                    ours_ips = row['ours']['images_per_s']
                    mm_ips = row['mmpose']['images_per_s']
                    row['ratio'] = _ratio(ours_ips, mm_ips)
                    row['ratio_per_flop'] = row['ratio'] * ctx.work_ratio(
                        name)
                    if variant.is_plain:
                        refs = dict(ours_ips=ours_ips, mmpose_ips=mm_ips)
                    row['ratio_vs_mmpose_fp32'] = _ratio(
                        ours_ips, refs.get('mmpose_ips'))
                    row['speedup_vs_ours_fp32'] = _ratio(
                        ours_ips, refs.get('ours_ips'))
                    if o.profile and batch_size == max(o.infer_batches):
                        row['profile'] = {
                            side: profile_ops(fns[side])
                            for side in ('ours', 'mmpose')
                        }
                    if (variant.name, flip) in checks:
                        row['check'] = dict(
                            kpt_dev_input_px=checks[(variant.name, flip)],
                            fit=fit)
                    rows.append(row)
                    ctx.log(f'  ours {row["ours"]["latency_ms"]:.1f} ms '
                            f'({ours_ips:.2f} img/s), mmpose '
                            f'{row["mmpose"]["latency_ms"]:.1f} ms, ratio '
                            f'{row["ratio"]:.3f}')
    return rows


# ---------------------------------------------------------------------------
# section 3: data pipeline
# ---------------------------------------------------------------------------
def _transform_profile(dataset, num_samples: int) -> List[dict]:
    """Milliseconds per sample of each transform of the pipeline."""
    transforms = dataset.pipeline.transforms
    totals = [0.0] * len(transforms)
    for i in range(num_samples):
        results = dataset.get_data_info(i % len(dataset))
        for j, t in enumerate(transforms):
            t0 = time.perf_counter()
            results = t(results)
            totals[j] += time.perf_counter() - t0
    return [
        dict(transform=type(t).__name__, ms_per_sample=1e3 * s / num_samples)
        for t, s in zip(transforms, totals)
    ]


def run_data_section(ctx: _Context) -> dict:
    from mmengine.runner import Runner
    o = ctx.opts
    name = o.models_for('data')[0]
    cfg = ctx.cfg(name)
    rows = []
    for workers in o.data_workers:
        ctx.log(f'data {name} workers {workers}')
        busy = wait_quiet(o.wait_quiet, ctx.log)
        loader_cfg = dict(
            batch_size=o.data_batch,
            num_workers=workers,
            persistent_workers=workers > 0,
            sampler=dict(type='InfiniteSampler', shuffle=True, seed=o.seed),
            dataset=dict(
                copy.deepcopy(cfg.train_dataloader.dataset),
                data_root=ctx.data_root,
                split='all'))
        for key in ('split_ratio', 'split_seed'):
            loader_cfg['dataset'].pop(key, None)
        loader = Runner.build_dataloader(loader_cfg, seed=o.seed)
        t0 = time.perf_counter()
        it = iter(loader)
        next(it)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(o.data_batches):
            next(it)
        elapsed = time.perf_counter() - t0
        del it, loader
        rows.append(
            dict(
                workers=workers,
                batch=o.data_batch,
                batches=o.data_batches,
                first_batch_s=first,
                samples_per_s=o.data_batch * o.data_batches / elapsed,
                foreign_load_before=busy))
        ctx.log(f'  {rows[-1]["samples_per_s"]:.1f} samples/s')
    dataset = build_dataset(cfg, ctx.data_root, train_pipeline(cfg))
    profile = _transform_profile(dataset, max(o.data_batch, 4))
    return dict(
        model=name,
        input=list(input_size_of(cfg)),
        images=o.data_images,
        image_size=list(o.data_image_size),
        rows=rows,
        transform_profile=profile)


# ---------------------------------------------------------------------------
# section 4: video demo
# ---------------------------------------------------------------------------
def _demo_path(opts: Options) -> Path:
    return Path(opts.demo_script or (
        REPO_ROOT / 'demo' / 'top_down_video_demo_full_frame_without_det.py'))


def _load_demo(path: Path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('_cp_video_demo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_DEMO_FPS = re.compile(r'(\d+) frames in ([\d.]+) s \(([\d.]+) frames/s\)')


def _run_demo(demo, argv: List[str]) -> Tuple[int, float, float]:
    """Run the demo's ``main``; (frames, its frames/s, wall seconds)."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = demo.main(argv)
    wall = time.perf_counter() - t0
    if status:
        raise RuntimeError(f'video demo exited with {status}: '
                           f'{err.getvalue()[-2000:]}')
    m = _DEMO_FPS.search(out.getvalue())
    if m is None:
        raise RuntimeError('video demo: no "N frames in T s (F frames/s)" '
                           f'line in its output: {out.getvalue()[-2000:]}')
    return int(m.group(1)), float(m.group(3)), wall


def _mmpose_video(config: str,
                  checkpoint: str,
                  video: str,
                  out_video: str,
                  device: str,
                  draw: bool = True) -> Tuple[int, float, float, np.ndarray]:
    """mmpose's per-frame path: ``inference_topdown`` on the whole frame,
    mmpose's visualizer and ``cv2.VideoWriter`` (only decoding and
    ``inference_topdown`` with ``draw=False``). (frames, frames/s of the
    frame loop, wall seconds with model loading, keypoints (N, K, 2))."""
    import cv2
    import mmcv

    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    t_wall = time.perf_counter()
    model = init_model(config, checkpoint, device=device)
    if draw:
        visualizer = VISUALIZERS.build(copy.deepcopy(model.cfg.visualizer))
        visualizer.set_dataset_meta(model.dataset_meta)
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = (cv2.VideoWriter(out_video, cv2.VideoWriter_fourcc(*'mp4v'),
                              fps, size) if draw else None)
    kpts = []
    n = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        results = inference_topdown(model, frame)
        data_sample = merge_data_samples(results)
        kpts.append(np.asarray(data_sample.pred_instances.keypoints[0]))
        n += 1
        if not draw:
            continue
        visualizer.add_datasample(
            'result',
            mmcv.bgr2rgb(frame),
            data_sample=data_sample,
            draw_gt=False,
            draw_heatmap=False,
            draw_bbox=False,
            show=False,
            wait_time=0,
            kpt_thr=0.3)
        writer.write(mmcv.rgb2bgr(visualizer.get_image()))
    if writer is not None:
        writer.release()
    cap.release()
    elapsed = time.perf_counter() - t0
    return n, n / elapsed, time.perf_counter() - t_wall, np.stack(kpts)


def clip_batch(cfg, video: str, gt_file: str,
               metainfo: dict) -> Tuple[dict, np.ndarray]:
    """Every frame of a synthetic clip as a collated batch through
    :func:`fit_pipeline` (the whole frame as the box, targets from the
    clip's ground truth), and the (N, K) mask of labelled keypoints."""
    import cv2
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    gt = json.loads(Path(gt_file).read_text())['frames']
    pipeline = Compose(fit_pipeline(cfg))
    cap = cv2.VideoCapture(video)
    samples, masks = [], []
    for frame_gt in gt:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        kpts = np.asarray(frame_gt['keypoints'], np.float32)
        info = dict(
            img=frame,
            bbox=np.array([[0, 0, w, h]], np.float32),
            bbox_score=np.ones(1, np.float32),
            keypoints=kpts[None, :, :2],
            keypoints_visible=(kpts[None, :, 2] > 0).astype(np.float32))
        info.update(metainfo)
        samples.append(pipeline(info))
        masks.append(kpts[:, 2] > 0)
    cap.release()
    return pseudo_collate(samples), np.stack(masks)


def _full_frame_factor(cfg, width: int, height: int) -> float:
    """Image -> model-input pixels for a whole-frame box (padding 1.25)."""
    iw, ih = input_size_of(cfg)
    sw, sh = width * 1.25, height * 1.25
    if sw > sh * iw / ih:
        sh = sw * ih / iw
    else:
        sw = sh * iw / ih
    return iw / sw


def _fitted_video_checkpoint(ctx: '_Context', name: str, cfg,
                             clip_data: dict, metainfo: dict,
                             ckpt: Path) -> Tuple[dict, List[int]]:
    """Save a checkpoint of ``name`` built from its config: seeded weights,
    BN statistics of the clip, the heatmap tail fitted to a few of its
    frames (sharp heatmaps, as a trained model has), the dataset meta."""
    from mmengine.runner import save_checkpoint
    o = ctx.opts
    spec = MODEL_SPECS[name]
    num = len(clip_data['inputs'])
    count = min(num, max(4 * o.check_images, 2))
    fit_idx = [int(i) for i in np.linspace(0, num - 1, count).round()]
    fit_data = dict(
        inputs=[clip_data['inputs'][i] for i in fit_idx],
        data_samples=[clip_data['data_samples'][i] for i in fit_idx])
    model = build_model(model_cfg_for(spec, 'ours', cfg), 'cpu', o.seed)
    calibrate_bn(model, fit_data)
    ctx.log(f'fit {name} heatmap tail to {len(fit_idx)} clip frames')
    fit = fit_heatmap_tail(model, fit_data, max_steps=o.fit_steps, amp=True)
    save_checkpoint(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=metainfo)), str(ckpt))
    return fit, fit_idx


#: the video row of mmpose's per-frame loop without drawing and writing
MMPOSE_NO_DRAW = 'mmpose inference_topdown only (no drawing, no writing)'


def run_video_section(ctx: _Context) -> dict:
    from custom_pose.datasets.synthetic import make_clip
    from custom_pose.models.utils import keypoint_deviation
    o = ctx.opts
    demo_path = _demo_path(o)
    if not demo_path.is_file():
        return dict(status='skipped', reason=f'demo not found: {demo_path}')
    name = o.models_for('video')[0]
    spec = MODEL_SPECS[name]
    cfg = ctx.cfg(name)
    config_path = str(ctx.config_dir / spec.config)
    work = ctx.out_dir / 'video'
    work.mkdir(parents=True, exist_ok=True)
    clip_name = (f'clip_{o.video_size[0]}x{o.video_size[1]}_'
                 f'{o.video_frames}.mp4')
    clip = work / clip_name
    if not clip.exists():
        make_clip(
            str(work), seed=0, num_frames=o.video_frames, fps=25,
            image_size=o.video_size, video_name=clip_name,
            keypoints_name=clip_name + '.json')
    # a checkpoint of the model built from the config: seeded weights, BN
    # statistics of the clip, the head fitted to a few of its frames (sharp
    # heatmaps, as a trained model has), and the dataset meta
    ckpt = work / f'{name}_seed{o.seed}_fitted.pth'
    dataset = build_dataset(cfg, ctx.data_root, val_pipeline(cfg))
    clip_data, labelled = clip_batch(cfg, str(clip), str(clip) + '.json',
                                     dataset.metainfo)
    fit: Dict[str, Any] = {}
    fit_idx: List[int] = []
    if o.video_checkpoint:
        ckpt = Path(o.video_checkpoint)
        if not ckpt.is_file():
            raise FileNotFoundError(f'video checkpoint not found: {ckpt}')
    else:
        fit, fit_idx = _fitted_video_checkpoint(ctx, name, cfg, clip_data,
                                                dataset.metainfo, ckpt)
    demo = _load_demo(demo_path)
    # every row but mmpose's runs the demo itself, with these extra flags
    demo_rows = {'ours_demo': []}
    if o.fast_paths:
        demo_rows['ours_demo --no-fuse-conv-bn --no-channels-last'] = [
            '--no-fuse-conv-bn', '--no-channels-last'
        ]
        demo_rows['ours_demo --amp'] = ['--amp']
    runs: Dict[str, List[Tuple[int, float, float, Optional[float]]]] = {}
    kpts: Dict[str, np.ndarray] = {}
    for rep in range(o.video_repeats):
        ctx.log(f'video {name} repeat {rep + 1}/{o.video_repeats}')
        order = ['mmpose', MMPOSE_NO_DRAW] + list(demo_rows)
        if rep % 2:
            order = order[::-1]
        for key in order:
            wait_quiet(o.wait_quiet, ctx.log)
            snap = cpu_snapshot()
            if key in ('mmpose', MMPOSE_NO_DRAW):
                n, fps, wall, k = _mmpose_video(
                    config_path, str(ckpt), str(clip),
                    str(work / 'out_mmpose.mp4'), o.device,
                    draw=key == 'mmpose')
                kpts[key] = k
            else:
                out_root = work / f'demo_out_{list(demo_rows).index(key)}'
                n, fps, wall = _run_demo(demo, [
                    config_path, str(ckpt), '--video-path', str(clip),
                    '--out-video-root', str(out_root), '--device', o.device,
                    '--batch-size', str(o.video_batch), '--save-predictions'
                ] + demo_rows[key])
                pred = json.loads((out_root / (
                    f'vis_{clip.stem}.json')).read_text())
                kpts[key] = np.asarray(
                    [f['keypoints'] for f in pred['frames']], np.float64)
            runs.setdefault(key, []).append(
                (n, fps, wall, foreign_load(snap, cpu_snapshot())))
    factor = _full_frame_factor(cfg, *o.video_size)
    mm_fps = statistics.median(r[1] for r in runs['mmpose'])
    rows = []
    for key, rs in runs.items():
        fps = statistics.median(r[1] for r in rs)
        row = dict(
            pipeline=key,
            frames=rs[0][0],
            fps=fps,
            fps_runs=[r[1] for r in rs],
            wall_s=statistics.median(r[2] for r in rs),
            foreign_load=max((r[3] or 0.0) for r in rs),
            ratio_vs_mmpose=_ratio(fps, mm_fps))
        if key != 'mmpose' and kpts[key].shape == kpts['mmpose'].shape:
            dev = keypoint_deviation(kpts['mmpose'][labelled],
                                     kpts[key][labelled],
                                     px_per_unit=factor)
            dev['within_goal'] = dev['mean'] < MAX_MEAN_KPT_DEV_PX
            dev['all'] = keypoint_deviation(kpts['mmpose'], kpts[key],
                                            px_per_unit=factor)
            row['kpt_dev_vs_mmpose_input_px'] = dev
        rows.append(row)
        ctx.log(f'  {key}: {fps:.1f} frames/s')
    return dict(
        status='ok',
        model=name,
        config=spec.config,
        clip=dict(
            frames=o.video_frames, size=list(o.video_size), fps=25),
        demo_batch_size=o.video_batch,
        checkpoint=str(o.video_checkpoint) if o.video_checkpoint else
        'built from the config, heatmap tail fitted to the clip',
        fit=dict(fit, frames=fit_idx),
        rows=rows)


# ---------------------------------------------------------------------------
# section 5: parameters and FLOPs
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


def run_flops_section(ctx: _Context) -> List[dict]:
    o = ctx.opts
    rows = []
    for name in o.models_for('flops'):
        spec = MODEL_SPECS[name]
        cfg = ctx.cfg(name)
        w, h = input_size_of(cfg)
        sizes = [(h, w)]
        if not o.quick and (h, w) != (256, 192):
            sizes.insert(0, (256, 192))
        sides = ['ours'] + (['mmpose'] if spec.mmpose_backbone else [])
        for side in sides:
            ctx.log(f'flops {name} {side}')
            model = build_model(model_cfg_for(spec, side, cfg), 'cpu', o.seed)
            gflops, backbone_gflops = {}, {}
            params = 0.0
            for hw in sizes:
                params, flops = count_params_flops(model, hw)
                gflops[f'{hw[0]}x{hw[1]}'] = flops
                backbone_gflops[f'{hw[0]}x{hw[1]}'] = count_params_flops(
                    model.backbone, hw)[1]
            rows.append(
                dict(
                    model=name,
                    side=side,
                    backbone=cfg.model.backbone.type
                    if side == 'ours' else spec.mmpose_backbone['type'],
                    head=cfg.model.head.type
                    if side == 'ours' else spec.mmpose_head['type'],
                    params_m=params,
                    gflops=gflops,
                    backbone_gflops=backbone_gflops,
                    published=spec.published if side == 'ours' else None,
                    note=spec.note if side == 'ours' else ''))
    return rows


# ---------------------------------------------------------------------------
# machine, report
# ---------------------------------------------------------------------------
def machine_info(device: str) -> dict:
    """CPU model, cores, memory, GPU and library versions."""
    import mmcv
    import mmengine

    import mmpose
    cpu_model, flags = '', set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and not cpu_model:
                    cpu_model = line.split(':', 1)[1].strip()
                elif line.startswith('flags') and not flags:
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    cpu_model = cpu_model or platform.processor() or 'unknown CPU'
    mem_gb = None
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal'):
                    mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    info = dict(
        cpu=cpu_model,
        cpu_flags=sorted(flags & {'avx2', 'avx512f', 'avx512_bf16',
                                  'amx_bf16', 'amx_int8', 'amx_tile'}),
        logical_cores=os.cpu_count(),
        memory_gb=mem_gb,
        os=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        mkldnn=torch.backends.mkldnn.is_available(),
        mmengine=mmengine.__version__,
        mmcv=mmcv.__version__,
        mmpose=mmpose.__version__,
        device=device)
    if torch.device(device).type == 'cuda' and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
        info['cuda'] = torch.version.cuda
        info['cudnn'] = torch.backends.cudnn.version()
    return info


def _load_avg() -> Optional[List[float]]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _f(v: Optional[float], fmt: str = '.2f') -> str:
    return '-' if v is None else format(v, fmt)


#: rows measured while other processes used more cores than this are
#: marked in the Markdown
BUSY_FLAG = 0.3


def _busy_mark(row: dict) -> str:
    return ' *' if (row.get('foreign_load') or 0.0) > BUSY_FLAG else ''


def render_markdown(report: dict) -> str:
    """The report as Markdown tables."""
    m = report['machine']
    s = report['settings']
    lines = [
        '## Benchmark: custom_pose vs mmpose built-ins',
        '',
        f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores'
        + (f', {m["memory_gb"]} GB' if m.get('memory_gb') else '')
        + (f', {", ".join(m["cpu_flags"])}' if m.get('cpu_flags') else '')
        + (f'; GPU {m["gpu"]}' if m.get('gpu') else '') + '.',
        f'Software: torch {m["torch"]} ({s["threads"]} threads), mmpose '
        f'{m["mmpose"]}, mmengine {m["mmengine"]}, mmcv {m["mmcv"]}, Python '
        f'{m["python"]}. Device: {s["device"]}. Load average at start / end:'
        f' {report.get("load_avg_start")} / {report.get("load_avg_end")}.',
        f'Run: {report["created"]}, `{report["command"]}`; medians of '
        f'{s["iters"]}+ timed iterations after {s["warmup"]} warm-up, the '
        'two sides interleaved.',
        '',
        'Ratio = ours / mmpose at the same numeric path (> 1: ours '
        'faster; the JSON also has `ratio_per_flop`, weighted by the two '
        'models\' FLOPs, which differ for the hourglass pair only); "vs '
        'mmpose fp32" = ours on that path / mmpose on its plain fp32 path. Paths: `fp32` plain; `fuse` BN folded into convs; `cl` '
        'channels-last; `bf16` CPU autocast; `fp16` CUDA autocast. Checks '
        'of a fast path against ours at fp32: keypoint distance in '
        'model-input pixels (mean, max; goal: mean < 1 px) for inference, '
        'relative loss difference and gradient cosine for training (goal: '
        f'cosine >= {MIN_TRAIN_GRAD_COSINE}; "fails" marks a miss). Summary '
        'figures of fast paths count only rows whose check passes.',
    ]
    sections = report['sections']
    busy_rows = [
        r for sec in ('train', 'infer')
        for r in sections.get(sec) or []
        if (r.get('foreign_load') or 0.0) > BUSY_FLAG
    ]
    loads = [
        r.get('foreign_load') for sec in ('train', 'infer')
        for r in sections.get(sec) or [] if r.get('foreign_load') is not None
    ]
    if loads:
        lines += [
            '', f'Other processes used {min(loads):.2f} .. {max(loads):.2f} '
            'cores (average over each measurement; rows above '
            f'{BUSY_FLAG} are marked *): {len(busy_rows)} of {len(loads)} '
            'rows marked.'
        ]
    if 'train' in sections:
        lines += [
            '', '### 1. Training step (forward + backward + Adam step)', '',
            '| model | input | batch | path | ours img/s | mmpose img/s | '
            'ratio | vs mmpose fp32 | check |',
            '|---|---|---|---|---|---|---|---|---|'
        ]
        for r in sections['train']:
            c = r.get('check')
            check = (f'loss {c["loss_rel_diff"]:.1e}, grad cos '
                     f'{c["grad_cosine"]:.4f}' if c else '-')
            if c and not train_check_passes(c):
                check += ' (fails)'
            lines.append(
                f'| {r["model"]}{_busy_mark(r)} | '
                f'{r["input"][0]}x{r["input"][1]} | '
                f'{r["batch"]} | {r["variant"]} | '
                f'{r["ours"]["images_per_s"]:.2f} | '
                f'{r["mmpose"]["images_per_s"]:.2f} | {_f(r["ratio"])} | '
                f'{_f(r["ratio_vs_mmpose_fp32"])} | {check} |')
    if 'infer' in sections:
        lines += [
            '', '### 2. Inference (`test_step`: preprocess, forward, '
            'flip test, decode)', '',
            '| model | batch | flip | path | ours ms | ours img/s | mmpose '
            'ms | mmpose img/s | ratio | vs mmpose fp32 | kpt dev px '
            '(mean / max) |', '|---|---|---|---|---|---|---|---|---|---|---|'
        ]
        for r in sections['infer']:
            c = r.get('check', {}).get('kpt_dev_input_px', {}).get('labelled')
            check = f'{c["mean"]:.3f} / {c["max"]:.2f}' if c else '-'
            lines.append(
                f'| {r["model"]}{_busy_mark(r)} | {r["batch"]} | '
                f'{"yes" if r["flip_test"] else "no"} | {r["variant"]} | '
                f'{r["ours"]["latency_ms"]:.1f} | '
                f'{r["ours"]["images_per_s"]:.2f} | '
                f'{r["mmpose"]["latency_ms"]:.1f} | '
                f'{r["mmpose"]["images_per_s"]:.2f} | {_f(r["ratio"])} | '
                f'{_f(r["ratio_vs_mmpose_fp32"])} | {check} |')
    if 'data' in sections:
        d = sections['data']
        lines += [
            '', f'### 3. Training data pipeline ({d["model"]} pipeline, '
            f'{d["input"][0]}x{d["input"][1]} crops, synthetic '
            f'{d["image_size"][0]}x{d["image_size"][1]} images)', '',
            '| workers | batch | samples/s | first batch s |',
            '|---|---|---|---|'
        ]
        for r in d['rows']:
            lines.append(f'| {r["workers"]} | {r["batch"]} | '
                         f'{r["samples_per_s"]:.1f} | '
                         f'{r["first_batch_s"]:.2f} |')
        lines += ['', '| transform | ms / sample |', '|---|---|']
        for t in d['transform_profile']:
            lines.append(f'| {t["transform"]} | {t["ms_per_sample"]:.2f} |')
    if 'video' in sections:
        v = sections['video']
        lines += ['', '### 4. Video demo, whole frame as the box']
        if v.get('status') != 'ok':
            lines += ['', f'Skipped: {v.get("reason")}']
        else:
            lines += [
                '', f'{v["model"]} ({v["config"]}), clip of '
                f'{v["clip"]["frames"]} frames {v["clip"]["size"][0]}x'
                f'{v["clip"]["size"][1]}, flip test as in the config. '
                '`mmpose`: `inference_topdown` per frame + mmpose\'s '
                'visualizer + `cv2.VideoWriter`; `ours_demo`: '
                '`demo/top_down_video_demo_full_frame_without_det.py` '
                f'(batch {v["demo_batch_size"]}) with its defaults (BN '
                'folded, channels-last, fp32) or the flags shown. Times '
                'from the first decoded frame to the last written one; '
                'keypoints compared on the labelled keypoints, in model-'
                'input pixels.', '',
                '| pipeline | frames | frames/s | ratio vs mmpose | wall s '
                '(with model load) | kpt dev vs mmpose px (mean / max) |',
                '|---|---|---|---|---|---|'
            ]
            for r in v['rows']:
                c = r.get('kpt_dev_vs_mmpose_input_px')
                check = f'{c["mean"]:.3f} / {c["max"]:.2f}' if c else '-'
                lines.append(
                    f'| {r["pipeline"]} | {r["frames"]} | {r["fps"]:.1f} | '
                    f'{_f(r["ratio_vs_mmpose"])} | {r["wall_s"]:.1f} | '
                    f'{check} |')
    if 'flops' in sections:
        lines += [
            '', '### 5. Parameters and FLOPs (mmengine counter, 1 '
            'multiply-add = 1 FLOP)', '',
            '| model | side | backbone + head | params M | GFLOPs (backbone) | '
            'published |', '|---|---|---|---|---|---|'
        ]
        notes = []
        for r in sections['flops']:
            g = ', '.join(
                f'{v:.2f} ({r["backbone_gflops"][k]:.2f}) @{k}'
                for k, v in r['gflops'].items())
            p = r.get('published')
            pub = (f'{p["params_m"]} M, {p["gflops"]} GFLOPs @{p["input"]} '
                   f'({p["source"]})' if p else '-')
            lines.append(f'| {r["model"]} | {r["side"]} | {r["backbone"]} + '
                         f'{r["head"]} | {r["params_m"]:.2f} | {g} | {pub} |')
            if r.get('note'):
                notes.append(f'{r["model"]}: {r["note"]}.')
        notes.append(
            'Published GFLOPs of SimpleBaseline count the deconvolution '
            'head several times higher than the multiply-adds a transposed '
            'convolution does (mmengine\'s count); compare the backbone '
            'figures (in brackets) and the parameters.')
        lines += [''] + notes
    profiles = [(sec, r) for sec in ('train', 'infer')
                for r in sections.get(sec) or [] if r.get('profile')]
    if profiles:
        lines += [
            '', '### Profiles (one call, self CPU time per operator class)',
            '', '| row | side | total ms | ' + ' | '.join(
                c for c, _ in OP_CLASSES) + ' | other | top operators |',
            '|---|---|---|' + '---|' * (len(OP_CLASSES) + 2)
        ]
        for sec, r in profiles:
            what = (f'{sec} {r["model"]} {r["variant"]} batch {r["batch"]}'
                    + (f' flip {"yes" if r.get("flip_test") else "no"}'
                       if sec == 'infer' else ''))
            for side, prof in r['profile'].items():
                total = prof['total_ms']
                shares = ' | '.join(
                    f'{100 * prof["classes"].get(c, 0.0) / total:.0f}%'
                    for c, _ in OP_CLASSES + (('other', ()), ))
                ops = ', '.join(
                    f'{p["op"].replace("aten::", "")} '
                    f'{100 * p["share"]:.0f}%' for p in prof['top'][:4])
                lines.append(f'| {what} | {side} | {total:.0f} | {shares} | '
                             f'{ops} |')
    summary = report.get('summary')
    if summary:
        lines += ['', '### Summary', '']
        for k, v in summary.items():
            lines.append(f'- {k}: {v}')
    return '\n'.join(lines) + '\n'


def _summary(sections: dict) -> dict:
    """Headline figures: the worst ratios per section and path."""
    out = {}
    for sec in ('train', 'infer'):
        rows = sections.get(sec)
        if not rows:
            continue
        by_variant: Dict[str, List[float]] = {}
        for r in rows:
            if r['ratio'] is not None:
                by_variant.setdefault(r['variant'], []).append(r['ratio'])
        for v, ratios in by_variant.items():
            out[f'{sec} {v}: ratio ours/mmpose min .. max'] = (
                f'{min(ratios):.2f} .. {max(ratios):.2f}')
        fast = [r for r in rows if r.get('ratio_vs_mmpose_fp32') is not None
                and r['variant'] != 'fp32']
        if fast:
            best: Dict[Tuple, dict] = {}
            for r in fast:
                key = (r['model'], r.get('batch'), r.get('flip_test'))
                check = r.get('check', {})
                ok = (train_check_passes(check)
                      if sec == 'train' else check.get(
                          'kpt_dev_input_px', {}).get('labelled', {}).get(
                              'within_goal', False))
                if ok and (key not in best or r['ratio_vs_mmpose_fp32'] >
                           best[key]['ratio_vs_mmpose_fp32']):
                    best[key] = r
            if best:
                vals = [r['ratio_vs_mmpose_fp32'] for r in best.values()]
                out[f'{sec}: best checked fast path of ours vs mmpose fp32, '
                    'min .. max over rows'] = (
                        f'{min(vals):.2f} .. {max(vals):.2f}')
    video = sections.get('video')
    if video and video.get('status') == 'ok':
        for r in video['rows']:
            if r['pipeline'] != 'mmpose':
                out[f'video {r["pipeline"]} vs mmpose per-frame'] = (
                    f'{_f(r["ratio_vs_mmpose"])}x')
    return out


README_START = '<!-- benchmark:start -->'
README_END = '<!-- benchmark:end -->'


def update_readme(readme: str, markdown: str) -> None:
    """Replace the text between :data:`README_START` and
    :data:`README_END` in ``readme`` with ``markdown``.

    Raises:
        ValueError: If the file lacks the two markers (in this order).
    """
    text = Path(readme).read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(
            f'{readme}: no "{README_START}" ... "{README_END}" block to '
            'put the benchmark table in; add the two lines where it goes')
    body = markdown.replace('## Benchmark:', '### Benchmark:', 1)
    text = (text[:start + len(README_START)] + '\n' + body +
            text[end:])
    Path(readme).write_text(text)


def run_benchmark(opts: Options, command: str = '') -> dict:
    """Run the selected sections; write ``benchmark.json`` and
    ``benchmark.md`` into ``opts.out_dir``; return the report."""
    unknown = set(opts.sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f'unknown section(s) {sorted(unknown)}; known: '
                         f'{list(SECTIONS)}')
    if opts.quick:
        opts.apply_quick()
    if torch.device(opts.device).type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError('--device cuda: no CUDA GPU is available')
        torch.backends.cudnn.benchmark = opts.cudnn_benchmark
    if opts.threads is not None and opts.threads < 1:
        raise ValueError(f'threads: must be >= 1, got {opts.threads}')
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    log_level = logger.level
    threads = torch.get_num_threads()
    logger.setLevel('WARNING')  # init_weights logs every parameter
    try:
        if opts.threads is not None:
            torch.set_num_threads(opts.threads)
        return _run(opts, command)
    finally:
        logger.setLevel(log_level)
        torch.set_num_threads(threads)


def _run(opts: Options, command: str) -> dict:
    ctx = _Context(opts)
    report: Dict[str, Any] = dict(
        schema=1,
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        command=command,
        machine=machine_info(opts.device),
        load_avg_start=_load_avg(),
        settings=dict(
            asdict(opts), threads=torch.get_num_threads()),
        sections={})
    runners = dict(
        train=run_train_section,
        infer=run_infer_section,
        data=run_data_section,
        video=run_video_section,
        flops=run_flops_section)
    t0 = time.perf_counter()
    for sec in SECTIONS:
        if sec in opts.sections:
            t_sec = time.perf_counter()
            report['sections'][sec] = runners[sec](ctx)
            report.setdefault('section_seconds', {})[sec] = round(
                time.perf_counter() - t_sec, 1)
    report['seconds'] = round(time.perf_counter() - t0, 1)
    report['load_avg_end'] = _load_avg()
    report['summary'] = _summary(report['sections'])
    out = Path(opts.out_dir)
    (out / 'benchmark.json').write_text(json.dumps(report, indent=1))
    md = render_markdown(report)
    (out / 'benchmark.md').write_text(md)
    return report


__all__ = [
    'MODEL_SPECS', 'ModelSpec', 'Options', 'SECTIONS', 'Variant',
    'fit_heatmap_tail', 'update_readme',
    'build_model', 'calibrate_bn', 'count_params_flops', 'default_variants',
    'machine_info', 'model_cfg_for', 'render_markdown', 'run_benchmark',
    'summarize', 'time_interleaved'
]
