from .image_cache_hook import CustomPoseDeviceImageCacheHook
from .invalid_loss_hook import CustomPoseInvalidLossHook, NonFiniteLossError
from .runtime_info_hook import CustomPoseRuntimeInfoHook, logger_logs_now

__all__ = [
    'CustomPoseInvalidLossHook', 'NonFiniteLossError',
    'CustomPoseRuntimeInfoHook', 'CustomPoseDeviceImageCacheHook',
    'logger_logs_now'
]
