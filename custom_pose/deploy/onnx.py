# Copyright (c) custom_pose contributors. All rights reserved.
"""ONNX export of top-down heatmap models, checked with onnxruntime.

The exported graph is the network only: the normalised image batch
``input`` (N, 3, H, W) float32 -> ``heatmaps`` (N, K, h, w) float32 (the
last stage of multi-stage models), exactly what
:class:`~custom_pose.apis.TopdownBatchInferencer` computes between its
crop normalisation and its decoding. Cropping, normalisation, the flip test
and decoding stay in Python, so an onnxruntime model is a drop-in for that
one call (:class:`OnnxHeatmapModel`).

Export uses torch's TorchScript-based exporter (``dynamo=False``): in
torch >= 2.9 the default ``torch.export`` exporter needs the ``onnxscript``
package, which the ``deploy`` extra does not install; the TorchScript
exporter needs only ``onnx`` and supports opsets 7-20 (11-20 here:
nearest-neighbour ``Resize`` of the hourglass needs 11).

Example::

    from custom_pose.deploy import pytorch2onnx
    result = pytorch2onnx(
        'configs/animal/custom_res18_quickstart_synthetic_128x128.py',
        'work_dirs/quickstart/epoch_8.pth', 'res18.onnx', dynamic_batch=True)
    print(result.summary())
"""
import os
import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor, nn

from custom_pose.apis import (CheckpointError, KeypointMismatchError,
                              TopdownBatchInferencer, decode_msra_heatmaps)
from custom_pose.utils.atomic_io import (commit_temp_path, discard_temp_path,
                                         named_os_error, reserve_temp_path)

__all__ = [
    'DEFAULT_OPSET', 'MIN_OPSET', 'MAX_OPSET', 'OnnxModelError',
    'PoseHeatmapModel', 'export_onnx', 'OnnxHeatmapModel', 'OnnxCheckResult',
    'check_onnx_model', 'pytorch2onnx'
]

#: Opset written by default (onnxruntime 1.14+ runs it).
DEFAULT_OPSET = 17
#: Opsets accepted: ``Resize`` (hourglass) needs 11; torch's TorchScript
#: exporter writes at most 20.
MIN_OPSET, MAX_OPSET = 11, 20
#: Names of the graph's input and output.
INPUT_NAME, OUTPUT_NAME = 'input', 'heatmaps'


class OnnxModelError(CheckpointError):
    """An ONNX model file that is missing, does not load in onnxruntime or
    does not fit the config (a :class:`~custom_pose.apis.CheckpointError`,
    as it replaces the checkpoint's weights)."""


def _one_line(exc: BaseException) -> str:
    """An exception's message with its line breaks and runs of spaces
    collapsed (onnxruntime's messages span several lines)."""
    return ' '.join(str(exc).split()) or type(exc).__name__


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise OnnxModelError(
            'running ONNX models needs onnxruntime: pip install -e .[deploy]'
        ) from None
    return onnxruntime


class PoseHeatmapModel(nn.Module):
    """The network part of a top-down heatmap estimator: backbone + head.

    ``forward`` is the call :class:`~custom_pose.apis.TopdownBatchInferencer`
    makes on a normalised batch; multi-stage heads give their last stage.

    Args:
        model (nn.Module): A top-down estimator with ``extract_feat`` and a
            heatmap ``head`` (e.g. from :func:`~custom_pose.apis.init_pose_model`).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not (hasattr(model, 'extract_feat') and hasattr(model, 'head')):
            raise ValueError(
                f'{type(model).__name__} is not a top-down estimator with a '
                'backbone and a head (extract_feat / head)')
        self.model = model

    def forward(self, inputs: Tensor) -> Tensor:
        """(N, 3, H, W) normalised images -> (N, K, h, w) heatmaps."""
        heatmaps = self.model.head.forward(self.model.extract_feat(inputs))
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]  # multi-stage heads: the last stage
        return heatmaps


def _check_opset(opset: int) -> None:
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f'opset {opset!r} is not supported: use an opset '
                         f'from {MIN_OPSET} to {MAX_OPSET}')


def _check_output_path(path: str) -> str:
    path = str(path)
    if osp.isdir(path):
        raise ValueError(f'the ONNX output {path} is a directory; give a '
                         'file name such as model.onnx')
    parent = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise ValueError(f'cannot create the directory of {path}: '
                         f'{exc.strerror or exc}') from None
    if not os.access(parent, os.W_OK):
        raise ValueError(f'cannot write the ONNX output {path}: directory '
                         f'{parent} is not writable')
    return path


def export_onnx(model: nn.Module,
                output: str,
                *,
                batch_size: int = 1,
                dynamic_batch: bool = False,
                opset: int = DEFAULT_OPSET) -> str:
    """Export a top-down heatmap estimator's network to ONNX.

    The graph maps ``input`` (N, 3, H, W) float32, the normalised crops at
    the config's model input size, to ``heatmaps`` (N, K, h, w) float32,
    and is checked with ``onnx.checker``; the file is written beside
    ``output`` and renamed over it once checked, so a failed export leaves
    ``output`` as it was. The model is exported as it is
    (fp32, on its device, in eval mode); export a model without the fast
    paths of :func:`~custom_pose.models.utils.prepare_for_inference`
    (onnxruntime folds BN and picks its own layouts).

    Args:
        model (nn.Module): Estimator from :func:`custom_pose.apis.init_pose_model`.
        output (str): The ``.onnx`` file to write.
        batch_size (int): N of the exported graph (its dummy input when
            ``dynamic_batch``). Defaults to 1.
        dynamic_batch (bool): Make N a symbolic dimension ``batch``.
        opset (int): ONNX opset, :data:`MIN_OPSET` to :data:`MAX_OPSET`.

    Returns:
        str: ``output``.

    Raises:
        ValueError: Bad opset, batch size or output path.
        OnnxModelError: ``onnx`` is missing, or the export fails.
    """
    _check_opset(opset)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size!r}')
    output = _check_output_path(output)
    try:
        import onnx
    except ImportError:
        raise OnnxModelError(
            'exporting to ONNX needs the onnx package: pip install -e '
            '.[deploy]') from None
    w, h = TopdownBatchInferencer(model).input_size
    device = next(model.parameters()).device
    net = PoseHeatmapModel(model).eval()
    dummy = torch.zeros((batch_size, 3, h, w), device=device)
    dynamic_axes = ({
        INPUT_NAME: {0: 'batch'},
        OUTPUT_NAME: {0: 'batch'}
    } if dynamic_batch else None)
    # all-or-nothing: written beside ``output`` and renamed over it once
    # exported and checked; a failed export leaves ``output`` as it was
    tmp = reserve_temp_path(output, suffix='.tmp.onnx')
    try:
        _export_to(net, dummy, tmp, opset, dynamic_axes, model)
        try:
            onnx.checker.check_model(tmp)
        except Exception as exc:
            raise OnnxModelError(f'the exported {output} does not pass '
                                 f'onnx.checker: {_one_line(exc)}') from None
        commit_temp_path(tmp, output)
    except OSError as exc:
        raise named_os_error(exc, output) from None
    finally:
        discard_temp_path(tmp)
    return output


def _export_to(net: nn.Module, dummy: Tensor, path: str, opset: int,
               dynamic_axes: Optional[dict], model: nn.Module) -> None:
    """``torch.onnx.export`` of ``net`` on input ``dummy`` (N, 3, H, W)
    to ``path``.

    Raises:
        OSError: A file error of the export (e.g. ``EFBIG``, ``ENOSPC``).
        OnnxModelError: Any other failure of the export.
    """
    with warnings.catch_warnings():
        # the legacy-exporter notice and tracer notes on shape arithmetic
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        try:
            torch.onnx.export(
                net, (dummy, ),
                path,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes,
                do_constant_folding=True)
        except OSError:
            raise
        except Exception as exc:
            raise OnnxModelError(
                f'ONNX export of {type(model.backbone).__name__} + '
                f'{type(model.head).__name__} failed: {type(exc).__name__}: '
                f'{_one_line(exc)[:300]}') from None


def _dim(value: Any) -> Optional[int]:
    """A static ONNX dimension, ``None`` for a symbolic one."""
    return value if isinstance(value, int) and value > 0 else None


class OnnxHeatmapModel:
    """An exported heatmap model run by onnxruntime, called like the
    PyTorch network: (N, 3, H, W) float batch -> (N, K, h, w) heatmaps.

    A drop-in for :class:`PoseHeatmapModel` (the forward call inside
    :meth:`custom_pose.apis.TopdownBatchInferencer.predict_crops`): the
    result is a float32 tensor on the input's device. A graph exported for
    a fixed batch size runs any N in chunks of that size (the last chunk
    zero-padded), so the flip test's 2N batch works too.

    Args:
        path (str): The ``.onnx`` file.
        num_keypoints (int, optional): K the config's model predicts; a
            model with another K is refused.
        input_size (tuple, optional): ``(w, h)`` model input of the config;
            a model with another fixed input size is refused.
        device (str): ``'cpu'``, or ``'cuda[:i]'`` where onnxruntime has
            its CUDA provider (onnxruntime-gpu). Defaults to ``'cpu'``.
        num_threads (int, optional): onnxruntime's intra-op threads
            (``None``: its default, one per physical core).
        config_name (str): The config, for messages.

    Raises:
        OnnxModelError: Missing, empty or unreadable file, or a graph that
            is not an image -> heatmaps model of the config's input size.
        KeypointMismatchError: The model predicts another number of
            keypoints.
    """

    def __init__(self,
                 path: str,
                 num_keypoints: Optional[int] = None,
                 input_size: Optional[Tuple[int, int]] = None,
                 device: str = 'cpu',
                 num_threads: Optional[int] = None,
                 config_name: str = 'the config') -> None:
        ort = _import_onnxruntime()
        path = str(path)
        if not osp.isfile(path):
            raise OnnxModelError(f'ONNX model file not found: {path}')
        if osp.getsize(path) == 0:
            raise OnnxModelError(f'ONNX model file {path} is empty (0 bytes)')
        providers = ['CPUExecutionProvider']
        if str(device).startswith('cuda'):
            if 'CUDAExecutionProvider' not in ort.get_available_providers():
                raise OnnxModelError(
                    f'device {device}: this onnxruntime has no CUDA provider '
                    '(install onnxruntime-gpu, or use the cpu device)')
            index = str(device).partition(':')[2] or '0'
            providers = [('CUDAExecutionProvider', dict(device_id=int(index))),
                         'CPUExecutionProvider']
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        try:
            self.session = ort.InferenceSession(
                path, sess_options=options, providers=providers)
        except Exception as exc:
            raise OnnxModelError(
                f'cannot load ONNX model {path}: not a valid ONNX model '
                f'({_one_line(exc)[:200]})') from None
        self.path = path
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or \
                _dim(inputs[0].shape[1]) not in (None, 3) or not outputs or \
                len(outputs[0].shape) != 4:
            raise OnnxModelError(
                f'ONNX model {path} is not an image -> heatmaps model: '
                f'inputs {[(i.name, i.shape) for i in inputs]}, outputs '
                f'{[(o.name, o.shape) for o in outputs]} (expected one '
                '(N, 3, H, W) input and (N, K, h, w) heatmaps)')
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.batch_size = _dim(inputs[0].shape[0])
        self.num_keypoints = num_keypoints
        self.config_name = config_name
        model_size = (_dim(inputs[0].shape[3]), _dim(inputs[0].shape[2]))
        if input_size is not None and None not in model_size and \
                tuple(model_size) != tuple(input_size):
            raise OnnxModelError(
                f'ONNX model {path} takes {model_size[0]}x{model_size[1]} '
                f'(w x h) inputs but the model of {config_name} takes '
                f'{input_size[0]}x{input_size[1]}: export it from that config')
        self._check_keypoints(_dim(outputs[0].shape[1]))

    def _check_keypoints(self, k: Optional[int]) -> None:
        if k is not None and self.num_keypoints is not None and \
                k != self.num_keypoints:
            raise KeypointMismatchError(
                f'keypoint-count mismatch: ONNX model {self.path} predicts '
                f'{k} keypoints but the model of {self.config_name} predicts '
                f'{self.num_keypoints}')

    def _run(self, batch: Any) -> Any:
        return self.session.run([self.output_name],
                                {self.input_name: batch})[0]

    def __call__(self, inputs: Tensor) -> Tensor:
        """Heatmaps of a normalised batch.

        Args:
            inputs (Tensor): (N, 3, H, W) float batch (any device).

        Returns:
            Tensor: (N, K, h, w) float32 heatmaps on ``inputs.device``.
        """
        batch = inputs.detach().to('cpu', torch.float32).contiguous().numpy()
        n, step = len(batch), self.batch_size
        if step is None or n == step:
            out = self._run(batch)
        else:
            parts = []
            for start in range(0, n, step):
                chunk = batch[start:start + step]
                if len(chunk) < step:
                    pad = np.zeros((step - len(chunk), ) + chunk.shape[1:],
                                   np.float32)
                    chunk = np.concatenate([chunk, pad])
                parts.append(self._run(chunk))
            out = np.concatenate(parts)[:n]
        self._check_keypoints(out.shape[1])
        return torch.from_numpy(np.ascontiguousarray(out, np.float32)).to(
            inputs.device)


@dataclass
class OnnxCheckResult:
    """onnxruntime against PyTorch on the same input (:func:`check_onnx_model`).

    Keypoints are the heatmap maxima (mmpose's ``MSRAHeatmap`` decoding,
    :func:`~custom_pose.apis.decode_msra_heatmaps`) in model-input pixels.
    """
    onnx_path: str
    batch_sizes: Tuple[int, ...]
    input_size: Tuple[int, int]
    num_keypoints: int
    keypoint_mean_diff_px: float
    keypoint_max_diff_px: float
    heatmap_max_abs_diff: float
    heatmap_max_abs: float
    tolerance_px: float

    @property
    def passed(self) -> bool:
        """Mean keypoint difference within :attr:`tolerance_px`."""
        return self.keypoint_mean_diff_px <= self.tolerance_px

    def summary(self) -> str:
        """One line for tools and logs."""
        w, h = self.input_size
        sizes = ', '.join(map(str, self.batch_sizes))
        verdict = 'OK' if self.passed else 'FAILED'
        return (f'onnxruntime vs PyTorch, batch {sizes}: keypoints differ by '
                f'{self.keypoint_mean_diff_px:.4f} px on average (max '
                f'{self.keypoint_max_diff_px:.4f}) in {w}x{h} model-input '
                f'pixels; heatmaps by {self.heatmap_max_abs_diff:.3g} at most '
                f'(largest value {self.heatmap_max_abs:.3g}): {verdict} '
                f'(tolerance {self.tolerance_px:g} px mean)')


@torch.no_grad()
def check_onnx_model(model: nn.Module,
                     onnx_path: str,
                     batch_sizes: Sequence[int] = (1, ),
                     tolerance_px: float = 0.1,
                     seed: int = 0,
                     onnx_model: Optional[OnnxHeatmapModel] = None
                     ) -> OnnxCheckResult:
    """Run PyTorch and onnxruntime on the same random normalised batches.

    Args:
        model (nn.Module): The estimator the file was exported from.
        onnx_path (str): The ``.onnx`` file.
        batch_sizes (Sequence[int]): One N(0, 1) batch of each size.
        tolerance_px (float): Largest mean keypoint difference (model-input
            pixels) that :attr:`OnnxCheckResult.passed` accepts.
        seed (int): Seed of the input batches.
        onnx_model (OnnxHeatmapModel, optional): An already loaded session
            of ``onnx_path``.

    Returns:
        OnnxCheckResult: The differences.
    """
    geometry = TopdownBatchInferencer(model)
    w, h = geometry.input_size
    k = geometry.num_keypoints
    if onnx_model is None:
        onnx_model = OnnxHeatmapModel(onnx_path, k, (w, h))
    net = PoseHeatmapModel(model).eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    diffs, hm_diff, hm_max = [], 0.0, 0.0
    for n in batch_sizes:
        inputs = torch.randn((int(n), 3, h, w), generator=generator)
        ref = net(inputs.to(device)).float().cpu()
        out = onnx_model(inputs)
        if out.shape != ref.shape:
            raise OnnxModelError(
                f'ONNX model {onnx_path} gives heatmaps of shape '
                f'{tuple(out.shape)} for batch {n}, PyTorch '
                f'{tuple(ref.shape)}')
        hm_diff = max(hm_diff, float((out - ref).abs().max()))
        hm_max = max(hm_max, float(ref.abs().max()))
        stride = ref.new_tensor([w / ref.shape[-1], h / ref.shape[-2]])
        kpt_ref = decode_msra_heatmaps(ref)[0] * stride
        kpt_out = decode_msra_heatmaps(out)[0] * stride
        diffs.append((kpt_out - kpt_ref).norm(dim=-1).flatten())
    diffs = torch.cat(diffs)
    return OnnxCheckResult(
        onnx_path=str(onnx_path),
        batch_sizes=tuple(int(n) for n in batch_sizes),
        input_size=(w, h),
        num_keypoints=k,
        keypoint_mean_diff_px=float(diffs.mean()),
        keypoint_max_diff_px=float(diffs.max()),
        heatmap_max_abs_diff=hm_diff,
        heatmap_max_abs=hm_max,
        tolerance_px=float(tolerance_px))


def pytorch2onnx(config: Union[str, Config],
                 checkpoint: str,
                 output: str,
                 *,
                 dynamic_batch: bool = False,
                 opset: int = DEFAULT_OPSET,
                 batch_size: int = 1,
                 check_batch_sizes: Optional[Sequence[int]] = None,
                 tolerance_px: float = 0.1,
                 device: str = 'cpu') -> OnnxCheckResult:
    """Load a checkpoint strictly, export it to ONNX and check the file.

    Args:
        config (str | Config): Pose model config.
        checkpoint (str): Its checkpoint (loaded by
            :func:`custom_pose.apis.init_pose_model`).
        output (str): The ``.onnx`` file to write.
        dynamic_batch (bool): Symbolic batch dimension.
        opset (int): ONNX opset.
        batch_size (int): Batch of a static export.
        check_batch_sizes (Sequence[int], optional): Batches the check runs;
            default ``(1, 4)`` for a dynamic export, else ``(batch_size,)``.
        tolerance_px (float): See :func:`check_onnx_model`.
        device (str): Device of the PyTorch model.

    Returns:
        OnnxCheckResult: The check of the written file.
    """
    from custom_pose.apis import init_pose_model
    _check_opset(opset)
    _check_output_path(output)  # before the (slow) model loading
    model = init_pose_model(config, checkpoint, device)
    export_onnx(model, output, batch_size=batch_size,
                dynamic_batch=dynamic_batch, opset=opset)
    if check_batch_sizes is None:
        check_batch_sizes = (1, 4) if dynamic_batch else (batch_size, )
    return check_onnx_model(model, output, check_batch_sizes, tolerance_px)
