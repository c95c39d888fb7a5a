# Copyright (c) custom_pose contributors. All rights reserved.
"""Which box a video of one animal is estimated in: the start box (the
whole frame or a region of interest) in every frame, or the box of the
previous frame's pose (:class:`~custom_pose.tracking.BoxPropagator`).

A top-down model is trained on crops around the animal. In the whole
frame, an animal whose keypoints span a fifth of the frame is a few pixels
of the model input, smaller than any crop the model was trained on, and
the box that follows the animal is far better; an animal that fills the
frame is seen whole in every frame with the whole frame as the box, and a
propagated box only adds the risk of cutting it. :func:`decide_box_mode`
(``box_mode='auto'`` of :class:`~custom_pose.tracking.TrackingOptions`)
looks at the first frames: it searches them for the animal and measures
how much of the start box its keypoints span (:func:`keypoint_fill`).
"""
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .propagation import DEFAULT_SEARCH_SCALES, BoxPropagator
from .video_tracker import PoseFn, VideoPoseTracker

__all__ = [
    'BOX_MODES', 'DEFAULT_AUTO_FILL', 'DEFAULT_AUTO_FRAMES',
    'BoxModeDecision', 'keypoint_fill', 'decide_box_mode',
    'detector_decision'
]

#: ``'auto'``: decided from the first frames (:func:`decide_box_mode`);
#: ``'start'``: the start box in every frame (the whole frame, the ROI or
#: the detector's boxes); ``'track'``: the box of the previous frame's
#: pose, the start box (or its search) when the pose is lost.
BOX_MODES = ('auto', 'start', 'track')

#: ``auto`` follows the animal when its keypoints span less than this
#: fraction of the start box (:func:`keypoint_fill`). A model trained on
#: boxes around the keypoints (10 % margin, ``padding`` 1.25) sees the
#: keypoints span 1 / 1.5 of its input; mmpose's ``RandomBBoxTransform``
#: varies the crop by 0.5-1.5x, so the smallest span it trains on is about
#: 0.44 of the input. The whole frame as the box (``padding`` 1.25) shows a
#: pose of fill ``f`` at ``f / 1.25`` of the input: below ``f`` = 0.5-0.55
#: it is smaller than anything the model saw in training.
DEFAULT_AUTO_FILL = 0.5

#: Frames ``auto`` looks at before deciding.
DEFAULT_AUTO_FRAMES = 5


def keypoint_fill(keypoints: np.ndarray,
                  scores: np.ndarray,
                  region: Sequence[float],
                  kpt_thr: float = 0.3,
                  min_keypoints: int = 2) -> Optional[float]:
    """How much of ``region`` a pose's labelled keypoints span.

    Args:
        keypoints (np.ndarray): (K, 2) keypoints, image pixels.
        scores (np.ndarray): (K, ) their scores; a keypoint is labelled
            above ``kpt_thr``.
        region (Sequence[float]): (4, ) ``xyxy`` box, e.g. the whole frame.
        kpt_thr (float): Score threshold.
        min_keypoints (int): Fewer labelled keypoints give ``None``.

    Returns:
        float | None: The larger side of the keypoints' box over the larger
        side of the region: the part of a square model input the keypoints
        span when the region is the box (the crop is a square around the
        region's larger side).
    """
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 2)
    labelled = (np.asarray(scores).reshape(-1) > kpt_thr) & \
        np.isfinite(keypoints).all(axis=1)
    if labelled.sum() < max(1, min_keypoints):
        return None
    pts = keypoints[labelled]
    x1, y1, x2, y2 = (float(v) for v in region)
    side = max(x2 - x1, y2 - y1, 1e-6)
    return float((pts.max(axis=0) - pts.min(axis=0)).max() / side)


@dataclass
class BoxModeDecision:
    """What ``box_mode='auto'`` chose, and from what.

    Attributes:
        mode (str): ``'start'`` or ``'track'`` (see :data:`BOX_MODES`).
        start (str): The start box: ``'full_frame'``, ``'roi'`` or
            ``'detector'``.
        fill (float, optional): Median :func:`keypoint_fill` of the sure
            poses of the frames looked at; ``None`` without one.
        fill_thr (float): Below it, ``'track'``.
        frames (int): Frames looked at.
        sure_frames (int): Of them, frames with a sure pose (mean keypoint
            score at least ``min_mean_score``).
        reason (str): One line saying why.
    """
    mode: str
    start: str
    fill: Optional[float]
    fill_thr: float
    frames: int
    sure_frames: int
    reason: str

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready (the demos' predictions keep it)."""
        out = asdict(self)
        if self.fill is not None:
            out['fill'] = round(float(self.fill), 4)
        return out


_WHAT = dict(full_frame='whole frame', roi='ROI', detector="detector's boxes")


def decide_box_mode(pose_fn: PoseFn,
                    frames: Sequence[np.ndarray],
                    start: str = 'full_frame',
                    roi: Optional[Sequence[float]] = None,
                    search_scales: Sequence[float] = DEFAULT_SEARCH_SCALES,
                    fill_thr: float = DEFAULT_AUTO_FILL,
                    kpt_thr: float = 0.3,
                    min_mean_score: float = 0.3,
                    enlarge: float = 1.4) -> BoxModeDecision:
    """Decide between the start box in every frame and the propagated box.

    The frames are run in order through a :class:`VideoPoseTracker` that
    searches the start box (the start box itself and windows of
    ``search_scales``, the surest pose refined in its own box) and then
    follows the pose found; the surest pose of each frame whose mean
    keypoint score is at least ``min_mean_score`` gives a
    :func:`keypoint_fill` of the start box. Their median below
    ``fill_thr`` gives ``'track'`` (a small animal), else ``'start'``; no
    sure pose gives ``'start'`` (the cheaper mode: one crop per frame).

    Args:
        pose_fn (callable): ``(frame, boxes (N, 4)) -> (keypoints (N, K,
            2), scores (N, K))``.
        frames (Sequence[np.ndarray]): The first frames, (H, W, 3) each.
        start (str): ``'full_frame'`` or ``'roi'``.
        roi (Sequence[float], optional): ``x1, y1, x2, y2`` for
            ``start='roi'``.
        search_scales (Sequence[float]): Window sides of the search, as
            fractions of the start box's shorter side (the start box itself
            is always searched too).
        fill_thr (float): See :data:`DEFAULT_AUTO_FILL`.
        kpt_thr (float): A keypoint is labelled above this score.
        min_mean_score (float): A pose is sure from this mean score.
        enlarge (float): The propagated box's factor (see
            :class:`BoxPropagator`).

    Returns:
        BoxModeDecision: The mode and why.
    """
    if start not in ('full_frame', 'roi'):
        raise ValueError("start must be 'full_frame' or 'roi' (a detector "
                         f'gives its own boxes), got {start!r}')
    if not 0 < fill_thr <= 1:
        raise ValueError(f'fill_thr must be in (0, 1], got {fill_thr}')
    scales: Tuple[float, ...] = tuple(
        sorted({1.0, *(float(s) for s in search_scales)}, reverse=True))
    propagator = BoxPropagator(start, roi=roi, enlarge=enlarge,
                               kpt_thr=kpt_thr, min_mean_score=min_mean_score,
                               search_scales=scales)
    video = VideoPoseTracker(pose_fn, propagator)
    fills: List[float] = []
    for frame in frames:
        sure = [i for i in video(frame)
                if float(np.mean(i.keypoint_scores)) >= min_mean_score]
        if not sure:
            continue
        best = max(sure, key=lambda i: float(np.mean(i.keypoint_scores)))
        fill = keypoint_fill(best.keypoints_raw, best.keypoint_scores,
                             propagator.start_region(frame), kpt_thr)
        if fill is not None:
            fills.append(fill)
    what = _WHAT[start]
    n = len(frames)
    if not fills:
        return BoxModeDecision(
            'start', start, None, fill_thr, n, 0,
            f'no pose with a mean keypoint score of {min_mean_score:g} or '
            f'more in the first {n} frames: the {what} in every frame')
    fill = float(np.median(fills))
    span = (f"the animal's keypoints span {fill:.0%} of the {what} "
            f'(median of {len(fills)} of the first {n} frames)')
    if fill < fill_thr:
        return BoxModeDecision(
            'track', start, fill, fill_thr, n, len(fills),
            f'{span}, less than {fill_thr:.0%}: the box follows the animal')
    return BoxModeDecision(
        'start', start, fill, fill_thr, n, len(fills),
        f'{span}, {fill_thr:.0%} or more: the {what} in every frame')


def detector_decision(fill_thr: float = DEFAULT_AUTO_FILL
                      ) -> BoxModeDecision:
    """``auto`` with a detector: its boxes, fitted to each animal, in every
    frame (nothing to decide)."""
    return BoxModeDecision(
        'start', 'detector', None, fill_thr, 0, 0,
        "the detector fits a box to each animal in every frame: the "
        "detector's boxes in every frame")
