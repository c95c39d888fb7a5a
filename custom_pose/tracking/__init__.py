"""Video that follows the animal: boxes from the previous frame's poses,
track ids, and temporal smoothing of the keypoints.

- :mod:`.propagation`: :class:`BoxPropagator` (start box: whole frame, ROI
  or detector; then each pose's keypoint box, enlarged; fallback when a
  pose is lost).
- :mod:`.tracker`: :class:`PoseTracker` (Hungarian matching on OKS, IoU as
  fallback, max age, constant velocity).
- :mod:`.smoothing`: ``--smooth none|oneeuro|savgol|gaussian``
  (:func:`build_smoother`), gated by keypoint score.
- :mod:`.video_tracker`: :class:`VideoPoseTracker`, the three per frame.
- :mod:`.box_mode`: :func:`decide_box_mode`, the demos' ``auto`` box mode
  (the whole frame where the animal fills it, the propagated box where it
  is small).
- :mod:`.options`: :class:`TrackingOptions`, the demos' options, building
  the above for one video.
- :mod:`.cost`: synthetic walking poses and the per-frame cost of each step.
- :mod:`.evaluation`: error, identity switches and jitter against ground
  truth; :mod:`.arena`: all three measured on the synthetic arena clips.

Each result is a :class:`PoseInstance` with ``track_id``, ``bbox_source``,
``keypoints`` (smoothed) and ``keypoints_raw``.
"""
from .arena import (ARENA_SMOOTHERS, arena_clips, measure_arena_tracking,
                    render_arena_frame, render_arena_report)
from .box_mode import (BOX_MODES, DEFAULT_AUTO_FILL, DEFAULT_AUTO_FRAMES,
                       BoxModeDecision, decide_box_mode, keypoint_fill)
from .cost import make_walking_poses, measure_tracking_cost
from .evaluation import (assign_to_ground_truth, count_id_switches, jitter,
                         keypoint_errors, match_to_ground_truth,
                         mean_keypoint_distance)
from .instances import BBOX_SOURCES, PoseInstance
from .options import DEFAULT_SEARCH_SCALES, TrackingOptions
from .propagation import (START_SOURCES, BoxPropagator, bbox_from_keypoints,
                          box_iou, clip_bbox, parse_roi, search_windows)
from .smoothing import (OFFLINE_METHODS, SMOOTH_METHODS, SMOOTH_PARAMS,
                        KeypointSmoother, OneEuroFilter, OneEuroSmoother,
                        WindowSmoother, build_smoother, smooth_keypoints)
from .tracker import DEFAULT_SIGMA, PoseTracker, Track, keypoint_oks
from .video_tracker import VideoPoseTracker

__all__ = [
    'BBOX_SOURCES', 'PoseInstance', 'START_SOURCES', 'BoxPropagator',
    'bbox_from_keypoints', 'box_iou', 'clip_bbox', 'parse_roi',
    'search_windows', 'SMOOTH_METHODS', 'SMOOTH_PARAMS', 'OFFLINE_METHODS',
    'KeypointSmoother', 'OneEuroFilter', 'OneEuroSmoother', 'WindowSmoother', 'build_smoother', 'smooth_keypoints', 'DEFAULT_SIGMA',
    'PoseTracker', 'Track', 'keypoint_oks', 'VideoPoseTracker',
    'make_walking_poses', 'measure_tracking_cost', 'ARENA_SMOOTHERS',
    'arena_clips', 'measure_arena_tracking',
    'render_arena_report', 'render_arena_frame', 'assign_to_ground_truth', 'count_id_switches',
    'jitter', 'keypoint_errors', 'match_to_ground_truth',
    'mean_keypoint_distance', 'DEFAULT_SEARCH_SCALES', 'TrackingOptions',
    'BOX_MODES', 'DEFAULT_AUTO_FILL', 'DEFAULT_AUTO_FRAMES',
    'BoxModeDecision', 'decide_box_mode', 'keypoint_fill'
]
