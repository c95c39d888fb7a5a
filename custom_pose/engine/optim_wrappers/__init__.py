from .autocast_optim_wrapper import CustomPoseAutocastOptimWrapper

__all__ = ['CustomPoseAutocastOptimWrapper']
