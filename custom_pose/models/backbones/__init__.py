from .hourglass import CustomPoseHourglass
from .resnet import CustomPoseResNet, PretrainedWeightsUnavailableError

__all__ = [
    'CustomPoseResNet', 'CustomPoseHourglass',
    'PretrainedWeightsUnavailableError'
]
