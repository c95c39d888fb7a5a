from .invalid_loss_hook import CustomPoseInvalidLossHook, NonFiniteLossError
from .keypoint_check_hook import CustomPoseKeypointCheckHook

__all__ = ['CustomPoseInvalidLossHook', 'NonFiniteLossError',
           'CustomPoseKeypointCheckHook']
