# Copyright (c) custom_pose contributors. All rights reserved.
"""Temporal smoothing of keypoints, per track and per keypoint, gated by
the keypoint score.

Methods (``--smooth``):

- ``none``: keypoints as the model gives them.
- ``oneeuro``: the 1-euro filter (Casiez et al., CHI 2012), online, no
  delay: for cameras. An exponential low-pass whose cut-off frequency rises
  with the keypoint's speed, so slow motion is smoothed strongly and fast
  motion follows with little lag. Parameters: ``min_cutoff`` (Hz, the
  cut-off at rest: lower smooths more), ``beta`` (cut-off increase per
  pixel/s of speed: higher lags less), ``d_cutoff`` (Hz, cut-off of the
  speed estimate).
- ``savgol``: Savitzky-Golay (``scipy.signal.savgol_filter``): a
  ``polyorder`` polynomial fitted to a centred window of ``window_length``
  frames; keeps peaks and turns better than a moving average. Needs
  ``window_length // 2`` future frames: for files.
- ``gaussian``: a Gaussian of ``sigma`` frames
  (``scipy.ndimage.gaussian_filter1d``); for files, ``ceil(truncate *
  sigma)`` frames of delay.

Gating: a keypoint whose score is not above ``kpt_thr`` neither enters the
filters nor is changed (its raw position is kept); the windowed methods
interpolate across it linearly from the labelled frames around it.
Every method keeps the raw keypoints next to the smoothed ones
(:class:`~custom_pose.tracking.PoseInstance`).

Every parameter must be a finite number (:func:`check_number`); the
windowed methods reach at most :data:`MAX_LAG` frames to each side
(``window_length <= 2 * MAX_LAG + 1``, ``truncate * sigma <= MAX_LAG``):
they hold that many frames (with their images, in the demos) back.
"""
import math
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

from custom_pose.errors import InputError
from .checks import check_number
from .instances import PoseInstance

__all__ = [
    'SMOOTH_METHODS', 'SMOOTH_PARAMS', 'OFFLINE_METHODS', 'MAX_LAG',
    'check_number', 'OneEuroFilter', 'smooth_keypoints', 'KeypointSmoother',
    'OneEuroSmoother', 'WindowSmoother', 'build_smoother'
]

#: The parameters of each method (``--smooth-param NAME=VALUE``) and their
#: defaults (those of :class:`OneEuroSmoother` and :class:`WindowSmoother`).
SMOOTH_PARAMS = dict(
    none={},
    oneeuro=dict(min_cutoff=1.0, beta=0.1, d_cutoff=1.0, forget_after=10.0),
    savgol=dict(window_length=11, polyorder=3),
    gaussian=dict(sigma=1.5, truncate=3.0))

#: Names accepted by :func:`build_smoother` (``--smooth``).
SMOOTH_METHODS = tuple(SMOOTH_PARAMS)

#: Methods that need future frames (files only, not cameras).
OFFLINE_METHODS = ('savgol', 'gaussian')

#: Frames a windowed smoother reaches to each side, at most (5 s at 30
#: frames/s): ``savgol``'s ``window_length // 2``, ``gaussian``'s
#: ``ceil(truncate * sigma)``.
MAX_LAG = 150

#: ``(payload, instances)`` of one frame, as the smoothers hand them back.
Released = Tuple[Any, List[PoseInstance]]


class OneEuroFilter:
    """The 1-euro filter on arrays of points, with a per-point gate.

    Args:
        min_cutoff (float): Cut-off frequency at rest, Hz. Defaults to 1.0.
        beta (float): Cut-off increase per unit of speed (pixels/s).
            Defaults to 0.1.
        d_cutoff (float): Cut-off of the speed estimate, Hz. Defaults to
            1.0.
    """

    def __init__(self,
                 min_cutoff: float = 1.0,
                 beta: float = 0.1,
                 d_cutoff: float = 1.0) -> None:
        check_number('min_cutoff', min_cutoff, above=0)
        check_number('beta', beta, minimum=0)
        check_number('d_cutoff', d_cutoff, above=0)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the state."""
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._t: Optional[np.ndarray] = None
        self._seen: Optional[np.ndarray] = None

    @staticmethod
    def _alpha(dt: np.ndarray, cutoff: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))

    def __call__(self,
                 x: np.ndarray,
                 t: float,
                 mask: Optional[np.ndarray] = None) -> np.ndarray:
        """Filter one sample.

        Args:
            x (np.ndarray): (..., D) points (e.g. (K, 2) keypoints).
            t (float): Time of the sample, seconds (increasing).
            mask (np.ndarray, optional): (...) bool, the points to filter;
                the others are returned unchanged and leave the state as it
                was. ``None``: all.

        Returns:
            np.ndarray: (..., D) filtered points (float64).
        """
        x = np.asarray(x, np.float64)
        lead = x.shape[:-1]
        mask = np.ones(lead, bool) if mask is None else np.asarray(
            mask, bool).reshape(lead)
        if self._x is None or self._x.shape != x.shape:
            self._x = x.copy()
            self._dx = np.zeros_like(x)
            self._t = np.zeros(lead)
            self._seen = np.zeros(lead, bool)
        out = x.copy()
        first = mask & ~self._seen
        self._x[first] = x[first]
        self._t[first] = t
        self._seen |= first
        upd = mask & ~first
        if upd.any():
            dt = np.maximum(t - self._t[upd], 1e-6)[:, None]
            a_d = self._alpha(dt, self.d_cutoff)
            dx = a_d * (x[upd] - self._x[upd]) / dt + (1 - a_d) * self._dx[upd]
            speed = np.linalg.norm(dx, axis=-1, keepdims=True)
            a = self._alpha(dt, self.min_cutoff + self.beta * speed)
            out[upd] = a * x[upd] + (1 - a) * self._x[upd]
            self._x[upd] = out[upd]
            self._dx[upd] = dx
            self._t[upd] = t
        return out


def smooth_keypoints(keypoints: np.ndarray,
                     scores: np.ndarray,
                     method: str = 'savgol',
                     kpt_thr: float = 0.3,
                     window_length: int = 11,
                     polyorder: int = 3,
                     sigma: float = 1.5,
                     truncate: float = 3.0) -> np.ndarray:
    """Smooth one track's keypoint trajectories over time (offline).

    Args:
        keypoints (np.ndarray): (T, K, 2) keypoints of T consecutive frames.
        scores (np.ndarray): (T, K) scores.
        method (str): ``'savgol'`` or ``'gaussian'``.
        kpt_thr (float): Keypoints scored at or below it are gated (kept raw,
            interpolated over for their neighbours).
        window_length (int): Savitzky-Golay window, frames (odd; shortened
            to the trajectory's length). Defaults to 11.
        polyorder (int): Savitzky-Golay polynomial order (< window).
            Defaults to 3.
        sigma (float): Gaussian standard deviation, frames. Defaults to 1.5.
        truncate (float): Gaussian radius in sigmas. Defaults to 3.

    Returns:
        np.ndarray: (T, K, 2) float64; a keypoint with fewer than two
        labelled frames is left raw.
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import savgol_filter
    if method not in ('savgol', 'gaussian'):
        raise ValueError(f"method must be 'savgol' or 'gaussian', got "
                         f'{method!r}')
    check_number('kpt_thr', kpt_thr)
    if method == 'savgol':
        window_length, polyorder = _check_savgol(window_length, polyorder)
    else:
        _check_gaussian(sigma, truncate)
    raw = np.asarray(keypoints, np.float64)
    n = len(raw)
    valid = np.asarray(scores).reshape(raw.shape[:2]) > kpt_thr
    if method == 'savgol':
        window = min(window_length, n if n % 2 else n - 1)
        if window <= polyorder:
            return raw.copy()
    filled = raw.copy()
    frames = np.arange(n)
    usable = valid.sum(axis=0) >= 2
    for k in np.flatnonzero(usable & ~valid.all(axis=0)):  # gaps to fill
        good = valid[:, k]
        for d in range(2):
            filled[:, k, d] = np.interp(frames, frames[good], raw[good, k, d])
    if method == 'savgol':
        smoothed = savgol_filter(filled, window, polyorder, axis=0,
                                 mode='interp')
    else:
        smoothed = gaussian_filter1d(filled, sigma, axis=0, mode='nearest',
                                     truncate=truncate)
    keep = valid & usable[None]
    return np.where(keep[..., None], smoothed, raw)


def _check_savgol(window_length: Any, polyorder: Any) -> Tuple[int, int]:
    """``(window_length, polyorder)`` checked: whole numbers, the window
    odd, at least 3, above ``polyorder`` and at most ``2 * MAX_LAG + 1``.

    Raises:
        InputError: Where they are not.
    """
    window_length = check_number('window_length', window_length, minimum=3,
                                 maximum=2 * MAX_LAG + 1, integer=True)
    polyorder = check_number('polyorder', polyorder, minimum=0,
                             integer=True)
    if window_length % 2 == 0 or polyorder >= window_length:
        raise InputError('savgol needs an odd window_length > polyorder, '
                         f'got window_length={window_length}, '
                         f'polyorder={polyorder}')
    return window_length, polyorder


def _check_gaussian(sigma: Any, truncate: Any) -> int:
    """The lag of a Gaussian of ``sigma`` frames cut at ``truncate`` sigmas,
    ``ceil(truncate * sigma)``, checked: both finite and > 0, the lag at
    most :data:`MAX_LAG` frames.

    Raises:
        InputError: Where they are not.
    """
    sigma = check_number('sigma', sigma, above=0)
    truncate = check_number('truncate', truncate, above=0)
    reach = float(truncate) * float(sigma)
    if reach > MAX_LAG:
        raise InputError(
            f'sigma={sigma:g}: the Gaussian reaches truncate * sigma = '
            f'{reach:g} frames to each side (truncate={truncate:g}); at most '
            f'{MAX_LAG} frames, so sigma <= {MAX_LAG / truncate:g}')
    return int(math.ceil(reach))


def _track_key(inst: PoseInstance, index: int) -> int:
    """The track of an instance: its id, or (untracked) its index in the
    frame."""
    return inst.track_id if inst.track_id >= 0 else -1 - index


class KeypointSmoother:
    """No smoothing (``--smooth none``); the interface of every smoother.

    :meth:`push` takes one frame's instances (and any ``payload``, e.g. the
    frame image to draw on) and returns the frames that are ready, each as
    ``(payload, instances)`` with ``instance.keypoints`` smoothed, in frame
    order; :meth:`flush` returns the rest at the end of the video.
    :attr:`lag` is the number of frames a frame is held back.
    """
    lag = 0

    def push(self,
             instances: Sequence[PoseInstance],
             payload: Any = None,
             timestamp: Optional[float] = None) -> List[Released]:
        """Add a frame; return the frames ready for output.

        Args:
            instances (Sequence[PoseInstance]): The frame's poses.
            payload: Handed back with them.
            timestamp (float, optional): Seconds (cameras); files use the
                frame index and the smoother's ``fps``.
        """
        return [(payload, list(instances))]

    def flush(self) -> List[Released]:
        """The frames still held back (end of the video)."""
        return []


class OneEuroSmoother(KeypointSmoother):
    """Online 1-euro smoothing of every track (no delay).

    Args:
        fps (float): Frame rate, for frames pushed without a timestamp.
        kpt_thr (float): Gate: keypoints scored at or below it are not filtered.
        min_cutoff, beta, d_cutoff: See :class:`OneEuroFilter`.
        forget_after (float): Seconds after which a track's unseen filter is
            dropped. Defaults to 10.
    """

    def __init__(self,
                 fps: float = 30.0,
                 kpt_thr: float = 0.3,
                 min_cutoff: float = 1.0,
                 beta: float = 0.1,
                 d_cutoff: float = 1.0,
                 forget_after: float = 10.0) -> None:
        check_number('fps', fps, above=0)
        check_number('kpt_thr', kpt_thr)
        check_number('forget_after', forget_after, above=0)
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # checks the parameters
        self.fps = float(fps)
        self.kpt_thr = float(kpt_thr)
        self.params = dict(min_cutoff=min_cutoff, beta=beta,
                           d_cutoff=d_cutoff)
        self.forget_after = float(forget_after)
        self._filters: Dict[int, Tuple[OneEuroFilter, float]] = {}
        self._frame = 0

    def push(self,
             instances: Sequence[PoseInstance],
             payload: Any = None,
             timestamp: Optional[float] = None) -> List[Released]:
        t = self._frame / self.fps if timestamp is None else float(timestamp)
        self._frame += 1
        for i, inst in enumerate(instances):
            key = _track_key(inst, i)
            if key in self._filters:
                filt = self._filters[key][0]
            else:
                filt = OneEuroFilter(**self.params)
            inst.keypoints = filt(
                inst.keypoints_raw, t,
                inst.keypoint_scores > self.kpt_thr).astype(np.float32)
            self._filters[key] = (filt, t)
        self._filters = {
            k: v
            for k, v in self._filters.items()
            if t - v[1] <= self.forget_after
        }
        return [(payload, list(instances))]


class WindowSmoother(KeypointSmoother):
    """Savitzky-Golay or Gaussian smoothing of every track over a centred
    window, frames released :attr:`lag` frames late.

    Frame t is smoothed once frame t + lag has arrived, with
    :func:`smooth_keypoints` on its track's poses in frames t - lag ...
    t + lag (fewer at the ends of the video and of the track). For
    ``savgol`` the window is ``window_length`` (lag ``window_length //
    2``): away from a track's ends the result equals ``savgol_filter`` over
    the whole trajectory.

    Args:
        method (str): ``'savgol'`` or ``'gaussian'``.
        kpt_thr (float): Gate, see :func:`smooth_keypoints`.
        window_length (int): Savitzky-Golay window (odd). Defaults to 11.
        polyorder (int): Savitzky-Golay order. Defaults to 3.
        sigma (float): Gaussian sigma, frames. Defaults to 1.5.
        truncate (float): Gaussian radius in sigmas; the lag is
            ``ceil(truncate * sigma)``. Defaults to 3.
    """

    def __init__(self,
                 method: str = 'savgol',
                 kpt_thr: float = 0.3,
                 window_length: int = 11,
                 polyorder: int = 3,
                 sigma: float = 1.5,
                 truncate: float = 3.0) -> None:
        check_number('kpt_thr', kpt_thr)
        if method == 'savgol':
            window_length, polyorder = _check_savgol(window_length, polyorder)
            self.lag = window_length // 2
        elif method == 'gaussian':
            self.lag = _check_gaussian(sigma, truncate)
        else:
            raise ValueError(f"method must be 'savgol' or 'gaussian', got "
                             f'{method!r}')
        self.params = dict(method=method, kpt_thr=kpt_thr,
                           window_length=window_length, polyorder=polyorder,
                           sigma=sigma, truncate=truncate)
        self._frames: Deque[Tuple[Any, List[PoseInstance],
                                  Dict[int, PoseInstance]]] = deque()
        self._next = 0  # position in _frames of the first frame not released

    def _release(self, pos: int) -> Released:
        payload, instances, _ = self._frames[pos]
        lo, hi = max(0, pos - self.lag), min(len(self._frames),
                                              pos + self.lag + 1)
        for i, inst in enumerate(instances):
            key = _track_key(inst, i)
            series = [self._frames[j][2].get(key) for j in range(lo, hi)]
            here = pos - lo
            # the contiguous run of frames around pos where the track exists
            start, stop = here, here + 1
            while start > 0 and series[start - 1] is not None:
                start -= 1
            while stop < len(series) and series[stop] is not None:
                stop += 1
            run = series[start:stop]
            smoothed = smooth_keypoints(
                np.stack([s.keypoints_raw for s in run]),
                np.stack([s.keypoint_scores for s in run]), **self.params)
            inst.keypoints = smoothed[here - start].astype(np.float32)
        return payload, instances

    def push(self,
             instances: Sequence[PoseInstance],
             payload: Any = None,
             timestamp: Optional[float] = None) -> List[Released]:
        instances = list(instances)
        self._frames.append((payload, instances, {
            _track_key(inst, i): inst
            for i, inst in enumerate(instances)
        }))
        out = []
        while len(self._frames) - 1 - self._next >= self.lag:
            out.append(self._release(self._next))
            self._next += 1
        while self._next > self.lag:  # older frames are no longer needed
            self._frames.popleft()
            self._next -= 1
        return out

    def flush(self) -> List[Released]:
        out = [self._release(pos)
               for pos in range(self._next, len(self._frames))]
        self._frames.clear()
        self._next = 0
        return out


def build_smoother(method: str,
                   fps: float = 30.0,
                   kpt_thr: float = 0.3,
                   **params) -> KeypointSmoother:
    """The smoother of ``--smooth METHOD``.

    Args:
        method (str): One of :data:`SMOOTH_METHODS`.
        fps (float): Frame rate (``oneeuro`` without timestamps).
        kpt_thr (float): Score gate.
        **params: The method's parameters (see :class:`OneEuroSmoother`,
            :class:`WindowSmoother`).
    """
    if method in SMOOTH_PARAMS:
        unknown = sorted(set(params) - set(SMOOTH_PARAMS[method]))
        if unknown:
            known = ', '.join(SMOOTH_PARAMS[method]) or 'none'
            raise InputError(f'smooth={method!r} has no parameter '
                             f'{", ".join(unknown)} (its parameters: '
                             f'{known})')
    if method == 'none':
        return KeypointSmoother()
    if method == 'oneeuro':
        return OneEuroSmoother(fps=fps, kpt_thr=kpt_thr, **params)
    if method in OFFLINE_METHODS:
        return WindowSmoother(method, kpt_thr=kpt_thr, **params)
    raise InputError(f'smooth must be one of {", ".join(SMOOTH_METHODS)}, '
                     f'got {method!r}')
