# Copyright (c) custom_pose contributors. All rights reserved.
"""Track ids across frames: Hungarian matching on OKS, IoU as fallback.

Each track keeps the last sure pose of one animal and a constant-velocity
estimate of its motion. A new frame's poses are matched to the tracks'
predicted poses by the Hungarian algorithm (``scipy.optimize.
linear_sum_assignment``) on the object keypoint similarity (OKS, mmpose's
``oks_iou``); poses and tracks left over (no labelled keypoint in common, or
an OKS under ``oks_thr``) are matched on the IoU of their boxes. Unmatched
poses start new tracks; a track unmatched for more than ``max_age`` frames
ends. With the velocity, two animals whose paths cross keep their ids.

Where two animals cross, a top-down model given a box holding both often
returns a pose that mixes them. As in ByteTrack (Zhang et al. 2022), a pose
the model is unsure of (mean keypoint score under ``init_track_thr``) starts
no track and does not move a track on: it takes the id of the track it
matches while that track coasts on its velocity from its last sure pose,
so the animal is found again where it walks out of the crossing. A pose
whose box overlaps the boxes of two tracks is matched on its keypoints
only (box IoU cannot tell the two animals apart), if it is unsure not at
all, and starts no track.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .propagation import box_iou

__all__ = ['DEFAULT_SIGMA', 'keypoint_oks', 'Track', 'PoseTracker']

#: Per-keypoint OKS sigma used when the dataset gives none (about the mean of
#: COCO's 17 sigmas).
DEFAULT_SIGMA = 0.07


def keypoint_area(keypoints: np.ndarray, scores: np.ndarray,
                  kpt_thr: float) -> np.ndarray:
    """Area of the box of each pose's labelled keypoints: (N, K, 2), (N, K)
    -> (N, ) (at least 1 px^2), the object area OKS is relative to."""
    keypoints = np.asarray(keypoints, np.float64).reshape(
        len(scores), -1, 2)
    labelled = np.asarray(scores) > kpt_thr
    areas = np.ones(len(keypoints))
    for i, (kpts, mask) in enumerate(zip(keypoints, labelled)):
        if mask.any():
            extent = kpts[mask].max(axis=0) - kpts[mask].min(axis=0)
            areas[i] = max(1.0, float(extent[0] * extent[1]))
    return areas


def keypoint_oks(keypoints1: np.ndarray, scores1: np.ndarray,
                 keypoints2: np.ndarray, scores2: np.ndarray,
                 sigmas: np.ndarray, kpt_thr: float = 0.3) -> np.ndarray:
    """OKS between every pair of poses, over the keypoints labelled in both.

    mmpose's ``oks_iou`` (its ``oks_nms`` similarity); the object area is
    the mean of the two poses' :func:`keypoint_area`.

    Args:
        keypoints1 (np.ndarray): (N, K, 2). scores1 (np.ndarray): (N, K).
        keypoints2 (np.ndarray): (M, K, 2). scores2 (np.ndarray): (M, K).
        sigmas (np.ndarray): (K, ) per-keypoint OKS sigmas.
        kpt_thr (float): Score above which a keypoint is labelled.

    Returns:
        np.ndarray: (N, M) OKS in [0, 1]; NaN where the two poses share no
        labelled keypoint.
    """
    from mmpose.evaluation.functional.nms import oks_iou
    n, m = len(keypoints1), len(keypoints2)
    out = np.full((n, m), np.nan)
    if n == 0 or m == 0:
        return out
    keypoints1 = np.asarray(keypoints1, np.float64).reshape(n, -1, 2)
    keypoints2 = np.asarray(keypoints2, np.float64).reshape(m, -1, 2)
    scores1 = np.asarray(scores1, np.float64).reshape(n, -1)
    scores2 = np.asarray(scores2, np.float64).reshape(m, -1)
    area1 = keypoint_area(keypoints1, scores1, kpt_thr)
    area2 = keypoint_area(keypoints2, scores2, kpt_thr)
    flat2 = np.concatenate([keypoints2, scores2[..., None]],
                           axis=-1).reshape(m, -1)
    shared = ((scores1[:, None] > kpt_thr) &
              (scores2[None] > kpt_thr)).any(axis=-1)
    sigmas = np.asarray(sigmas, np.float64)
    for i in range(n):
        flat1 = np.concatenate([keypoints1[i], scores1[i][:, None]],
                               axis=-1).reshape(-1)
        out[i] = oks_iou(flat1, flat2, area1[i], area2, sigmas, kpt_thr)
    out[~shared] = np.nan
    return out


@dataclass
class Track:
    """One followed animal: its last sure pose, box and motion."""
    track_id: int
    keypoints: np.ndarray
    scores: np.ndarray
    bbox: np.ndarray
    velocity: np.ndarray  # (2, ) pixels per frame
    age: int = 0  # frames since its last sure pose (the state coasts)
    missed: int = 0  # frames since it was last matched (``max_age``)
    hits: int = 1  # frames its state was updated in

    def predicted(self) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints and box moved on by the velocity to the next frame."""
        shift = self.velocity * (self.age + 1)
        return self.keypoints + shift, self.bbox + np.tile(shift, 2)


def _hungarian(similarity: np.ndarray,
               threshold: float) -> List[Tuple[int, int]]:
    """Pairs maximising the summed similarity, each at least ``threshold``
    (NaN: not allowed)."""
    if similarity.size == 0:
        return []
    allowed = np.nan_to_num(similarity, nan=-1.0) >= threshold
    if not allowed.any():
        return []
    cost = np.where(allowed, 1.0 - np.nan_to_num(similarity), 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(r, c) for r, c in zip(rows, cols) if allowed[r, c]]


class PoseTracker:
    """Give the poses of each frame the ids of the animals they follow.

    Args:
        sigmas (Sequence[float], optional): Per-keypoint OKS sigmas (the
            dataset's ``dataset_meta['sigmas']``); ``None``:
            :data:`DEFAULT_SIGMA` for every keypoint.
        kpt_thr (float): Score above which a keypoint counts in the OKS.
        oks_thr (float): Smallest OKS that matches a pose to a track.
        iou_thr (float): Smallest box IoU that matches what OKS left.
        max_age (int): Frames a track survives unmatched (an animal hidden
            for a moment keeps its id). Defaults to 30.
        velocity_momentum (float): Weight of the previous velocity when a
            track is updated (0: the last displacement only). Defaults to
            0.5.
        init_track_thr (float): Mean keypoint score of a sure pose (mmdet's
            ``ByteTracker`` name): only a sure pose starts a track or moves
            a track's pose and velocity on. An unsure pose (e.g. one that
            mixes two animals where they cross) takes the id of the track
            it matches, which meanwhile coasts on its velocity from its last
            sure pose, and without a match keeps track id -1. Defaults to
            0.5.
    """

    def __init__(self,
                 sigmas: Optional[Sequence[float]] = None,
                 kpt_thr: float = 0.3,
                 oks_thr: float = 0.3,
                 iou_thr: float = 0.3,
                 max_age: int = 30,
                 velocity_momentum: float = 0.5,
                 init_track_thr: float = 0.5) -> None:
        if max_age < 0:
            raise ValueError(f'max_age must be >= 0, got {max_age}')
        if not 0 <= velocity_momentum < 1:
            raise ValueError('velocity_momentum must be in [0, 1), got '
                             f'{velocity_momentum}')
        self.sigmas = None if sigmas is None else np.asarray(
            sigmas, np.float64).reshape(-1)
        self.kpt_thr = float(kpt_thr)
        self.oks_thr = float(oks_thr)
        self.iou_thr = float(iou_thr)
        self.max_age = int(max_age)
        self.velocity_momentum = float(velocity_momentum)
        self.init_track_thr = float(init_track_thr)
        self.reset()

    @classmethod
    def from_dataset_meta(cls, dataset_meta: dict, **kwargs) -> 'PoseTracker':
        """A tracker with the dataset's OKS sigmas (when it has them)."""
        sigmas = dataset_meta.get('sigmas')
        if sigmas is not None and len(sigmas) == 0:
            sigmas = None
        return cls(sigmas=sigmas, **kwargs)

    def reset(self) -> None:
        """Forget every track; ids start again from 0."""
        self.tracks: List[Track] = []
        self.next_id = 0

    def _sigmas(self, num_keypoints: int) -> np.ndarray:
        if self.sigmas is None:
            return np.full(num_keypoints, DEFAULT_SIGMA)
        if len(self.sigmas) != num_keypoints:
            raise ValueError(
                f'PoseTracker has {len(self.sigmas)} OKS sigmas but the poses '
                f'have {num_keypoints} keypoints')
        return self.sigmas

    def _velocity(self, track: Track, keypoints: np.ndarray,
                  scores: np.ndarray) -> np.ndarray:
        shared = (track.scores > self.kpt_thr) & (scores > self.kpt_thr)
        if not shared.any():
            return track.velocity
        # the median: a keypoint the model jumps with (an animal cut by the
        # frame edge) does not throw the prediction off
        step = np.median(keypoints[shared] - track.keypoints[shared],
                         axis=0) / (track.age + 1)
        if track.hits == 1:
            return step
        m = self.velocity_momentum
        return m * track.velocity + (1 - m) * step

    def _age(self, updated: set, matched: set) -> None:
        """Age the tracks whose state was not ``updated`` (indices), count
        a miss for those not ``matched``; end those missed too long."""
        for i, track in enumerate(self.tracks):
            if i not in updated:
                track.age += 1
            if i not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]

    def update(self, keypoints: np.ndarray, scores: np.ndarray,
               bboxes: np.ndarray) -> np.ndarray:
        """Match one frame's poses to the tracks.

        Args:
            keypoints (np.ndarray): (N, K, 2) keypoints, image pixels.
            scores (np.ndarray): (N, K) keypoint scores.
            bboxes (np.ndarray): (N, 4) ``xyxy`` boxes of the poses (the IoU
                fallback).

        Returns:
            np.ndarray: (N, ) int64 track ids, -1 for a pose that matches
            no track and may not start one (unsure, or overlapping two
            tracks). A frame without poses (N = 0) ages every track.
        """
        n = len(scores)
        ids = np.full(n, -1, np.int64)
        if n == 0:
            self._age(set(), set())
            return ids
        keypoints = np.asarray(keypoints, np.float64).reshape(n, -1, 2)
        scores = np.asarray(scores, np.float64).reshape(n, -1)
        bboxes = np.asarray(bboxes, np.float64).reshape(n, 4)
        sigmas = self._sigmas(keypoints.shape[1])
        sure = scores.mean(axis=1) >= self.init_track_thr
        # a pose whose box overlaps two tracks' boxes may mix both animals:
        # only its keypoints can tell, and only if the model is sure of them
        ambiguous = np.zeros(n, bool)
        pairs: List[Tuple[int, int]] = []
        if self.tracks:
            pred = [t.predicted() for t in self.tracks]
            pred_kpts = np.stack([p[0] for p in pred])
            pred_boxes = np.stack([p[1] for p in pred])
            track_scores = np.stack([t.scores for t in self.tracks])
            iou = box_iou(pred_boxes, bboxes)  # (tracks, poses)
            if len(self.tracks) > 1:
                ambiguous = (iou >= self.iou_thr).sum(axis=0) >= 2
            oks = keypoint_oks(pred_kpts, track_scores, keypoints, scores,
                               sigmas, self.kpt_thr)
            oks[:, ambiguous & ~sure] = np.nan
            pairs = _hungarian(oks, self.oks_thr)
            free_t = sorted(set(range(len(self.tracks))) -
                            {t for t, _ in pairs})
            free_d = sorted(set(np.flatnonzero(~ambiguous)) -
                            {d for _, d in pairs})
            if free_t and free_d:
                pairs += [(free_t[a], free_d[b]) for a, b in _hungarian(
                    iou[np.ix_(free_t, free_d)], self.iou_thr)]
        matched, updated = set(), set()
        for ti, dj in pairs:
            track = self.tracks[ti]
            ids[dj] = track.track_id
            track.missed = 0
            matched.add(ti)
            if not sure[dj]:
                continue  # the track coasts on its last sure pose
            track.velocity = self._velocity(track, keypoints[dj], scores[dj])
            track.keypoints = keypoints[dj]
            track.scores = scores[dj]
            track.bbox = bboxes[dj]
            track.age = 0
            track.hits += 1
            updated.add(ti)
        self._age(updated, matched)
        for j in np.flatnonzero((ids < 0) & sure & ~ambiguous):
            self.tracks.append(
                Track(self.next_id, keypoints[j], scores[j], bboxes[j],
                      np.zeros(2)))
            ids[j] = self.next_id
            self.next_id += 1
        return ids
