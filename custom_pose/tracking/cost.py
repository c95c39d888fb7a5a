# Copyright (c) custom_pose contributors. All rights reserved.
"""Synthetic walking poses, and the per-frame cost of propagation, tracking
and smoothing on them (no model: the cost these steps add to a video loop).
"""
import time
from typing import Dict, Sequence, Tuple

import numpy as np

from .instances import PoseInstance
from .propagation import BoxPropagator, box_iou
from .smoothing import build_smoother
from .tracker import PoseTracker

__all__ = ['make_walking_poses', 'measure_tracking_cost']


def make_walking_poses(num_frames: int,
                       num_instances: int = 1,
                       num_keypoints: int = 20,
                       frame_size: Tuple[int, int] = (640, 480),
                       body_size: float = 100.0,
                       fps: float = 30.0,
                       gait_hz: float = 1.5,
                       same_shape: bool = False,
                       seed: int = 0) -> np.ndarray:
    """Ground-truth keypoint trajectories of animals walking across a frame.

    Each animal has its own body shape (keypoints in an ellipse of
    ``body_size`` x ``0.6 body_size``); its centre crosses the frame
    horizontally at constant speed (even animals left to right, odd ones
    right to left, all on nearly the same line, so their paths cross in the
    middle of the clip), bobbing up and down, and each keypoint swings
    back and forth at ``gait_hz`` with its own phase (legs). With
    ``same_shape`` all animals have the first one's shape and gait (where
    they cross, only their motion tells them apart).

    Returns:
        np.ndarray: (T, N, K, 2) float64 keypoints, image pixels.
    """
    rng = np.random.default_rng(seed)
    w, h = frame_size
    t = np.arange(num_frames) / fps
    span = w - 1.5 * body_size
    out = np.zeros((num_frames, num_instances, num_keypoints, 2))
    for i in range(num_instances):
        if i == 0 or not same_shape:
            angle = rng.uniform(0, 2 * np.pi, num_keypoints)
            radius = np.sqrt(rng.uniform(0.1, 1.0, num_keypoints))
            shape = np.stack([np.cos(angle) * radius * body_size / 2,
                              np.sin(angle) * radius * body_size * 0.3],
                             axis=-1)
            phase = rng.uniform(0, 2 * np.pi, num_keypoints)
        progress = np.linspace(0, 1, num_frames)
        if i % 2:
            progress = 1 - progress
        cx = 0.75 * body_size + span * progress
        cy = h / 2 + (i // 2) * 0.6 * body_size + \
            0.05 * body_size * np.sin(2 * np.pi * 0.5 * t + i)
        swing = 0.08 * body_size * np.sin(
            2 * np.pi * gait_hz * t[:, None] + phase[None])
        out[:, i, :, 0] = cx[:, None] + shape[None, :, 0] + swing
        out[:, i, :, 1] = cy[:, None] + shape[None, :, 1] + 0.3 * swing
    return out


def _ms_per_frame(seconds: float, frames: int) -> float:
    return 1000.0 * seconds / max(1, frames)


def measure_tracking_cost(num_frames: int = 300,
                          num_instances: int = 2,
                          num_keypoints: int = 20,
                          frame_size: Tuple[int, int] = (640, 480),
                          smoothers: Sequence[str] = ('oneeuro', 'savgol'),
                          noise_px: float = 2.0,
                          seed: int = 0) -> Dict[str, float]:
    """Milliseconds per frame that box propagation, tracking and each
    smoother add to a video loop.

    On :func:`make_walking_poses` with Gaussian noise of ``noise_px``, all
    keypoints scored 0.9: ``propagation`` is :meth:`BoxPropagator.boxes` +
    :meth:`~BoxPropagator.update`, ``tracking`` :meth:`PoseTracker.update`,
    ``smoothing_<method>`` the smoother's ``push`` (and final ``flush``).

    Returns:
        dict: ``{'propagation': ms, 'tracking': ms, 'smoothing_oneeuro': ms,
        ...}`` plus the settings (``frames``, ``instances``, ``keypoints``).
    """
    rng = np.random.default_rng(seed)
    truth = make_walking_poses(num_frames, num_instances, num_keypoints,
                               frame_size, seed=seed)
    poses = truth + rng.normal(0, noise_px, truth.shape)
    scores = np.full(poses.shape[:3], 0.9)
    frame = np.zeros((frame_size[1], frame_size[0], 3), np.uint8)

    propagator = BoxPropagator('full_frame')
    tracker = PoseTracker()
    box_iou(np.zeros((1, 4)), np.zeros((1, 4)))  # imports torchvision once
    boxes_per_frame = []
    t_prop = t_track = 0.0
    for kpts, sc in zip(poses, scores):
        t0 = time.perf_counter()
        boxes, _ = propagator.boxes(frame)
        t1 = time.perf_counter()
        if len(boxes) != len(kpts):  # first frame: the whole frame
            boxes = np.repeat(boxes[:1], len(kpts), axis=0)
        boxes_per_frame.append(boxes)
        t2 = time.perf_counter()
        propagator.update(frame, kpts, sc)
        t3 = time.perf_counter()
        tracker.update(kpts, sc, boxes)
        t4 = time.perf_counter()
        t_prop += (t1 - t0) + (t3 - t2)
        t_track += t4 - t3
    result = dict(
        frames=float(num_frames),
        instances=float(num_instances),
        keypoints=float(num_keypoints),
        propagation=_ms_per_frame(t_prop, num_frames),
        tracking=_ms_per_frame(t_track, num_frames))
    for method in smoothers:
        smoother = build_smoother(method)
        frames = [[
            PoseInstance(boxes_per_frame[f][i], 'propagated', poses[f, i],
                         scores[f, i], track_id=i)
            for i in range(num_instances)
        ] for f in range(num_frames)]
        t0 = time.perf_counter()
        for instances in frames:
            smoother.push(instances)
        smoother.flush()
        result[f'smoothing_{method}'] = _ms_per_frame(
            time.perf_counter() - t0, num_frames)
    return result

