from .checkpoint_hook import CustomPoseCheckpointHook
from .image_cache_hook import CustomPoseDeviceImageCacheHook
from .invalid_loss_hook import CustomPoseInvalidLossHook, NonFiniteLossError
from .keypoint_check_hook import CustomPoseKeypointCheckHook
from .runtime_info_hook import CustomPoseRuntimeInfoHook, logger_logs_now

__all__ = [
    'CustomPoseCheckpointHook',
    'CustomPoseInvalidLossHook', 'NonFiniteLossError',
    'CustomPoseKeypointCheckHook', 'CustomPoseRuntimeInfoHook',
    'CustomPoseDeviceImageCacheHook', 'logger_logs_now'
]
