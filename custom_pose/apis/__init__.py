"""Inference, drawing and video loops: what the demos in ``demo/`` run.

- :mod:`.loading`: devices, and top-down pose models loaded strictly
  (:func:`init_pose_model`) with one-line errors.
- :mod:`.topdown`: batched top-down inference
  (:class:`TopdownBatchInferencer`, :func:`decode_msra_heatmaps`).
- :mod:`.detector`: an mmdet detector (:func:`init_detector_model`,
  :class:`DetectorInferencer`).
- :mod:`.video`: video files and cameras, a capture thread that drops stale
  frames (cameras) or keeps every frame (files); :mod:`.video_output`: a
  writer whose file is whole or absent and a headless-safe display.
- :mod:`.visualize`: OpenCV drawing of keypoints/skeletons in a dataset's
  colours, boxes and a text overlay.
- :mod:`.video_loop`: the video demo (whole frame, ROI or ``--track-box``)
  as a function (:func:`run_video`, returning :class:`VideoRunStats`).
- :mod:`.live_loop`: the detector + pose demo as a function
  (:func:`run_live`, returning :class:`LiveRunStats` of :mod:`.live_stats`).
- :mod:`.loop_parts`: what both loops share (model loading for the
  PyTorch or onnxruntime backend, reader/writer/window, the batch that
  fits in memory, the output of tracked frames).

The errors, checkpoint and config loaders they use live in
:mod:`custom_pose.errors`, :mod:`custom_pose.utils.checkpoint` and
:mod:`custom_pose.utils.config`; the names are re-exported here.
"""
from custom_pose.errors import (CheckpointError, KeypointMismatchError,
                                ModelConfigError)
from custom_pose.utils.checkpoint import (load_checkpoint_file,
                                          load_state_dict_strict)
from custom_pose.utils.config import load_config
from .detector import (DEFAULT_DET_CONFIG, DetectorInferencer,
                       init_detector_model, mmdet_config_path)
from .live_loop import resolve_categories, run_live
from .live_stats import LiveRunStats, StageTimer
from .loading import (check_device, default_device, init_pose_model,
                      save_untrained_checkpoint)
from .topdown import TopdownBatchInferencer, decode_msra_heatmaps
from .video import (FramePacket, ThreadedFrameReader, VideoInfo,
                    VideoSource, VideoSourceError, describe_frame_ranges,
                    open_camera, open_video_file, open_video_source,
                    parse_camera_id, read_video_frames, silence_opencv_log)
from .video_output import Display, VideoSink, display_available
from .loop_parts import (BACKENDS, fit_batch_size, load_pose_estimator,
                         video_io)
from .video_loop import VideoRunStats, run_video
from .visualize import (PoseDrawer, draw_bboxes, draw_text_panel,
                        draw_tracked_instances)

__all__ = [
    'DEFAULT_DET_CONFIG', 'CheckpointError', 'DetectorInferencer',
    'KeypointMismatchError', 'ModelConfigError', 'TopdownBatchInferencer',
    'check_device', 'decode_msra_heatmaps', 'default_device',
    'init_detector_model', 'init_pose_model', 'save_untrained_checkpoint',
    'load_checkpoint_file', 'load_config', 'load_state_dict_strict',
    'mmdet_config_path', 'Display',
    'FramePacket', 'ThreadedFrameReader', 'VideoInfo', 'VideoSink',
    'VideoSource', 'VideoSourceError', 'display_available', 'open_camera',
    'open_video_file', 'open_video_source', 'parse_camera_id',
    'read_video_frames', 'silence_opencv_log', 'PoseDrawer', 'draw_bboxes',
    'draw_text_panel',
    'VideoRunStats', 'run_video', 'load_pose_estimator', 'video_io',
    'LiveRunStats', 'StageTimer', 'resolve_categories', 'run_live',
    'BACKENDS', 'fit_batch_size', 'describe_frame_ranges',
    'draw_tracked_instances'
]
