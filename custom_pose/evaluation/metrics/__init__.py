from .pck_metric import CustomPosePCKMetric

__all__ = ['CustomPosePCKMetric']
