# Copyright (c) custom_pose contributors. All rights reserved.
"""Section ``train-e2e``: end-to-end training with mmengine's Runner, side
by side on the synthetic data:

- ``mmpose``: mmpose's stock setup -- its ``ResNet`` + ``HeatmapHead`` (the
  model of mmpose's own config of that depth) with mmpose's CPU pipeline;
- ``ours``: our stock config (mmpose's CPU pipeline);
- ``ours_gpuaug``: our ``_gpuaug`` config (load-only workers, augmentation
  and targets on the model's device, device image cache, pinned batches,
  no host syncs between log lines);
- on request: ``ours_gpuaug_nocache`` (the same without the image cache)
  and ``ours_gpuaug_compile`` (with ``compile=True``).

Each path trains ``warmup + iters + 1`` iterations of one epoch (the
dataset repeated to that length, so no epoch restarts the data loader).
Over the ``iters`` timed ones it reports images/s, the share of the wall
time the loop waited for the data loader (mmengine's ``data_time``), the
GPU's utilisation (NVML) and the images the workers decoded per step; the
last iteration is profiled (``torch.profiler``). A second table gives the
per-sample cost of the two input paths
(:func:`custom_pose.utils.input_path_cost.measure_input_path_cost`).
"""
import gc
import math
import os
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.hooks import Hook

from ..context import BenchmarkContext, build_dataset
from ..specs import (MODEL_SPECS, ModelSpec, input_size_of,
                     load_model_config, model_cfg_for)
from ..timing import (profile_summary, profiler_activities, ratio,
                      sync_device, wait_quiet)
from .base import fmt, register_section

#: path name -> what trains
E2E_PATHS: Dict[str, str] = {
    'mmpose': "mmpose's ResNet + HeatmapHead, mmpose's CPU pipeline",
    'ours': 'our stock config (mmpose\'s CPU pipeline)',
    'ours_gpuaug': 'our _gpuaug config (load-only workers, augmentation '
    'and targets on the device, device image cache)',
    'ours_gpuaug_nocache': 'our _gpuaug config without the device image '
    'cache',
    'ours_gpuaug_compile': 'our _gpuaug config with compile=True (mmengine\'s '
    'torch.compile of the step; the warm-up iterations compile)',
}
#: the most data-loader workers by default (the issue's setting)
MAX_DEFAULT_WORKERS = 12


def gpuaug_config_path(spec: ModelSpec, config_dir: Path) -> Path:
    """The ``_gpuaug`` counterpart of ``spec``'s config.

    Raises:
        FileNotFoundError: If there is none.
    """
    path = Path(config_dir) / spec.config.replace('.py', '_gpuaug.py')
    if not path.is_file():
        raise FileNotFoundError(
            f'model {spec.name!r} has no _gpuaug config ({path}); '
            'train-e2e runs models that have one, e.g. res50, res101, '
            'res18_128')
    return path


def default_workers() -> int:
    """``min(12, logical cores)``."""
    return min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1)


# ---------------------------------------------------------------------------
# the configs


def _set_precision(cfg, path: str, device: str, amp: bool) -> str:
    """Mixed precision as each side's ``tools/train.py --amp`` sets it:
    mmpose's ``AmpOptimWrapper`` (fp16, dynamic loss scale) on CUDA, ours
    :func:`custom_pose.engine.amp.configure_amp` (bf16 where the GPU has
    it; bf16 for both sides on the CPU, where mmengine's
    ``AmpOptimWrapper`` cannot run)."""
    if not amp:
        return 'fp32'
    if path == 'mmpose' and torch.device(device).type == 'cuda':
        cfg.optim_wrapper.update(type='AmpOptimWrapper', loss_scale='dynamic',
                                 dtype='float16')
        return 'fp16'
    from custom_pose.engine.amp import configure_amp
    configure_amp(cfg)
    return 'bf16' if cfg.optim_wrapper.dtype == 'bfloat16' else 'fp16'


def e2e_config(ctx: BenchmarkContext, name: str, path: str,
               total_iters: int, num_samples: int) -> Tuple[object, str]:
    """The Runner config of one path: the model's config (or its
    ``_gpuaug`` counterpart, or mmpose's model) training ``total_iters``
    iterations of one epoch on the synthetic data, without validation,
    checkpoints or pretrained weights.

    Returns:
        tuple: The config and its precision (``'fp32'``, ``'bf16'``,
        ``'fp16'``).
    """
    from mmengine.config import Config
    o = ctx.opts
    spec = MODEL_SPECS[name]
    if path not in E2E_PATHS:
        raise ValueError(f'train-e2e path {path!r}: expected one of '
                         f'{list(E2E_PATHS)}')
    if path.startswith('ours_gpuaug'):
        cfg = Config.fromfile(str(gpuaug_config_path(spec, ctx.config_dir)))
    else:
        cfg = load_model_config(spec, ctx.config_dir)
    if path == 'mmpose':
        cfg.model = model_cfg_for(spec, 'mmpose', cfg)
    elif cfg.model.backbone.get('init_cfg', None) is not None:
        cfg.model.backbone.init_cfg = None
    if path == 'ours_gpuaug_compile':
        cfg.compile = True
    if path == 'ours_gpuaug_nocache':
        cfg.custom_hooks = [
            h for h in cfg.custom_hooks
            if h['type'] != 'CustomPoseDeviceImageCacheHook'
        ]
    workers = default_workers() if o.e2e_workers is None else o.e2e_workers
    dataset = dict(cfg.train_dataloader.dataset)
    dataset.update(data_root=ctx.data_root, split='all')
    for key in ('split_ratio', 'split_seed'):
        dataset.pop(key, None)
    loader = cfg.train_dataloader
    loader.update(batch_size=o.e2e_batch, num_workers=workers,
                  persistent_workers=workers > 0,
                  num_batch_per_epoch=total_iters)
    # (assigned, not merged into the model config's dataset)
    loader.dataset = dict(
        type='RepeatDataset',
        times=math.ceil(total_iters * o.e2e_batch / num_samples),
        dataset=dataset)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    for key in ('val', 'test'):
        cfg[f'{key}_cfg'] = cfg[f'{key}_dataloader'] = None
        cfg[f'{key}_evaluator'] = None
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = str(ctx.out_dir / 'train_e2e' / f'{name}_{path}')
    cfg.experiment_name = (f'train_e2e_{name}_{path}_'
                           f'{time.strftime("%Y%m%d_%H%M%S")}')
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=o.seed)
    cfg.load_from, cfg.resume, cfg.launcher = None, False, 'none'
    return cfg, _set_precision(cfg, path, o.device, o.e2e_amp)


# ---------------------------------------------------------------------------
# measuring a run


def gpu_utilization_reader(
        device: str) -> Tuple[Optional[Callable[[], float]], str]:
    """A function reading the GPU's utilisation (percent of the last sample
    period with a kernel running) and where it comes from: NVML through
    ``pynvml`` if importable, else ``torch.cuda.utilization``; ``None`` and
    ``'n/a (...)'`` where neither works (the CPU)."""
    dev = torch.device(device)
    if dev.type != 'cuda':
        return None, f'n/a ({dev.type})'
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    try:
        import pynvml
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByUUID(
            f'GPU-{torch.cuda.get_device_properties(index).uuid}')

        def read_nvml() -> float:
            return float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)

        read_nvml()
        return read_nvml, 'NVML'
    except Exception:  # no pynvml, or NVML refuses: try torch's reader
        pass

    def read_torch() -> float:
        return float(torch.cuda.utilization(index))

    try:
        read_torch()
        return read_torch, 'torch.cuda.utilization'
    except Exception as exc:
        return None, f'n/a ({type(exc).__name__})'


class UtilizationSampler:
    """Polls a utilisation reader in a background thread between
    :meth:`start` and :meth:`stop`.

    Args:
        read (callable): Returns the current utilisation in percent.
        interval (float): Seconds between readings. Defaults to 0.05.
    """

    def __init__(self, read: Callable[[], float],
                 interval: float = 0.05) -> None:
        self.read = read
        self.interval = interval
        self.samples: List[float] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.samples.append(self.read())
            if self._stop.wait(self.interval):
                return

    def stop(self) -> Optional[float]:
        """Stop polling; the mean of the readings (None without any)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.samples:
            return None
        return sum(self.samples) / len(self.samples)


def images_decoded(data_batch: dict) -> int:
    """How many images the data-loader workers decoded for a batch: all of
    a CPU pipeline's; those of a raw ``_gpuaug`` batch that did not come
    from the device image cache."""
    inputs = data_batch['inputs']
    if isinstance(inputs, dict) and 'img_offset' in inputs:
        return int((inputs['img_offset'] >= 0).sum())
    return len(inputs)


class ThroughputProbe(Hook):
    """Times iterations ``warmup .. warmup + iters - 1`` of a Runner's
    training and profiles the one after them.

    The timed window runs from the end of iteration ``warmup - 1`` to the
    end of the last timed one, with the device synchronised at both ends
    only (no sync inside: the step runs as in training). ``data_time``
    sums the waits between the end of one iteration and the start of the
    next (mmengine's ``data_time``). The lowest priority puts the other
    hooks' work into the step.

    Args:
        warmup (int): Untimed iterations first (at least 1).
        iters (int): Timed iterations.
        device (str): The training device.
        sampler (UtilizationSampler, optional): Polled during the window.
    """

    priority = 'LOWEST'

    def __init__(self, warmup: int, iters: int, device: str,
                 sampler: Optional[UtilizationSampler] = None) -> None:
        if warmup < 1 or iters < 1:
            raise ValueError(f'warmup and iters must be >= 1, got {warmup}, '
                             f'{iters}')
        self.warmup, self.iters, self.device = warmup, iters, device
        self.sampler = sampler
        self.cuda = torch.device(device).type == 'cuda'
        self.t0: Optional[float] = None
        self.t1: Optional[float] = None
        self.data_time = 0.0
        self.decoded = 0
        self.gpu_busy: Optional[float] = None
        self.profile: Optional[dict] = None
        self.profile_step_s: Optional[float] = None
        self._last_end = 0.0
        self._prof = None
        self._t_prof = 0.0

    def _timed(self, i: int) -> bool:
        return self.warmup <= i < self.warmup + self.iters

    def _synced_now(self) -> float:
        sync_device(self.device)
        return time.perf_counter()

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        i = runner.iter
        if self._timed(i):
            self.data_time += time.perf_counter() - self._last_end
            self.decoded += images_decoded(data_batch)
        elif i == self.warmup + self.iters:
            from torch.profiler import profile
            self._t_prof = self._synced_now()
            self._prof = profile(activities=profiler_activities(self.device))
            self._prof.__enter__()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        i = runner.iter
        if i == self.warmup - 1:
            self.t0 = self._last_end = self._synced_now()
            if self.sampler is not None:
                self.sampler.start()
        elif self._timed(i):
            self._last_end = time.perf_counter()
            if i == self.warmup + self.iters - 1:
                self.t1 = self._synced_now()
                if self.sampler is not None:
                    self.gpu_busy = self.sampler.stop()
        elif self._prof is not None:
            self.profile_step_s = self._synced_now() - self._t_prof
            self._prof.__exit__(None, None, None)
            self.profile = profile_summary(self._prof, device_time=self.cuda)
            self._prof = None


def run_path(ctx: BenchmarkContext, name: str, path: str,
             num_samples: int) -> dict:
    """Train one path with mmengine's Runner; its row."""
    from mmengine.runner import Runner
    o = ctx.opts
    total = o.e2e_warmup + o.e2e_iters + 1
    cfg, precision = e2e_config(ctx, name, path, total, num_samples)
    read, source = gpu_utilization_reader(o.device)
    probe = ThroughputProbe(o.e2e_warmup, o.e2e_iters, o.device,
                            UtilizationSampler(read) if read else None)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(probe, priority='LOWEST')
    start = time.perf_counter()
    runner.train()
    run_s = time.perf_counter() - start
    if runner.iter != total or probe.t1 is None:
        raise RuntimeError(f'train-e2e {name} {path}: trained {runner.iter} '
                           f'of {total} iterations')
    cache = getattr(runner.model.data_preprocessor, 'image_cache', None)
    seconds = probe.t1 - probe.t0
    row = dict(
        model=name,
        path=path,
        precision=precision,
        batch=o.e2e_batch,
        workers=cfg.train_dataloader.num_workers,
        warmup=o.e2e_warmup,
        iters=o.e2e_iters,
        seconds=seconds,
        images_per_s=o.e2e_batch * o.e2e_iters / seconds,
        step_ms=1e3 * seconds / o.e2e_iters,
        data_time_s=probe.data_time,
        data_time_share=probe.data_time / seconds,
        gpu_busy=probe.gpu_busy,
        gpu_busy_source=source,
        decoded_per_step=probe.decoded / o.e2e_iters,
        images_cached=cache.num_cached if cache is not None else None,
        profile=probe.profile,
        profile_step_ms=1e3 * probe.profile_step_s,
        run_s=run_s,
        load_avg=round(os.getloadavg()[0], 2))
    device_ms = (probe.profile or {}).get('device_total_ms')
    row['gpu_kernel_share'] = (device_ms / row['profile_step_ms']
                               if device_ms is not None else None)
    del runner
    gc.collect()
    if torch.device(o.device).type == 'cuda':
        torch.cuda.empty_cache()
    return row


def input_path_table(ctx: BenchmarkContext, name: str) -> dict:
    """Per-sample cost of ``name``'s stock and ``_gpuaug`` input paths on
    the benchmark's synthetic data (one thread, as in one worker)."""
    from custom_pose.utils.input_path_cost import measure_input_path_cost
    o = ctx.opts
    spec = MODEL_SPECS[name]
    result = measure_input_path_cost(
        str(ctx.config_dir / spec.config),
        str(gpuaug_config_path(spec, ctx.config_dir)),
        data_root=ctx.data_root,
        num_samples=o.input_path_samples,
        batch_size=min(o.e2e_batch, o.input_path_samples),
        device=o.device,
        threads=1,
        repeats=1 if o.quick else 3)
    setup = result.pop('setup')
    return dict(model=name, setup=setup, paths=result)


def run_train_e2e_section(ctx: BenchmarkContext) -> dict:
    o = ctx.opts
    if torch.device(o.device).type == 'cpu' and torch.cuda.is_available():
        raise ValueError(
            "train-e2e trains where mmengine's Runner puts the model: on "
            'this machine\'s GPU. Run it with --device cuda, or hide the GPU '
            '(CUDA_VISIBLE_DEVICES=) to train on the CPU')
    if o.e2e_warmup < 1 or o.e2e_iters < 1 or o.e2e_batch < 1:
        raise ValueError('train-e2e: iterations, warm-up iterations and '
                         'batch size must be >= 1')
    unknown = [p for p in o.e2e_paths if p not in E2E_PATHS]
    if unknown:
        raise ValueError(f'train-e2e paths {unknown}: expected some of '
                         f'{list(E2E_PATHS)}')
    names = o.models_for('train-e2e', with_counterpart=True)
    for name in names:  # before anything runs
        gpuaug_config_path(MODEL_SPECS[name], ctx.config_dir)
    rows = []
    for name in names:
        cfg = ctx.cfg(name)
        num_samples = len(build_dataset(cfg, ctx.data_root, []))
        mmpose_ips = None
        for path in o.e2e_paths:
            ctx.log(f'train-e2e {name} {path} batch {o.e2e_batch}')
            wait_quiet(o.wait_quiet, ctx.log)
            row = run_path(ctx, name, path, num_samples)
            row['input'] = list(input_size_of(cfg))
            if path == 'mmpose':
                mmpose_ips = row['images_per_s']
            row['ratio_vs_mmpose'] = ratio(row['images_per_s'], mmpose_ips)
            rows.append(row)
            ctx.log(f'  {row["images_per_s"]:.1f} img/s, data_time '
                    f'{100 * row["data_time_share"]:.0f} %, GPU busy '
                    f'{fmt(row["gpu_busy"], ".0f")} %')
    input_path = None
    if o.input_path_samples > 0:
        ctx.log(f'train-e2e input path cost ({names[0]} configs)')
        input_path = input_path_table(ctx, names[0])
    return dict(
        device=o.device,
        warmup=o.e2e_warmup,
        iters=o.e2e_iters,
        batch=o.e2e_batch,
        workers=default_workers() if o.e2e_workers is None else
        o.e2e_workers,
        amp=o.e2e_amp,
        images=o.data_images,
        image_size=list(o.data_image_size),
        rows=rows,
        input_path=input_path)


# ---------------------------------------------------------------------------
# the report

#: the input-path cost table's rows, explained
INPUT_PATHS = {
    'cpu_pipeline': "mmpose's whole training pipeline (a stock config's "
    'worker)',
    'load_only': "a _gpuaug config's worker: decode, pack, collate",
    'load_only_cached': 'the same with every image in the device cache',
    'device_augment': 'the device augmentation, targets and normalisation '
    '(batched)',
}


def _pct(v: Optional[float]) -> str:
    return 'n/a' if v is None else f'{v:.0f} %'


def render_train_e2e_section(d: dict, number: int) -> List[str]:
    """The section's tables: throughput per model and path, one profiled
    step per path, and the input-path cost per sample."""
    rows = d['rows']
    cuda = torch.device(d['device']).type == 'cuda'
    lines = [
        '', f'### {number}. End-to-end training (mmengine Runner, '
        f'{d["device"]})', '',
        f'{d["iters"]} timed iterations after {d["warmup"]} warm-up, batch '
        f'{d["batch"]}, {d["workers"]} data-loader workers, '
        f'{d["images"]} synthetic {d["image_size"][0]}x'
        f'{d["image_size"][1]} images (repeated: one epoch). img/s = batch '
        'x timed iterations / their seconds; data_time = share of that '
        'time the loop waited for the data loader; GPU busy = NVML '
        'utilisation over it; decoded / step = images the workers decoded '
        'per step (0 once the device image cache holds them all). Paths: '
        + '; '.join(f'`{k}` {v}' for k, v in E2E_PATHS.items()
                    if any(r['path'] == k for r in rows)) + '.', '',
        '| model | path | precision | img/s | vs mmpose | step ms | '
        'data_time | GPU busy | decoded / step |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        lines.append(
            f'| {r["model"]} | {r["path"]} | {r["precision"]} | '
            f'{r["images_per_s"]:.1f} | {fmt(r["ratio_vs_mmpose"])} | '
            f'{r["step_ms"]:.1f} | {100 * r["data_time_share"]:.0f} % | '
            f'{_pct(r["gpu_busy"])} | {r["decoded_per_step"]:.1f} |')
    what = 'GPU time' if cuda else 'self CPU time'
    lines += [
        '', f'One profiled step per path (the iteration after the timed '
        f'ones; operators ranked by {what}):', '',
        '| model | path | step ms (profiled) | GPU kernel ms | top operators |',
        '|---|---|---|---|---|'
    ]
    for r in rows:
        prof = r.get('profile') or {}
        ops = ', '.join(f'{p["op"].replace("aten::", "")} '
                        f'{100 * p["share"]:.0f}%'
                        for p in prof.get('top', [])[:4])
        lines.append(f'| {r["model"]} | {r["path"]} | '
                     f'{r["profile_step_ms"]:.1f} | '
                     f'{fmt(prof.get("device_total_ms"), ".1f")} | {ops} |')
    ip = d.get('input_path')
    if ip:
        s = ip['setup']
        lines += [
            '', f'Input path, per sample ({ip["model"]} configs, '
            f'{s["threads"]} thread as in one data-loader worker, images '
            f'{"x".join(map(str, s["image_shape"][:2]))} -> '
            f'{"x".join(map(str, s["input_size"]))}, device augmentation on '
            f'{s["device"]} in batches of {s["batch_size"]}):', '',
            '| input path | samples/s | ms / sample |', '|---|---|---|'
        ]
        for key, row in ip['paths'].items():
            lines.append(f'| {key}: {INPUT_PATHS.get(key, "")} | '
                         f'{row["samples_per_s"]:.1f} | '
                         f'{row["ms_per_sample"]:.2f} |')
    return lines


def summarize_train_e2e(d: dict) -> Dict[str, str]:
    """img/s and the ratio to mmpose of each row; the input path's
    samples/s per worker."""
    out = {}
    for r in d['rows']:
        key = f'train-e2e {r["model"]} {r["path"]} {r["precision"]}'
        out[f'{key}: img/s'] = f'{r["images_per_s"]:.1f}'
        if r['path'] != 'mmpose' and r['ratio_vs_mmpose'] is not None:
            out[f'{key}: vs mmpose'] = f'{r["ratio_vs_mmpose"]:.2f}'
    for key, row in (d.get('input_path') or {}).get('paths', {}).items():
        out[f'input path {key}: samples/s'] = f'{row["samples_per_s"]:.1f}'
    return out


def headline_train_e2e(d: dict) -> Dict[str, str]:
    """The README's figure: ours ``_gpuaug`` / mmpose end to end."""
    ratios = [
        r['ratio_vs_mmpose'] for r in d['rows']
        if r['path'] == 'ours_gpuaug' and r['ratio_vs_mmpose'] is not None
    ]
    if not ratios:
        return {}
    return {
        'end-to-end training (Runner), _gpuaug config vs mmpose':
        f'{min(ratios):.2f} .. {max(ratios):.2f}'
    }


register_section(
    'train-e2e',
    run_train_e2e_section,
    render=render_train_e2e_section,
    summarize=summarize_train_e2e,
    headline=headline_train_e2e,
    default=False)
