from .dump_predictions import CustomPoseDumpPredictions
from .metrics import *  # noqa: F401,F403

__all__ = ['CustomPoseDumpPredictions']
