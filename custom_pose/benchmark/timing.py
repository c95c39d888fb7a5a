# Copyright (c) custom_pose contributors. All rights reserved.
"""Timing of the benchmark: interleaved calls, the load of other processes,
operator profiles and the summaries of timed samples.

:func:`time_interleaved` times several functions in alternating order
(``A B``, ``B A``, ...) so that a change of background load hits them alike;
:func:`cpu_snapshot` / :func:`foreign_load` measure how many cores other
processes used meanwhile and :func:`wait_quiet` waits for a quiet machine;
:func:`profile_ops` splits one call's CPU time by operator class (and ranks
its operators by GPU time on CUDA).
"""
import os
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

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


def sync_device(device: str) -> None:
    """Wait for the work queued on ``device`` (CUDA); nothing elsewhere."""
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
            sync_device(device)
            t0 = time.perf_counter()
            fns[n]()
            sync_device(device)
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


def profile_summary(prof, top: int = 8, device_time: bool = False) -> dict:
    """The operators of a finished ``torch.profiler.profile``.

    Args:
        prof: The profiler, after its context has closed.
        top (int): How many operators to list.
        device_time (bool): Rank the operators by the GPU time of the
            kernels they launched themselves (the profile must include
            ``ProfilerActivity.CUDA``) instead of their self CPU time.

    Returns:
        dict: ``total_ms`` (self CPU time of all operators), ``top``: the
        ``top`` operators (``op``, ``self_ms``, ``share`` of the ranking
        time, ``calls``; with ``device_time`` also ``device_ms``),
        ``classes``: CPU milliseconds per operator class of
        :data:`OP_CLASSES` (convolutions, BatchNorm, ReLU, additions,
        pooling/upsampling, copies, the optimizer step, other), and
        ``sort_by`` (``'cpu'`` or ``'device'``); with ``device_time`` also
        ``device_total_ms`` (all kernels' time).
    """
    from torch.autograd import DeviceType
    events, kernels = [], []
    for e in prof.key_averages():
        # the autograd engine's wrappers only add their children's time
        if e.key.startswith('autograd::engine'):
            continue
        # the GPU's kernels are events of their own; the operator that
        # launched one also counts its time as its self device time
        on_host = getattr(e, 'device_type', DeviceType.CPU) == DeviceType.CPU
        (events if on_host else kernels).append(e)

    def device_us(e) -> float:
        return float(getattr(e, 'self_device_time_total', 0.0) or 0.0)

    def rank_us(e) -> float:
        return device_us(e) if device_time else e.self_cpu_time_total

    total = sum(e.self_cpu_time_total for e in events) or 1.0
    rank_total = sum(rank_us(e) for e in events) or 1.0
    classes: Dict[str, float] = {}
    for e in events:
        cls = _op_class(e.key)
        classes[cls] = classes.get(cls, 0.0) + e.self_cpu_time_total / 1e3
    rows = sorted(events, key=rank_us, reverse=True)
    top_rows = []
    for e in rows[:top]:
        row = dict(
            op=e.key,
            self_ms=e.self_cpu_time_total / 1e3,
            share=rank_us(e) / rank_total,
            calls=e.count)
        if device_time:
            row['device_ms'] = device_us(e) / 1e3
        top_rows.append(row)
    out = dict(
        total_ms=total / 1e3,
        classes=dict(sorted(classes.items(), key=lambda kv: -kv[1])),
        top=top_rows,
        sort_by='device' if device_time else 'cpu')
    if device_time:  # (an old profiler puts kernel time on the operators)
        out['device_total_ms'] = sum(
            device_us(e) for e in (kernels or events)) / 1e3
    return out


def profiler_activities(device: str = 'cpu') -> list:
    """``torch.profiler`` activities for ``device``: the CPU, and CUDA
    kernels on a CUDA device."""
    from torch.profiler import ProfilerActivity
    activities = [ProfilerActivity.CPU]
    if torch.device(device).type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    return activities


def profile_ops(fn: Callable[[], Any], top: int = 8,
                device: str = 'cpu') -> dict:
    """Profile one call of ``fn`` with ``torch.profiler`` (with its CUDA
    kernels on a CUDA ``device``, ranked by GPU time); see
    :func:`profile_summary` for what it returns."""
    from torch.profiler import profile
    cuda = torch.device(device).type == 'cuda'
    with profile(activities=profiler_activities(device)) as prof:
        fn()
        sync_device(device)
    return profile_summary(prof, top, device_time=cuda)


def summarize(times: Sequence[float]) -> Dict[str, float]:
    """Median (the figure reported), mean, min and max of seconds."""
    return dict(
        median=float(statistics.median(times)),
        mean=float(statistics.fmean(times)),
        min=float(min(times)),
        max=float(max(times)),
        n=len(times))


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """``a / b``, or ``None`` when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return float(a / b)


def ratio_ranges(rows: Sequence[dict], check_passes: Callable[[dict], bool]
                 ) -> Tuple[Dict[str, Tuple[float, float]],
                            Optional[Tuple[float, float]]]:
    """The spread of ours-vs-mmpose rows (``variant``, ``ratio``,
    ``ratio_vs_mmpose_fp32`` and, on fast paths, ``check``).

    Args:
        rows (list[dict]): A section's rows.
        check_passes (callable): Whether a row's ``check`` meets its goal.

    Returns:
        tuple: ``{variant: (min, max) of ratio}``, and (min, max) over the
        rows' keys (model, batch, flip test) of the fastest fast path whose
        check passes, against mmpose on plain fp32 (``None`` if none
        passes).
    """
    by_variant: Dict[str, List[float]] = {}
    for r in rows:
        if r['ratio'] is not None:
            by_variant.setdefault(r['variant'], []).append(r['ratio'])
    best: Dict[Tuple, dict] = {}
    for r in rows:
        if r.get('ratio_vs_mmpose_fp32') is None or r['variant'] == 'fp32':
            continue
        key = (r['model'], r.get('batch'), r.get('flip_test'))
        if check_passes(r.get('check', {})) and (
                key not in best or r['ratio_vs_mmpose_fp32'] >
                best[key]['ratio_vs_mmpose_fp32']):
            best[key] = r
    vals = [r['ratio_vs_mmpose_fp32'] for r in best.values()]
    return ({v: (min(rs), max(rs)) for v, rs in by_variant.items()},
            (min(vals), max(vals)) if vals else None)


def ratio_summary(section: str, rows: Sequence[dict],
                  check_passes: Callable[[dict], bool]) -> Dict[str, str]:
    """The report's summary of ours-vs-mmpose rows (see
    :func:`ratio_ranges`): the ratio range per numeric path, and that of
    the best checked fast path against mmpose's plain fp32."""
    per_variant, best = ratio_ranges(rows, check_passes)
    out = {
        f'{section} {v}: ratio ours/mmpose min .. max': f'{lo:.2f} .. {hi:.2f}'
        for v, (lo, hi) in per_variant.items()
    }
    if best is not None:
        out[f'{section}: best checked fast path of ours vs mmpose fp32, '
            'min .. max over rows'] = f'{best[0]:.2f} .. {best[1]:.2f}'
    return out


def ratio_headline(what: str, rows: Sequence[dict],
                   check_passes: Callable[[dict], bool]) -> Dict[str, str]:
    """The README's two figures of ours-vs-mmpose rows: the plain fp32
    ratio range and the best checked fast path's (see
    :func:`ratio_ranges`)."""
    per_variant, best = ratio_ranges(rows, check_passes)
    out = {}
    if 'fp32' in per_variant:
        lo, hi = per_variant['fp32']
        out[f'{what}, both fp32'] = f'{lo:.2f} .. {hi:.2f}'
    if best is not None:
        out[f'{what}, our best checked fast path vs mmpose fp32'] = (
            f'{best[0]:.2f} .. {best[1]:.2f}')
    return out
