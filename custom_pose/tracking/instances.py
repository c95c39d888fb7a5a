# Copyright (c) custom_pose contributors. All rights reserved.
"""One estimated pose in one video frame, as the tracking modules pass it
on and as the demos write it to their predictions JSON."""
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np

__all__ = ['BBOX_SOURCES', 'PoseInstance']

#: Where the box of a pose came from: the whole frame, the user's ``--roi``,
#: the detector, a window of the search over the whole frame (or ROI), or
#: the previous frame's pose of the same animal.
BBOX_SOURCES = ('full_frame', 'roi', 'detector', 'search', 'propagated')


@dataclass
class PoseInstance:
    """A pose in one frame.

    Args:
        bbox (np.ndarray): (4, ) ``x1, y1, x2, y2`` box the pose was
            estimated in, image pixels.
        bbox_source (str): One of :data:`BBOX_SOURCES`.
        keypoints_raw (np.ndarray): (K, 2) keypoints from the model.
        keypoint_scores (np.ndarray): (K, ) their scores.
        keypoints (np.ndarray, optional): (K, 2) keypoints after temporal
            smoothing; ``None`` sets a copy of ``keypoints_raw``.
        track_id (int): Identity across frames; ``-1`` when not tracked.
    """
    bbox: np.ndarray
    bbox_source: str
    keypoints_raw: np.ndarray
    keypoint_scores: np.ndarray
    keypoints: Optional[np.ndarray] = None
    track_id: int = -1

    def __post_init__(self) -> None:
        if self.bbox_source not in BBOX_SOURCES:
            raise ValueError(f'bbox_source must be one of {BBOX_SOURCES}, '
                             f'got {self.bbox_source!r}')
        self.bbox = np.asarray(self.bbox, np.float32).reshape(4)
        self.keypoints_raw = np.asarray(self.keypoints_raw, np.float32)
        self.keypoint_scores = np.asarray(self.keypoint_scores, np.float32)
        if self.keypoints is None:
            self.keypoints = self.keypoints_raw.copy()

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready: ``track_id``, ``bbox``, ``bbox_source``,
        ``keypoints`` (smoothed), ``keypoints_raw`` (coordinates rounded to
        1/1000 px) and ``keypoint_scores``."""
        return dict(
            track_id=int(self.track_id),
            bbox=[round(float(v), 2) for v in self.bbox],
            bbox_source=self.bbox_source,
            keypoints=np.round(self.keypoints.astype(float), 3).tolist(),
            keypoints_raw=np.round(self.keypoints_raw.astype(float),
                                   3).tolist(),
            keypoint_scores=self.keypoint_scores.tolist())
