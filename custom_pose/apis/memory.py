# Copyright (c) custom_pose contributors. All rights reserved.
"""The batch of a video loop that fits in memory, from a measured
per-frame peak.

A loop with ``batch_size`` frames per forward pass holds, per frame of the
batch, :data:`FRAMES_PER_BATCH_SLOT` decoded frames (the batch and the
reader's queue of two batches) and what one frame takes in the model's
forward pass (its crop, the float input and its flipped copy, activations,
heatmaps). :func:`measure_frame_memory` measures the second part on the
real model, input size and device: the process's peak RSS growth (Linux
``VmHWM``, reset through ``/proc/self/clear_refs``; a sampling thread where
that is not allowed) and, on CUDA, ``torch.cuda.max_memory_allocated``.
:func:`fit_batch_size` turns it into the largest batch whose memory stays
within a share of :func:`available_memory`.

``CUSTOM_POSE_AVAILABLE_MEMORY`` (bytes, or with a ``K``/``M``/``G``
suffix, e.g. ``2G``) sets the available memory instead of Linux's
``MemAvailable``, e.g. to run a loop within a budget.
"""
import contextlib
import ctypes
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np

from custom_pose.errors import InputError

__all__ = [
    'AVAILABLE_MEMORY_ENV', 'FRAMES_PER_BATCH_SLOT', 'FrameMemory',
    'available_memory', 'peak_rss_growth', 'measure_frame_memory',
    'fit_batch_size'
]

#: The environment variable that sets :func:`available_memory`.
AVAILABLE_MEMORY_ENV = 'CUSTOM_POSE_AVAILABLE_MEMORY'

#: Decoded frames a loop holds per frame of its batch: the batch itself and
#: the reader's queue of two batches.
FRAMES_PER_BATCH_SLOT = 3

_UNITS = {'': 1, 'K': 1024, 'M': 1024**2, 'G': 1024**3, 'T': 1024**4}


def _parse_bytes(text: str) -> int:
    """``'2G'`` -> 2147483648; ``ValueError`` for what is not a size."""
    value = text.strip().upper().removesuffix('IB').removesuffix('B')
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] else ''
    number = float(value[:len(value) - len(unit)])
    if not number > 0:
        raise ValueError(text)
    return int(number * _UNITS[unit])


def available_memory() -> Optional[int]:
    """Bytes of memory available to new allocations: the
    ``CUSTOM_POSE_AVAILABLE_MEMORY`` environment variable where set (bytes,
    or ``512M``, ``2G``), else Linux's ``MemAvailable``; ``None`` where
    unknown.

    Raises:
        InputError: A ``CUSTOM_POSE_AVAILABLE_MEMORY`` that is not a
            positive size.
    """
    text = os.environ.get(AVAILABLE_MEMORY_ENV)
    if text:
        try:
            return _parse_bytes(text)
        except (ValueError, IndexError, OverflowError):
            raise InputError(
                f'{AVAILABLE_MEMORY_ENV}={text!r} is not a memory size: '
                'give bytes or a size such as 512M or 2G') from None
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (AttributeError, OSError, ValueError):
        return None


# -- peak resident memory of the process ------------------------------------
def _status_kib(field: str) -> Optional[int]:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _release_free_heap() -> None:
    """Hand the heap's free pages back to the system (glibc
    ``malloc_trim``), so that the next peak counts every page it touches."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; False where not allowed."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class _RssSampler(threading.Thread):
    """The highest ``VmRSS`` seen, read every millisecond (where ``VmHWM``
    cannot be reset)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _status_kib('VmRSS') or 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.001):
            self.peak = max(self.peak, _status_kib('VmRSS') or 0)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, _status_kib('VmRSS') or 0)


@contextlib.contextmanager
def _peak_rss_kib() -> Iterator[List[int]]:
    """Yields a list that holds, on the way out, the peak RSS (KiB) of the
    process within the block."""
    result: List[int] = []
    sampler = None
    if not _reset_peak():
        sampler = _RssSampler()
        sampler.start()
    try:
        yield result
    finally:
        if sampler is not None:
            result.append(sampler.stop())
        else:
            result.append(_status_kib('VmHWM') or 0)


def peak_rss_growth(fn: Callable[[], Any],
                    base_kib: Optional[int] = None) -> int:
    """Bytes by which the process's peak RSS during ``fn()`` exceeds its
    RSS before it (or ``base_kib``), with the heap's free pages handed back
    first. 0 where ``/proc/self/status`` cannot be read."""
    _release_free_heap()
    if base_kib is None:
        base_kib = _status_kib('VmRSS')
    if base_kib is None:
        fn()
        return 0
    with _peak_rss_kib() as peak:
        fn()
    return max(0, peak[0] - base_kib) * 1024


# -- the per-frame figure ----------------------------------------------------
@dataclass
class FrameMemory:
    """What one frame of a batch takes, measured on the model.

    Attributes:
        model_bytes (int): Host bytes a frame takes in the forward pass:
            the peak RSS growth of a pass of :attr:`frames` frames (crops,
            inputs, activations, heatmaps, and what the first pass sets up
            for good), divided by :attr:`frames`. The fixed part is spread
            over the frames, so the figure is at least what one more frame
            adds.
        frame_bytes (int): Bytes of the decoded frames the loop holds per
            frame of its batch (:data:`FRAMES_PER_BATCH_SLOT` BGR frames).
        frames (int): Frames of the pass that gave the figures.
        device_bytes (int, optional): CUDA bytes a frame takes in that pass
            (``torch.cuda.max_memory_allocated`` growth / frames); ``None``
            on the CPU.
        seconds (float): Time all measured passes took.
    """
    model_bytes: int
    frame_bytes: int
    frames: int = 1
    device_bytes: Optional[int] = None
    seconds: float = 0.0

    @property
    def host_bytes(self) -> int:
        """Host bytes per frame of the batch: model and decoded frames."""
        return self.model_bytes + self.frame_bytes


def _cuda_device(inferencer: Any) -> Optional[Any]:
    device = getattr(inferencer, 'device', None)
    return device if getattr(device, 'type', None) == 'cuda' else None


def _forward(inferencer: Any, frames: List[np.ndarray]) -> None:
    """One forward pass of all ``frames`` (the whole-frame path)."""
    saved = inferencer.batch_size
    inferencer.batch_size = None  # all frames in one pass
    try:
        inferencer.infer_frames(frames)
    finally:
        inferencer.batch_size = saved


def _measure_pass(inferencer: Any, frame: np.ndarray, n: int,
                  base_kib: Optional[int]) -> Tuple[int, Optional[int]]:
    """Host peak RSS over ``base_kib`` and CUDA peak over the memory
    allocated before, in bytes, of one forward pass of ``n`` frames."""
    cuda = _cuda_device(inferencer)
    device_base = 0
    if cuda is not None:
        import torch
        torch.cuda.synchronize(cuda)
        torch.cuda.reset_peak_memory_stats(cuda)
        device_base = torch.cuda.memory_allocated(cuda)

    def run() -> None:
        _forward(inferencer, [frame] * n)
        if cuda is not None:
            import torch
            torch.cuda.synchronize(cuda)

    host = peak_rss_growth(run, base_kib)
    if cuda is None:
        return host, None
    import torch
    return host, torch.cuda.max_memory_allocated(cuda) - device_base


def measure_frame_memory(inferencer: Any,
                         frame_size: Tuple[int, int],
                         batch_size: int = 1,
                         limit: Optional[Callable[[FrameMemory],
                                                  int]] = None,
                         max_frames: int = 16,
                         max_seconds: float = 5.0) -> FrameMemory:
    """Measure what one frame of a batch takes in ``inferencer``'s forward
    pass (:class:`~custom_pose.apis.TopdownBatchInferencer`, on its device,
    at its input size), on black frames of ``frame_size``.

    The first pass has one frame. While ``limit(figures)``, the batch that
    fits with the figures so far, is below ``batch_size``, a pass of twice
    the frames follows (its peak over the RSS before the first pass,
    divided by its frames, comes closer to what one more frame adds: the
    fixed part is spread over more frames), as long as it stays within
    that limit, ``max_frames`` and ``max_seconds``. Each figure is the
    whole peak of a pass per frame, what the first pass set up and what an
    allocator keeps between passes (onnxruntime's arena) included, so it
    does not undercount a frame. On CUDA the device figure is the peak of
    ``torch.cuda.max_memory_allocated`` over the memory allocated before
    the pass, per frame (memory that torch does not allocate, e.g.
    onnxruntime's CUDA provider, is not seen).

    Args:
        inferencer: The loop's inferencer (its ``batch_size`` is kept).
        frame_size (tuple[int, int]): ``(width, height)`` of the frames.
        batch_size (int): The batch asked for.
        limit (callable, optional): ``FrameMemory -> int``; ``None``: one
            pass.
        max_frames (int): Most frames of a pass.
        max_seconds (float): No pass starts that would end the measurement
            later (its time guessed as twice the last pass's).

    Returns:
        FrameMemory: The smallest per-frame figures and the time taken.
    """
    w, h = frame_size
    start = time.perf_counter()
    frame = np.zeros((h, w, 3), np.uint8)
    frame_bytes = FRAMES_PER_BATCH_SLOT * frame.nbytes
    _release_free_heap()
    base_kib = _status_kib('VmRSS')
    best: Optional[FrameMemory] = None
    n = 1
    while True:
        t0 = time.perf_counter()
        host, device = _measure_pass(inferencer, frame, n, base_kib)
        last = time.perf_counter() - t0
        memory = FrameMemory(host // n, frame_bytes, n,
                             None if device is None else device // n)
        if best is None or memory.model_bytes < best.model_bytes:
            best = memory
        fits = limit(best) if limit is not None else batch_size
        n *= 2
        if (fits >= batch_size or n > min(fits, max_frames) or
                time.perf_counter() - start + 2 * last > max_seconds):
            break
    best.seconds = time.perf_counter() - start
    return best


# -- the batch ---------------------------------------------------------------
def _limit(share: float, available: int, per_frame: int) -> int:
    return max(1, int(share * available) // max(per_frame, 1))


def _cuda_available(inferencer: Any) -> Optional[int]:
    """Free CUDA bytes of the inferencer's device plus what torch caches."""
    cuda = _cuda_device(inferencer)
    if cuda is None:
        return None
    import torch
    free, _ = torch.cuda.mem_get_info(cuda)
    return int(free + torch.cuda.memory_reserved(cuda) -
               torch.cuda.memory_allocated(cuda))


def _mib(n: float) -> str:
    return f'{n / 1024**2:.1f} MiB'


def fit_batch_size(batch_size: int,
                   frame_size: Tuple[int, int],
                   available: Optional[int] = None,
                   share: float = 0.25,
                   inferencer: Any = None) -> Tuple[int, Optional[str]]:
    """The largest batch up to ``batch_size`` whose memory stays within
    ``share`` of the available memory.

    Without ``inferencer`` a frame of the batch counts its decoded frames
    only (:data:`FRAMES_PER_BATCH_SLOT` BGR frames: ``batch_size=100000``
    on a 720p clip would hold about 800 GB). With it, also what a frame
    takes in the model's forward pass, measured on the model
    (:func:`measure_frame_memory`: a single-frame pass where the batch
    fits with its whole peak, passes of 2, 4, ... frames else), and the
    inferencer's ``batch_size`` is set to the batch returned. On CUDA the
    device memory of a frame must also fit in ``share`` of the device's
    free memory.

    Args:
        batch_size (int): The batch asked for.
        frame_size (tuple[int, int]): ``(width, height)`` of the frames.
        available (int, optional): Bytes available; ``None``: measured
            (:func:`available_memory`; no limit where unknown).
        share (float): Part of the available memory the batch may take.
        inferencer (TopdownBatchInferencer, optional): The loop's model.

    Returns:
        tuple: The batch to use and, when it is smaller, a warning saying
        why (with the measured per-frame figures).
    """
    if available is None:
        available = available_memory()
    if available is None or batch_size <= 1:
        return batch_size, None
    w, h = frame_size
    gib = 1024**3
    tail = f'{share:.0%} of the {available / gib:.1f} GiB available'
    if inferencer is None:
        per_frame = FRAMES_PER_BATCH_SLOT * w * h * 3
        limit = _limit(share, available, per_frame)
        if batch_size <= limit:
            return batch_size, None
        return limit, (
            f'batch_size={batch_size} would hold '
            f'{batch_size * per_frame / gib:.1f} GiB of {w}x{h} frames; '
            f'using {limit} ({tail})')
    device_available = _cuda_available(inferencer)

    def limits(m: FrameMemory) -> Tuple[int, Optional[int]]:
        device = None
        if m.device_bytes is not None and device_available is not None:
            device = _limit(share, device_available, m.device_bytes)
        return _limit(share, available, m.host_bytes), device

    def fitting(m: FrameMemory) -> int:
        host, device = limits(m)
        return host if device is None else min(host, device)

    memory = measure_frame_memory(inferencer, frame_size, batch_size,
                                  fitting)
    limit = min(batch_size, fitting(memory))
    inferencer.batch_size = limit
    if limit == batch_size:
        return batch_size, None
    host, device = limits(memory)
    if device is not None and device < host:
        tail += (f'; {_mib(memory.device_bytes)} a frame on '
                 f'{inferencer.device}, {share:.0%} of its '
                 f'{device_available / gib:.1f} GiB free')
    return limit, (
        f'batch_size={batch_size} would hold '
        f'{batch_size * memory.host_bytes / gib:.1f} GiB: '
        f'{_mib(memory.host_bytes)} a frame ({_mib(memory.model_bytes)} '
        f'measured in a {memory.frames}-frame forward pass + '
        f'{_mib(memory.frame_bytes)} of {w}x{h} frames held; measured in '
        f'{memory.seconds:.1f} s); using {limit} ({tail})')
