from .joints_mse_loss import CustomPoseJointsMSELoss

__all__ = ['CustomPoseJointsMSELoss']
