from .base import CustomPoseBackbone, PretrainedWeightsUnavailableError
from .hourglass import CustomPoseHourglass
from .resnet import CustomPoseResNet

__all__ = [
    'CustomPoseBackbone', 'CustomPoseResNet', 'CustomPoseHourglass',
    'PretrainedWeightsUnavailableError'
]
