# Copyright (c) custom_pose contributors. All rights reserved.
"""Tracked poses against ground truth with identities: keypoint error,
identity switches and jitter.

Poses are given per frame as ``(keypoints (M, K, 2), track ids (M, ))``
and the ground truth as arrays over frames and animals (NaN where an animal
is not in the frame), the layout of
:func:`custom_pose.datasets.synthetic.read_arena_keypoints`.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    'mean_keypoint_distance', 'match_to_ground_truth', 'assign_to_ground_truth',
    'count_id_switches', 'keypoint_errors', 'jitter'
]


def mean_keypoint_distance(pred: np.ndarray, gt: np.ndarray,
                           visible: np.ndarray) -> np.ndarray:
    """Mean distance over the visible keypoints of every pair of poses.

    Args:
        pred (np.ndarray): (M, K, 2) predicted keypoints.
        gt (np.ndarray): (N, K, 2) ground-truth keypoints.
        visible (np.ndarray): (N, K) bool, the labelled ground truth.

    Returns:
        np.ndarray: (M, N) pixels; NaN for an animal without a visible
        keypoint.
    """
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1, 2)
    gt = np.asarray(gt, np.float64).reshape(len(gt), -1, 2)
    visible = np.asarray(visible, bool).reshape(gt.shape[:2])
    dist = np.linalg.norm(pred[:, None] - gt[None], axis=-1)  # (M, N, K)
    count = visible.sum(axis=1)
    total = np.where(visible[None], dist, 0.0).sum(axis=-1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(count[None] > 0, total / count[None], np.nan)


def match_to_ground_truth(pred: np.ndarray, gt: np.ndarray,
                          visible: np.ndarray, gt_boxes: np.ndarray,
                          max_dist: float = 0.5) -> List[Tuple[int, int]]:
    """Pair one frame's poses with its animals.

    Hungarian assignment (``scipy.optimize.linear_sum_assignment``) on the
    mean visible-keypoint distance; a pair counts when that distance is
    below ``max_dist`` times the longer side of the animal's box.

    Args:
        pred (np.ndarray): (M, K, 2) poses. gt (np.ndarray): (N, K, 2).
        visible (np.ndarray): (N, K) bool.
        gt_boxes (np.ndarray): (N, 4) ``xyxy`` boxes of the animals.
        max_dist (float): Largest distance of a pair, in box sides.

    Returns:
        list[tuple[int, int]]: ``(pose index, animal index)`` pairs.
    """
    if len(pred) == 0 or len(gt) == 0:
        return []
    dist = mean_keypoint_distance(pred, gt, visible)
    boxes = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    allowed = np.nan_to_num(dist, nan=np.inf) < max_dist * side[None]
    if not allowed.any():
        return []
    rows, cols = linear_sum_assignment(np.where(allowed, dist, 1e9))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]


def assign_to_ground_truth(frames: Sequence[Tuple[np.ndarray, np.ndarray]],
                           gt: Dict[str, np.ndarray],
                           max_dist: float = 0.5
                           ) -> Tuple[np.ndarray, np.ndarray]:
    """Match the poses of every frame to the ground truth's animals.

    Args:
        frames (Sequence[tuple]): Per frame ``(keypoints (M, K, 2), track
            ids (M, ))``, as many as the ground truth has frames.
        gt (dict): ``keypoints`` (T, N, K, 2), ``visible`` (T, N, K),
            ``bboxes`` (T, N, 4) and ``present`` (T, N), as
            :func:`~custom_pose.datasets.synthetic.read_arena_keypoints`.
        max_dist (float): See :func:`match_to_ground_truth`.

    Returns:
        tuple: ``pose`` (T, N) int64, the index of the pose matched to each
        animal in its frame, and ``track_id`` (T, N) int64, that pose's
        track id; both -1 where none.
    """
    num_frames, num_animals = gt['present'].shape
    if len(frames) != num_frames:
        raise ValueError(f'{len(frames)} frames of poses for a ground truth '
                         f'of {num_frames} frames')
    pose = np.full((num_frames, num_animals), -1, np.int64)
    track = np.full((num_frames, num_animals), -1, np.int64)
    for t, (kpts, ids) in enumerate(frames):
        animals = np.flatnonzero(gt['present'][t])
        pairs = match_to_ground_truth(
            kpts, gt['keypoints'][t, animals], gt['visible'][t, animals],
            gt['bboxes'][t, animals], max_dist)
        for p, a in pairs:
            pose[t, animals[a]] = p
            track[t, animals[a]] = int(np.asarray(ids)[p])
    return pose, track


def count_id_switches(track: np.ndarray,
                      frames: Optional[np.ndarray] = None) -> int:
    """Identity switches (CLEAR-MOT's IDSW): the times an animal is matched
    to another track id than the last one it was matched to.

    Args:
        track (np.ndarray): (T, N) matched track id per frame and animal,
            -1 where unmatched (see :func:`assign_to_ground_truth`).
        frames (np.ndarray, optional): (T, ) bool, the frames whose switches
            count (e.g. those showing two animals); the last id is followed
            through every frame. Defaults to all.

    Returns:
        int: The number of switches.
    """
    track = np.asarray(track).reshape(len(track), -1)
    counted = np.ones(len(track), bool) if frames is None else np.asarray(
        frames, bool)
    switches = 0
    for n in range(track.shape[1]):
        last = -1
        for t, tid in enumerate(track[:, n]):
            if tid < 0:
                continue
            if last >= 0 and tid != last and counted[t]:
                switches += 1
            last = tid
    return switches


def keypoint_errors(keypoints: np.ndarray, gt: np.ndarray,
                    visible: np.ndarray) -> np.ndarray:
    """Distances of the visible keypoints: (..., K, 2), (..., K, 2),
    (..., K) -> (V, ) pixels, V the number of visible keypoints with a
    finite prediction."""
    keypoints = np.asarray(keypoints, np.float64)
    gt = np.asarray(gt, np.float64)
    dist = np.linalg.norm(keypoints - gt, axis=-1)
    keep = np.asarray(visible, bool) & np.isfinite(dist)
    return dist[keep]


def jitter(keypoints: np.ndarray, valid: np.ndarray) -> float:
    """Mean frame-to-frame acceleration ``|x[t+1] - 2 x[t] + x[t-1]|`` of
    keypoint trajectories, pixels per frame^2, over the triples of
    consecutive frames where the keypoint is valid in all three.

    Args:
        keypoints (np.ndarray): (T, K, 2) one animal's keypoints.
        valid (np.ndarray): (T, K) bool.

    Returns:
        float: The mean, NaN when no triple is valid.
    """
    keypoints = np.asarray(keypoints, np.float64)
    valid = np.asarray(valid, bool) & np.isfinite(keypoints).all(axis=-1)
    if len(keypoints) < 3:
        return float('nan')
    acc = keypoints[2:] - 2 * keypoints[1:-1] + keypoints[:-2]
    ok = valid[2:] & valid[1:-1] & valid[:-2]
    if not ok.any():
        return float('nan')
    return float(np.linalg.norm(acc, axis=-1)[ok].mean())
