# Copyright (c) custom_pose contributors. All rights reserved.
"""The demos' tracking options (``--box-mode``, ``--roi``,
``--search-scales``, ``--smooth``, ...) as one object that builds the
per-video parts: :class:`TrackingOptions`."""
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .box_mode import (BOX_MODES, DEFAULT_AUTO_FILL, DEFAULT_AUTO_FRAMES,
                       BoxModeDecision, decide_box_mode, detector_decision)
from .propagation import (DEFAULT_SEARCH_SCALES, BoxPropagator, Detector,
                          check_roi, check_search_scales)
from .smoothing import KeypointSmoother, build_smoother, check_number
from .tracker import PoseTracker
from .video_tracker import PoseFn, VideoPoseTracker

__all__ = ['DEFAULT_SEARCH_SCALES', 'TrackingOptions']


@dataclass
class TrackingOptions:
    """Which boxes a video demo estimates poses in, and what it does with
    the poses over time.

    Args:
        track_box (bool): ``True`` is ``box_mode='track'``; after
            construction, whether ``box_mode`` is ``'track'``.
        box_mode (str): ``'track'``: each frame's box is the previous
            frame's pose's box (:class:`BoxPropagator`); ``'start'``: the
            start box (the whole frame, ``roi`` or the detector's boxes) in
            every frame; ``'auto'``: one of them, decided from the first
            ``auto_frames`` frames by :meth:`decide` (see
            :func:`~custom_pose.tracking.decide_box_mode`; with a detector
            and no ``roi``, ``'start'``).
        roi (tuple, optional): ``x1, y1, x2, y2`` start box (``--roi``)
            instead of the whole frame or the detector.
        search_scales (tuple): Windows searched over the whole frame or ROI
            when there is no pose to follow (see :class:`BoxPropagator`);
            only with ``'track'``, not with a detector.
        auto_fill (float): ``'auto'`` follows the animal when its keypoints
            span less than this fraction of the start box
            (:data:`~custom_pose.tracking.DEFAULT_AUTO_FILL`).
        auto_frames (int): Frames ``'auto'`` looks at.
        enlarge (float): Propagated box = labelled keypoints' box times this.
        min_mean_score (float): A pose whose mean keypoint score is lower is
            lost (the start box, search or detector takes over).
        kpt_thr (float): A keypoint above this score is labelled (boxes,
            OKS, smoothing gate).
        max_age (int): Frames a track survives unmatched.
        init_track_thr (float): Mean keypoint score a pose needs to start a
            track or move one on (see :class:`PoseTracker`).
        redetect_interval (int): With a detector and ``'track'``, also run
            it every this many frames (0: only when a pose is lost).
        max_search_poses (int): Poses kept from a search.
        smooth (str): ``none``, ``oneeuro``, ``savgol`` or ``gaussian``.
        smooth_params (dict): The smoother's parameters.
        box_decision (BoxModeDecision, optional): What ``'auto'`` chose
            (set by :meth:`decide`).

    Raises:
        InputError: A value that is not a finite number in its range (a
            ``ValueError``), a ROI that is not a box, smoother parameters
            :func:`~custom_pose.tracking.build_smoother` refuses.
    """
    track_box: bool = False
    box_mode: str = 'auto'
    roi: Optional[Tuple[float, float, float, float]] = None
    search_scales: Tuple[float, ...] = DEFAULT_SEARCH_SCALES
    auto_fill: float = DEFAULT_AUTO_FILL
    auto_frames: int = DEFAULT_AUTO_FRAMES
    enlarge: float = 1.4
    min_mean_score: float = 0.3
    kpt_thr: float = 0.3
    max_age: int = 30
    init_track_thr: float = 0.5
    redetect_interval: int = 0
    max_search_poses: int = 1
    smooth: str = 'none'
    smooth_params: Dict[str, float] = field(default_factory=dict)
    box_decision: Optional[BoxModeDecision] = None

    def __post_init__(self) -> None:
        if self.box_mode not in BOX_MODES:
            raise ValueError(f'box_mode must be one of {BOX_MODES}, got '
                             f'{self.box_mode!r}')
        if self.track_box:
            if self.box_mode == 'start':
                raise ValueError("track_box=True is box_mode='track', not "
                                 "box_mode='start'")
            self.box_mode = 'track'
        self.track_box = self.box_mode == 'track'
        if not 0 < self.auto_fill <= 1:
            raise ValueError(
                f'auto_fill must be in (0, 1], got {self.auto_fill}')
        if self.auto_frames < 1:
            raise ValueError(
                f'auto_frames must be >= 1, got {self.auto_frames}')
        if self.roi is not None:
            self.roi = check_roi(self.roi)
        self.search_scales = check_search_scales(self.search_scales)
        check_number('enlarge', self.enlarge, minimum=1)
        for name in ('min_mean_score', 'kpt_thr', 'init_track_thr'):
            check_number(name, getattr(self, name))
        for name in ('max_age', 'redetect_interval'):
            check_number(name, getattr(self, name), minimum=0, integer=True)
        check_number('max_search_poses', self.max_search_poses, minimum=1,
                     integer=True)
        build_smoother(self.smooth, kpt_thr=self.kpt_thr,
                       **self.smooth_params)  # checks the parameters

    @property
    def mode(self) -> Optional[str]:
        """The box mode used: ``'start'`` or ``'track'``; ``None`` while
        ``'auto'`` is not decided (see :meth:`decide`)."""
        if self.box_mode != 'auto':
            return self.box_mode
        return None if self.box_decision is None else self.box_decision.mode

    def needs_frames(self, detector: bool) -> bool:
        """Whether :meth:`decide` needs the first frames (``'auto'``
        without a detector's boxes to start from)."""
        return self.box_mode == 'auto' and self.box_decision is None and \
            self.start(detector) != 'detector'

    def decide(self, pose_fn: PoseFn, frames: Sequence[np.ndarray],
               detector: bool = False) -> 'TrackingOptions':
        """These options with ``'auto'`` decided (themselves otherwise).

        Args:
            pose_fn (callable): ``(frame, boxes) -> (keypoints, scores)``.
            frames (Sequence[np.ndarray]): The video's first frames (the
                first ``auto_frames`` are used; none are needed where
                :meth:`needs_frames` is ``False``).
            detector (bool): A detector gives the start boxes.

        Returns:
            TrackingOptions: A copy with ``box_decision`` set.
        """
        if self.box_mode != 'auto' or self.box_decision is not None:
            return self
        start = self.start(detector)
        if start == 'detector':
            decision = detector_decision(self.auto_fill)
        else:
            decision = decide_box_mode(
                pose_fn, list(frames)[:self.auto_frames], start=start,
                roi=self.roi, search_scales=self.search_scales,
                fill_thr=self.auto_fill, kpt_thr=self.kpt_thr,
                min_mean_score=self.min_mean_score, enlarge=self.enlarge)
        return replace(self, box_decision=decision)

    def _check_decided(self) -> str:
        mode = self.mode
        if mode is None:
            raise ValueError("box_mode='auto' is not decided: call "
                             'decide() with the first frames first')
        return mode

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

        Raises:
            ValueError: ``box_mode='auto'`` not decided (:meth:`decide`).
        """
        mode = self._check_decided()
        start = self.start(detector is not None)
        propagator = BoxPropagator(
            start,
            roi=self.roi,
            detector=detector if start == 'detector' else None,
            propagate=mode == 'track',
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
        """JSON-ready (the demos write it into their predictions):
        ``box_mode`` as asked, ``track_box`` whether the box followed the
        pose, ``box_decision`` what ``'auto'`` chose and why (else
        ``None``)."""
        out = asdict(self)
        out['track_box'] = self.mode == 'track'
        out['roi'] = None if self.roi is None else [float(v) for v in self.roi]
        out['search_scales'] = [float(v) for v in self.search_scales]
        out['box_decision'] = self.decision_dict()
        return out

    def decision_dict(self) -> Optional[Dict[str, Any]]:
        """JSON-ready :attr:`box_decision` (``None`` where ``'auto'`` did
        not decide)."""
        return None if self.box_decision is None else \
            self.box_decision.to_dict()

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
        (``'start'`` mode, no detector): ``(xyxy, source)``, else
        ``None``.

        Raises:
            InputError: A ROI outside the frame.
            ValueError: ``box_mode='auto'`` not decided (:meth:`decide`).
        """
        if self._check_decided() == 'track':
            return None
        w, h = frame_size
        propagator = BoxPropagator(self.start(False), roi=self.roi,
                                   propagate=False)
        boxes, sources = propagator.start_boxes(np.zeros((h, w, 1),
                                                         np.uint8))
        return boxes[0], sources[0]
