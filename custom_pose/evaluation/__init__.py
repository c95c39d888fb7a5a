from .dump_predictions import CustomPoseDumpPredictions
from .metrics import *  # noqa: F401,F403
from .summary import format_metrics_summary

__all__ = ['CustomPoseDumpPredictions', 'format_metrics_summary']
