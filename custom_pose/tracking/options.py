# Copyright (c) custom_pose contributors. All rights reserved.
"""The demos' tracking options (``--track-box``, ``--roi``,
``--search-scales``, ``--smooth``, ...) as one object that builds the
per-video parts: :class:`TrackingOptions`."""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .propagation import BoxPropagator, Detector
from .smoothing import KeypointSmoother, build_smoother
from .tracker import PoseTracker
from .video_tracker import PoseFn, VideoPoseTracker

__all__ = ['DEFAULT_SEARCH_SCALES', 'TrackingOptions']

#: ``--search-scales`` by default: windows of half and a third of the
#: frame's shorter side (measured on the synthetic arena clip, see
#: ``docs/tracking_and_onnx.md``; the whole frame is not searched, scale 1
#: adds it).
DEFAULT_SEARCH_SCALES = (0.5, 0.35)


@dataclass
class TrackingOptions:
    """Which boxes a video demo estimates poses in, and what it does with
    the poses over time.

    Args:
        track_box (bool): Propagate each pose's box to the next frame
            (``--track-box``); without it every frame uses the start box.
        roi (tuple, optional): ``x1, y1, x2, y2`` start box (``--roi``)
            instead of the whole frame or the detector.
        search_scales (tuple): Windows searched over the whole frame or ROI
            when there is no pose to follow (see :class:`BoxPropagator`);
            only with ``track_box``, not with a detector.
        enlarge (float): Propagated box = labelled keypoints' box times this.
        min_mean_score (float): A pose whose mean keypoint score is lower is
            lost (the start box, search or detector takes over).
        kpt_thr (float): A keypoint above this score is labelled (boxes,
            OKS, smoothing gate).
        max_age (int): Frames a track survives unmatched.
        init_track_thr (float): Mean keypoint score a pose needs to start a
            track or move one on (see :class:`PoseTracker`).
        redetect_interval (int): With a detector and ``track_box``, also run
            it every this many frames (0: only when a pose is lost).
        max_search_poses (int): Poses kept from a search.
        smooth (str): ``none``, ``oneeuro``, ``savgol`` or ``gaussian``.
        smooth_params (dict): The smoother's parameters.
    """
    track_box: bool = False
    roi: Optional[Tuple[float, float, float, float]] = None
    search_scales: Tuple[float, ...] = DEFAULT_SEARCH_SCALES
    enlarge: float = 1.4
    min_mean_score: float = 0.3
    kpt_thr: float = 0.3
    max_age: int = 30
    init_track_thr: float = 0.5
    redetect_interval: int = 0
    max_search_poses: int = 1
    smooth: str = 'none'
    smooth_params: Dict[str, float] = field(default_factory=dict)

    def start(self, detector: bool) -> str:
        """The start box: ``'roi'`` with a ROI, else ``'detector'`` where
        one runs, else ``'full_frame'``."""
        if self.roi is not None:
            return 'roi'
        return 'detector' if detector else 'full_frame'

    def video_tracker(self,
                      pose_fn: PoseFn,
                      dataset_meta: Optional[dict] = None,
                      detector: Optional[Detector] = None
                      ) -> VideoPoseTracker:
        """Box propagation and track ids for one video.

        Args:
            pose_fn (callable): ``(frame, boxes) -> (keypoints, scores)``.
            dataset_meta (dict, optional): For the OKS sigmas.
            detector (callable, optional): ``frame -> (M, 4)`` boxes; the
                start box unless a ROI is given.
        """
        start = self.start(detector is not None)
        propagator = BoxPropagator(
            start,
            roi=self.roi,
            detector=detector if start == 'detector' else None,
            propagate=self.track_box,
            enlarge=self.enlarge,
            kpt_thr=self.kpt_thr,
            min_mean_score=self.min_mean_score,
            redetect_interval=self.redetect_interval,
            search_scales=() if start == 'detector' else self.search_scales)
        tracker = PoseTracker.from_dataset_meta(
            dataset_meta or {}, kpt_thr=self.kpt_thr, max_age=self.max_age,
            init_track_thr=self.init_track_thr)
        return VideoPoseTracker(
            pose_fn, propagator, tracker,
            max_search_poses=self.max_search_poses)

    def smoother(self, fps: float) -> KeypointSmoother:
        """The ``--smooth`` smoother for a video of ``fps`` frames/s."""
        return build_smoother(self.smooth, fps=fps, kpt_thr=self.kpt_thr,
                              **self.smooth_params)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready (the demos write it into their predictions)."""
        out = asdict(self)
        out['roi'] = None if self.roi is None else [float(v) for v in self.roi]
        out['search_scales'] = [float(v) for v in self.search_scales]
        return out

    def check(self, frame_size: Tuple[int, int]) -> None:
        """Raise :class:`~custom_pose.errors.InputError` when the ROI lies
        outside a ``(w, h)`` frame."""
        if self.roi is not None:
            w, h = frame_size
            BoxPropagator('roi', roi=self.roi).start_boxes(
                np.zeros((h, w, 1), np.uint8))

    def fixed_box(self, frame_size: Tuple[int, int]
                  ) -> Optional[Tuple[np.ndarray, str]]:
        """The one box of every frame when it does not depend on the poses
        (no ``--track-box``; no detector): ``(xyxy, source)``, else
        ``None``.

        Raises:
            InputError: A ROI outside the frame.
        """
        if self.track_box:
            return None
        w, h = frame_size
        propagator = BoxPropagator(self.start(False), roi=self.roi,
                                   propagate=False)
        boxes, sources = propagator.start_boxes(np.zeros((h, w, 1),
                                                         np.uint8))
        return boxes[0], sources[0]
