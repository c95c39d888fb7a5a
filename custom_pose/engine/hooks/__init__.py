from .checkpoint_hook import CustomPoseCheckpointHook
from .image_cache_hook import CustomPoseDeviceImageCacheHook
from .invalid_loss_hook import CustomPoseInvalidLossHook, NonFiniteLossError
from .keypoint_check_hook import CustomPoseKeypointCheckHook
from .pin_memory_hook import CustomPosePinMemoryHook, model_device_type
from .runtime_info_hook import CustomPoseRuntimeInfoHook, logger_logs_now
from .visualization_hook import CustomPoseVisualizationHook

__all__ = [
    'CustomPoseCheckpointHook',
    'CustomPoseInvalidLossHook', 'NonFiniteLossError',
    'CustomPoseKeypointCheckHook', 'CustomPoseRuntimeInfoHook',
    'CustomPoseDeviceImageCacheHook', 'CustomPosePinMemoryHook',
    'CustomPoseVisualizationHook',
    'logger_logs_now', 'model_device_type'
]
