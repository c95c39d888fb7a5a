"""Deployment: ONNX export of top-down pose models and onnxruntime inference.

Needs the optional ``deploy`` extra (``pip install -e .[deploy]``: onnx and
onnxruntime); importing this package does not import them.
"""
from .onnx import (DEFAULT_OPSET, MAX_OPSET, MIN_OPSET, OnnxCheckResult,
                   OnnxHeatmapModel, OnnxModelError, PoseHeatmapModel,
                   check_onnx_model, export_onnx, pytorch2onnx)

__all__ = [
    'DEFAULT_OPSET', 'MAX_OPSET', 'MIN_OPSET', 'OnnxCheckResult',
    'OnnxHeatmapModel', 'OnnxModelError', 'PoseHeatmapModel',
    'check_onnx_model', 'export_onnx', 'pytorch2onnx'
]
