from .invalid_loss_hook import CustomPoseInvalidLossHook, NonFiniteLossError

__all__ = ['CustomPoseInvalidLossHook', 'NonFiniteLossError']
