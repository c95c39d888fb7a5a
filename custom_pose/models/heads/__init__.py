from .deconv_head import BaseHeatmapPredictHead, CustomPoseDeconvHead
from .multi_stage_head import CustomPoseMultiStageHead

__all__ = [
    'CustomPoseDeconvHead', 'CustomPoseMultiStageHead',
    'BaseHeatmapPredictHead'
]
