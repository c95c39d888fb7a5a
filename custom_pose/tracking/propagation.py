# Copyright (c) custom_pose contributors. All rights reserved.
"""Boxes for frame t from the poses of frame t-1 (Xiao et al. 2018, sec. 3).

A top-down model sees only its box. With the whole frame as the box, an
animal that covers a fifth of the frame width is a few pixels of the model
input and its keypoints are lost. :class:`BoxPropagator` starts from the
whole frame, a region of interest or a detector; from then on each
animal's box is the box of its previous pose's labelled keypoints, enlarged;
when a pose's mean score drops below a threshold (the animal was lost), the
start box or the detector takes over again. Without a detector, the start
box can be searched: windows of a few sizes slide over it
(:func:`search_windows`), and the poses the model is surest of are kept
(:meth:`~custom_pose.tracking.VideoPoseTracker`), so a small animal is found
in a large frame.
"""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from custom_pose.errors import InputError

from .boxes import (bbox_from_keypoints, box_iou, clip_bbox, parse_roi,
                    search_windows)
from .checks import (MIN_SEARCH_SCALE, check_number, check_roi,
                     check_search_scales)

__all__ = [
    'START_SOURCES', 'DEFAULT_SEARCH_SCALES', 'MIN_SEARCH_SCALE', 'parse_roi',
    'check_roi', 'check_search_scales', 'clip_bbox', 'bbox_from_keypoints',
    'box_iou', 'search_windows', 'BoxPropagator'
]

#: Where the first box comes from (and the fallback when a pose is lost).
START_SOURCES = ('full_frame', 'roi', 'detector')

#: ``--search-scales`` by default: windows of half and a third of the
#: frame's shorter side (measured on the synthetic arena clip, see
#: ``docs/tracking_and_onnx.md``; the whole frame is not searched, scale 1
#: adds it).
DEFAULT_SEARCH_SCALES = (0.5, 0.35)

#: ``detector(frame) -> (M, 4) xyxy boxes`` of the animals to follow (the
#: caller filters classes and scores).
Detector = Callable[[np.ndarray], np.ndarray]


def keypoint_center(keypoints: np.ndarray, scores: np.ndarray,
                    kpt_thr: float = 0.3) -> Optional[np.ndarray]:
    """Centre (2, ) of the box of a pose's labelled keypoints, ``None``
    without any."""
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, 2)
    labelled = (np.asarray(scores).reshape(-1) > kpt_thr) & \
        np.isfinite(keypoints).all(axis=1)
    if not labelled.any():
        return None
    pts = keypoints[labelled]
    return (pts.min(axis=0) + pts.max(axis=0)) / 2


@dataclass
class _Followed:
    """One animal :class:`BoxPropagator` follows: its last pose, the box
    that pose was estimated in (``None`` for a start box), the pose's
    centre and velocity (pixels per frame), and, while its poses are
    rejected, the frames it has moved on by its velocity alone."""
    keypoints: np.ndarray
    scores: np.ndarray
    previous: Optional[np.ndarray]
    center: Optional[np.ndarray]
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    coasting: int = 0  # frames of velocity since ``center`` was measured


class BoxPropagator:
    """Boxes of the animals to estimate in each frame of a video.

    The first frame uses the start boxes: the whole frame
    (``'full_frame'``), ``roi`` (``'roi'``) or the detector's boxes
    (``'detector'``). After each frame, :meth:`update` receives the poses
    estimated in the boxes :meth:`boxes` gave; a pose whose mean keypoint
    score is at least ``min_mean_score`` gives the next frame's box
    (:func:`bbox_from_keypoints`, source ``'propagated'``). A pose below it
    is lost: with a detector, the detector runs on the next frame, its
    boxes replace the propagated boxes they overlap (``reseed``) and the
    others are added (two poses on one animal, below, also mean an animal
    is lost);
    without one, when no pose is left the start box is used again, with
    ``search_scales`` also the windows of :func:`search_windows` over it
    (source ``'search'``; :class:`~custom_pose.tracking.VideoPoseTracker`
    keeps the surest poses of them). Of two propagated boxes that overlap by
    ``nms_iou`` or more (two poses on one animal), the one of the pose with
    the higher mean score is kept (mmpose's ``nms``).

    Args:
        start (str): ``'full_frame'``, ``'roi'`` or ``'detector'``.
        roi (Sequence[float], optional): ``x1, y1, x2, y2`` for
            ``start='roi'`` (see :func:`parse_roi`).
        detector (callable, optional): ``frame -> (M, 4)`` boxes; needed for
            ``start='detector'``.
        propagate (bool): ``False`` uses the start boxes in every frame
            (the demos' behaviour without ``--track-box``).
        enlarge (float): See :func:`bbox_from_keypoints`. Defaults to 1.4:
            the keypoints the model is sure of span less than the animal's
            box (by about 1.15 x 1.1 with all of them labelled), and a crop
            that cuts the animal loses the keypoints of the part cut off;
            1.25 let the box slide onto the head of a walking animal on the
            arena clip (:mod:`custom_pose.tracking.arena`).
        kpt_thr (float): Score above which a keypoint counts as labelled.
        min_mean_score (float): Mean keypoint score below which a pose is
            lost. Defaults to 0.3.
        min_keypoints (int): Labelled keypoints a pose needs to give a box.
        min_size (float): See :func:`bbox_from_keypoints`.
        redetect_interval (int): With a detector, also run it every this
            many frames to pick up animals that entered (0: only when a pose
            is lost).
        nms_iou (float): Boxes overlapping by more than this IoU are the
            same animal: a detection overlapping a propagated box is
            dropped, and of two propagated boxes the less sure one.
            Defaults to 0.5.
        search_scales (Sequence[float]): Window sides, as fractions of the
            start box's shorter side, searched when there is no pose to
            follow, with the ROI (a user's box around the animal) but
            instead of the whole frame (in which a small animal is a few
            pixels of the model input; scale 1 adds it), each in
            [:data:`MIN_SEARCH_SCALE`, 1]; empty (the default): the start
            box alone. Not with a detector.
        max_shrink (float): A box propagated from a pose that was itself
            estimated in a propagated box keeps at least ``1 - max_shrink``
            of that box's width and height: a crop that cut off part of the
            animal loses those keypoints' scores, and without this limit
            the next box would be cut further until it holds only a head.
            Defaults to 0.1.
        max_shift (float): Where a propagated box overlaps another box of
            the frame (one animal walks past another), a pose whose centre
            lies further than this fraction of its box's width or height
            from where the animal's motion puts it has slid onto the other
            animal: it is rejected (:meth:`update` returns ``False`` for
            it) and the animal's box moves on with its velocity instead,
            until a pose in it fits the motion again (see
            :meth:`motion_offsets`). 0 turns this off.
            Defaults to 0.2.
        max_coast (int): Frames a box moves on by its velocity alone before
            the animal counts as lost. Defaults to 25.
        reseed (bool): When the detector runs, its boxes replace the
            propagated boxes they overlap (one each, Hungarian matching on
            IoU, ``scipy.optimize.linear_sum_assignment``): where two
            animals meet, a propagated box can hold both or slide onto the
            other, a detection holds one. ``False``: such detections are
            dropped and the propagated boxes stay. Defaults to True.
    """

    def __init__(self,
                 start: str = 'full_frame',
                 roi: Optional[Sequence[float]] = None,
                 detector: Optional[Detector] = None,
                 propagate: bool = True,
                 enlarge: float = 1.4,
                 kpt_thr: float = 0.3,
                 min_mean_score: float = 0.3,
                 min_keypoints: int = 2,
                 min_size: float = 8.0,
                 redetect_interval: int = 0,
                 nms_iou: float = 0.5,
                 search_scales: Sequence[float] = (),
                 max_shrink: float = 0.1,
                 max_shift: float = 0.2,
                 max_coast: int = 25,
                 reseed: bool = True) -> None:
        if start not in START_SOURCES:
            raise ValueError(
                f'start must be one of {START_SOURCES}, got {start!r}')
        if start == 'roi' and roi is None:
            raise ValueError("start='roi' needs roi=(x1, y1, x2, y2)")
        if start == 'detector' and detector is None:
            raise ValueError("start='detector' needs a detector")
        if roi is not None:
            roi = check_roi(roi)
        check_number('enlarge', enlarge, minimum=1)
        check_number('kpt_thr', kpt_thr)
        check_number('min_mean_score', min_mean_score)
        check_number('redetect_interval', redetect_interval, minimum=0,
                     integer=True)
        search_scales = check_search_scales(search_scales)
        if not 0 <= max_shrink < 1:
            raise ValueError(f'max_shrink must be in [0, 1), got {max_shrink}')
        if max_shift < 0 or max_coast < 0:
            raise ValueError('max_shift and max_coast must be >= 0, got '
                             f'{max_shift} and {max_coast}')
        if search_scales and start == 'detector':
            raise ValueError('search_scales: the detector gives the start '
                             'boxes, there is nothing to search')
        self.start = start
        self.roi = None if roi is None else np.asarray(
            roi, np.float32).reshape(4)
        self.detector = detector
        self.propagate = propagate
        self.enlarge = float(enlarge)
        self.kpt_thr = float(kpt_thr)
        self.min_mean_score = float(min_mean_score)
        self.min_keypoints = int(min_keypoints)
        self.min_size = float(min_size)
        self.redetect_interval = int(redetect_interval)
        self.nms_iou = float(nms_iou)
        self.search_scales = search_scales
        self.max_shrink = float(max_shrink)
        self.max_shift = float(max_shift)
        self.max_coast = int(max_coast)
        self.reseed = bool(reseed)
        self.reset()

    def reset(self) -> None:
        """Forget the previous poses (the next frame uses the start boxes)."""
        self._poses: List[_Followed] = []
        # the propagated boxes :meth:`boxes` gave, and whom they follow
        self._given: List[Tuple[np.ndarray, _Followed]] = []
        self._frame_size: Optional[Tuple[int, int]] = None
        self.frame_index = 0

    def start_boxes(self,
                    frame: np.ndarray) -> Tuple[np.ndarray, List[str]]:
        """The start boxes of ``frame`` and their source (with
        ``search_scales``: the start box, then its search windows)."""
        h, w = frame.shape[:2]
        if self.start == 'detector':
            boxes = np.asarray(self.detector(frame), np.float32).reshape(-1, 4)
            boxes = clip_bbox(boxes, (w, h))
            keep = (boxes[:, 2] - boxes[:, 0] >= 1) & \
                (boxes[:, 3] - boxes[:, 1] >= 1)
            return boxes[keep], ['detector'] * int(keep.sum())
        return self._with_windows(self.start_region(frame), self.start)

    def start_region(self, frame: np.ndarray) -> np.ndarray:
        """The ``(4, )`` xyxy start box of ``frame`` without a detector:
        the whole frame, or the ROI clipped to it.

        Raises:
            InputError: The ROI lies outside the frame.
        """
        h, w = frame.shape[:2]
        if self.start != 'roi':
            return np.array([0, 0, w, h], np.float32)
        box = clip_bbox(self.roi, (w, h))
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            raise InputError(
                f'--roi {",".join(f"{v:g}" for v in self.roi)} lies '
                f'outside the {w}x{h} frame')
        return box

    def _with_windows(self, box: np.ndarray,
                      source: str) -> Tuple[np.ndarray, List[str]]:
        """``box``, or when propagating with ``search_scales`` its search
        windows (and itself for a ROI, or for scale 1)."""
        if not (self.propagate and self.search_scales):
            return box[None], [source]
        windows = search_windows(box, [s for s in self.search_scales
                                       if s < 1])
        whole = [box] if source == 'roi' or 1 in self.search_scales else []
        return (np.concatenate([np.reshape(whole, (-1, 4)),
                                windows]).astype(np.float32),
                [source] * len(whole) + ['search'] * len(windows))

    def pose_box(self,
                 keypoints: np.ndarray,
                 scores: np.ndarray,
                 frame_size: Tuple[int, int],
                 previous: Optional[np.ndarray] = None
                 ) -> Optional[np.ndarray]:
        """The box a pose gives the next frame, ``None`` when it is lost
        (mean score below ``min_mean_score`` or too few labelled
        keypoints). ``previous``: the propagated box the pose was estimated
        in (see ``max_shrink``)."""
        if float(np.mean(scores)) < self.min_mean_score:
            return None
        min_size = self.min_size
        if previous is not None:
            min_size = np.maximum(
                min_size, (1 - self.max_shrink) *
                (np.asarray(previous[2:]) - np.asarray(previous[:2])))
        return bbox_from_keypoints(keypoints, scores, frame_size,
                                   self.kpt_thr, self.enlarge,
                                   self.min_keypoints, min_size)

    def _next_box(self, followed: _Followed,
                  size: Tuple[int, int]) -> Optional[np.ndarray]:
        """The next box of a followed animal: its pose's box, or while it is
        coasting its last box moved on by its velocity."""
        if not followed.coasting:
            return self.pose_box(followed.keypoints, followed.scores, size,
                                 followed.previous)
        if followed.coasting > self.max_coast:
            return None
        box = clip_bbox(followed.previous + np.tile(followed.velocity, 2),
                        size)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return None  # it left the frame
        return box

    def boxes(self, frame: np.ndarray) -> Tuple[np.ndarray, List[str]]:
        """Boxes to estimate poses in, for ``frame``.

        Args:
            frame (np.ndarray): (H, W, 3) image.

        Returns:
            tuple: ``boxes`` (N, 4) float32 ``xyxy`` and their sources
            (N strings of :data:`~custom_pose.tracking.BBOX_SOURCES`).
        """
        h, w = frame.shape[:2]
        size = (w, h)
        propagated = []
        lost = False
        if self.propagate and self._frame_size == size:
            for followed in self._poses:
                box = self._next_box(followed, size)
                if box is None:
                    lost = True
                else:
                    propagated.append(
                        ([*box, float(np.mean(followed.scores))], followed))
        else:
            lost = True  # first frame, no propagation, or a new frame size
        self.frame_index += 1
        # two poses on one animal: keep the surer (a box moving on by its
        # velocity is no pose and stays)
        posed = [i for i, (_, f) in enumerate(propagated) if not f.coasting]
        if len(posed) > 1:
            from mmpose.evaluation.functional import nms
            keep = [posed[i] for i in nms(
                np.array([propagated[i][0] for i in posed]), self.nms_iou)]
            keep += [i for i in range(len(propagated)) if i not in posed]
            lost |= len(keep) < len(propagated)  # the other animal is lost
            propagated = [propagated[i] for i in sorted(keep)]
        boxes = np.asarray([b for b, _ in propagated],
                           np.float32).reshape(-1, 5)[:, :4]
        self._given = [(b.copy(), f) for b, (_, f) in zip(boxes, propagated)]
        sources = ['propagated'] * len(boxes)
        if self.start == 'detector':
            due = self.redetect_interval > 0 and \
                (self.frame_index - 1) % self.redetect_interval == 0
            if lost or due or not len(boxes):
                det, det_sources = self.start_boxes(frame)
                if len(boxes) and len(det) and self.reseed:
                    det, det_sources = self._reseed(boxes, sources, det,
                                                    det_sources)
                if len(boxes) and len(det):
                    det = det[box_iou(det, boxes).max(axis=1) <= self.nms_iou]
                    det_sources = det_sources[:len(det)]
                boxes = np.concatenate([boxes, det])
                sources += det_sources
        elif not len(boxes):
            boxes, sources = self.start_boxes(frame)
        return boxes, sources

    def _reseed(self, boxes: np.ndarray, sources: List[str],
                det: np.ndarray, det_sources: List[str]
                ) -> Tuple[np.ndarray, List[str]]:
        """Put each detection in place of the propagated box it overlaps
        most (``reseed``; ``boxes`` and ``sources`` are changed in place);
        the detections left over."""
        from scipy.optimize import linear_sum_assignment
        iou = box_iou(det, boxes)
        rows, cols = linear_sum_assignment(-iou)
        hit = [(r, c) for r, c in zip(rows, cols) if iou[r, c] > 0]
        for r, c in hit:
            boxes[c] = det[r]
            sources[c] = det_sources[r]
        # a replaced box no longer follows its animal's motion
        self._given = [(b, f) for b, f in self._given
                       if any(np.array_equal(b, x) for x in boxes)]
        rest = sorted(set(range(len(det))) - {r for r, _ in hit})
        return det[rest], [det_sources[r] for r in rest]

    def update(self,
               frame: np.ndarray,
               keypoints: np.ndarray,
               scores: np.ndarray,
               boxes: Optional[np.ndarray] = None,
               sources: Optional[Sequence[str]] = None) -> np.ndarray:
        """Record the poses estimated in the boxes of :meth:`boxes`.

        Args:
            frame (np.ndarray): The frame (for its size).
            keypoints (np.ndarray): (N, K, 2) keypoints, image pixels.
            scores (np.ndarray): (N, K) scores.
            boxes (np.ndarray, optional): (N, 4) the boxes they were
                estimated in, and ``sources`` their sources: the propagated
                ones limit how fast the next boxes shrink (``max_shrink``)
                and carry the motion of the animal they follow
                (``max_shift``).

        Returns:
            np.ndarray: (N, ) bool, ``False`` for a pose that slid onto
            another animal (see ``max_shift``): drop it, its animal's box
            moves on by its velocity.
        """
        h, w = frame.shape[:2]
        self._frame_size = (w, h)
        n = len(keypoints)
        previous: List[Optional[np.ndarray]] = [None] * n
        if boxes is not None and sources is not None:
            previous = [
                np.asarray(b, np.float32) if s == 'propagated' else None
                for b, s in zip(boxes, sources)
            ]
        fits = ~(self.motion_offsets(keypoints, scores, boxes, sources) >
                 self.max_shift)
        self._poses = []
        for i in range(n):
            kpts = np.asarray(keypoints[i], np.float32)
            sc = np.asarray(scores[i], np.float32)
            center = keypoint_center(kpts, sc, self.kpt_thr)
            new = _Followed(kpts, sc, previous[i], center)
            before = self._follows(previous[i])
            if before is not None and not fits[i]:
                # moves on by its velocity; the pose belongs to another
                before.previous = previous[i]
                before.coasting += 1
                new = before
            elif before is not None and before.center is not None and \
                    center is not None:
                step = (center - before.center) / (before.coasting + 1)
                new.velocity = step if not before.velocity.any() else \
                    0.5 * before.velocity + 0.5 * step
            self._poses.append(new)
        self._given = []
        return fits

    def _follows(self, box: Optional[np.ndarray]) -> Optional[_Followed]:
        """The animal a propagated box given by :meth:`boxes` follows."""
        if box is None:
            return None
        for given, followed in self._given:
            if np.array_equal(given, box):
                return followed
        return None

    def motion_offsets(self,
                       keypoints: np.ndarray,
                       scores: np.ndarray,
                       boxes: Optional[np.ndarray] = None,
                       sources: Optional[Sequence[str]] = None
                       ) -> np.ndarray:
        """How far each pose of the boxes of :meth:`boxes` lies from where
        its animal's motion puts it (see ``max_shift``).

        Only for a pose estimated in a propagated box that overlaps another
        box of the frame (one animal near another), whose animal's centre
        and velocity are known: the distance of the pose's centre from the
        last centre moved on by the velocity, as a fraction of the box's
        width or height (the larger). Above ``max_shift``, the pose slid
        onto the other animal.

        Args:
            keypoints (np.ndarray): (N, K, 2). scores (np.ndarray): (N, K).
            boxes (np.ndarray, optional): (N, 4) the boxes they were
                estimated in, and ``sources`` their sources (without them
                no pose is checked).

        Returns:
            np.ndarray: (N, ) float, NaN for a pose not checked.
        """
        n = len(keypoints)
        offsets = np.full(n, np.nan)
        if self.max_shift <= 0 or boxes is None or sources is None or n < 2:
            return offsets
        boxes = np.asarray(boxes, np.float32).reshape(n, 4)
        overlap = box_iou(boxes, boxes) > 0
        np.fill_diagonal(overlap, False)
        for i in np.flatnonzero(overlap.any(axis=1)):
            before = self._follows(boxes[i]) \
                if sources[i] == 'propagated' else None
            center = keypoint_center(keypoints[i], scores[i], self.kpt_thr)
            if before is None or before.center is None or center is None:
                continue
            expected = before.center + (before.coasting + 1) * before.velocity
            size = np.maximum(boxes[i, 2:] - boxes[i, :2], 1.0)
            offsets[i] = float((np.abs(center - expected) / size).max())
        return offsets
