# Copyright (c) custom_pose contributors. All rights reserved.
"""Box geometry of the video tracking: a region of interest from text,
clipping, IoU, the search windows over a frame and the box of a pose's
keypoints (what :class:`~custom_pose.tracking.BoxPropagator` follows)."""
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from custom_pose.errors import InputError

__all__ = [
    'parse_roi', 'clip_bbox', 'box_iou', 'search_windows',
    'bbox_from_keypoints'
]


def parse_roi(text: str) -> np.ndarray:
    """Parse ``--roi x1,y1,x2,y2`` (image pixels).

    Raises:
        InputError: Not four numbers, or ``x2 <= x1`` / ``y2 <= y1``.
    """
    parts = [p.strip() for p in str(text).split(',')]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise InputError(f'--roi {text!r}: expected four numbers x1,y1,x2,y2 '
                         '(image pixels), e.g. --roi 100,50,400,300')
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1 or x1 < 0 or y1 < 0:
        raise InputError(f'--roi {text!r}: need 0 <= x1 < x2 and 0 <= y1 < '
                         'y2 (top-left corner, then bottom-right corner)')
    return np.array(values, np.float32)


def clip_bbox(bbox: np.ndarray, frame_size: Tuple[int, int]) -> np.ndarray:
    """Clip ``xyxy`` boxes (..., 4) to a ``(w, h)`` frame."""
    w, h = frame_size
    bbox = np.asarray(bbox, np.float32).copy()
    bbox[..., 0::2] = bbox[..., 0::2].clip(0, w)
    bbox[..., 1::2] = bbox[..., 1::2].clip(0, h)
    return bbox


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of every pair of ``xyxy`` boxes: (N, 4), (M, 4) -> (N, M)
    (torchvision's ``box_iou``)."""
    import torch
    from torchvision.ops import box_iou as _box_iou
    a = torch.as_tensor(np.asarray(boxes1, np.float32).reshape(-1, 4))
    b = torch.as_tensor(np.asarray(boxes2, np.float32).reshape(-1, 4))
    return _box_iou(a, b).numpy()


def search_windows(region: np.ndarray,
                   scales: Sequence[float]) -> np.ndarray:
    """Square windows sliding over ``region`` with half-window steps.

    Args:
        region (np.ndarray): (4, ) ``xyxy`` box to search.
        scales (Sequence[float]): Window sides as fractions of the region's
            shorter side, each in (0, 1).

    Returns:
        np.ndarray: (M, 4) float32 ``xyxy`` windows covering the region
        (the last row and column flush with its far edges).
    """
    x1, y1, x2, y2 = (float(v) for v in region)
    windows = []
    for scale in scales:
        side = scale * min(x2 - x1, y2 - y1)
        xs = np.arange(x1, x2 - side + 1e-3, side / 2)
        ys = np.arange(y1, y2 - side + 1e-3, side / 2)
        xs = np.unique(np.append(xs, x2 - side))
        ys = np.unique(np.append(ys, y2 - side))
        windows += [[x, y, x + side, y + side] for y in ys for x in xs]
    return np.asarray(windows, np.float32).reshape(-1, 4)


def bbox_from_keypoints(keypoints: np.ndarray,
                        scores: np.ndarray,
                        frame_size: Tuple[int, int],
                        kpt_thr: float = 0.3,
                        enlarge: float = 1.25,
                        min_keypoints: int = 2,
                        min_size: Union[float, np.ndarray] = 8.0
                        ) -> Optional[np.ndarray]:
    """The box of a pose's labelled keypoints, enlarged and clipped.

    Args:
        keypoints (np.ndarray): (K, 2) keypoints, image pixels.
        scores (np.ndarray): (K, ) their scores.
        frame_size (tuple): ``(w, h)`` of the frame.
        kpt_thr (float): A keypoint is labelled when its score is above it.
        enlarge (float): Factor on the width and height of the keypoints'
            box, about its centre (the body reaches past the joints).
        min_keypoints (int): Fewer labelled keypoints give no box.
        min_size (float | np.ndarray): Smallest width and height before
            clipping (a pose whose labelled keypoints lie on a line), or
            (2, ) per axis.

    Returns:
        np.ndarray | None: (4, ) ``xyxy`` float32, or ``None`` when too few
        keypoints are labelled or the box lies outside the frame.
    """
    keypoints = np.asarray(keypoints, np.float32).reshape(-1, 2)
    labelled = np.asarray(scores).reshape(-1) > kpt_thr
    labelled &= np.isfinite(keypoints).all(axis=1)
    if labelled.sum() < max(1, min_keypoints):
        return None
    pts = keypoints[labelled]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    center = (lo + hi) / 2
    size = np.maximum((hi - lo) * enlarge, min_size)
    box = clip_bbox(np.concatenate([center - size / 2, center + size / 2]),
                    frame_size)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return box
