from .pck_metric import CustomPosePCKMetric
from .pixel_error_metric import CustomPosePixelErrorMetric

__all__ = ['CustomPosePCKMetric', 'CustomPosePixelErrorMetric']
