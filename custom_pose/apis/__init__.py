"""Inference, drawing and video helpers shared by the demos in ``demo/``.

- :mod:`.inference`: strict model/checkpoint loading with one-line errors,
  batched top-down inference (:class:`TopdownBatchInferencer`) and an mmdet
  detector wrapper (:class:`DetectorInferencer`).
- :mod:`.video`: video files and cameras, a capture thread that drops stale
  frames (cameras) or keeps every frame (files), a writer and a headless-
  safe display.
- :mod:`.visualize`: OpenCV drawing of keypoints/skeletons in a dataset's
  colours, boxes and a text overlay.
"""
from .inference import (DEFAULT_DET_CONFIG, CheckpointError,
                        DetectorInferencer, KeypointMismatchError,
                        ModelConfigError, TopdownBatchInferencer,
                        check_device, decode_msra_heatmaps, default_device,
                        init_detector_model, init_pose_model,
                        load_checkpoint_file, load_config,
                        load_state_dict_strict, mmdet_config_path)
from .video import (Display, FramePacket, ThreadedFrameReader, VideoInfo,
                    VideoSink, VideoSource, VideoSourceError,
                    display_available, open_camera, open_video_file,
                    open_video_source, parse_camera_id)
from .visualize import PoseDrawer, draw_bboxes, draw_text_panel

__all__ = [
    'DEFAULT_DET_CONFIG', 'CheckpointError', 'DetectorInferencer',
    'KeypointMismatchError', 'ModelConfigError', 'TopdownBatchInferencer',
    'check_device', 'decode_msra_heatmaps', 'default_device',
    'init_detector_model', 'init_pose_model', 'load_checkpoint_file',
    'load_config', 'load_state_dict_strict', 'mmdet_config_path', 'Display',
    'FramePacket', 'ThreadedFrameReader', 'VideoInfo', 'VideoSink',
    'VideoSource', 'VideoSourceError', 'display_available', 'open_camera',
    'open_video_file', 'open_video_source', 'parse_camera_id', 'PoseDrawer',
    'draw_bboxes', 'draw_text_panel'
]
