# Copyright (c) custom_pose contributors. All rights reserved.
"""Model loading with clear errors, and batched top-down inference.

:func:`init_pose_model` and :func:`init_detector_model` follow mmpose's
``init_model`` and mmdet's ``init_detector`` but load checkpoints strictly:
a file that is not a checkpoint, the weights of another model or a
checkpoint trained for another number of keypoints raise
:class:`CheckpointError` / :class:`KeypointMismatchError` with a one-line
message (mmengine's loader only logs missing keys and goes on with random
weights). Only local files are read; nothing is downloaded.

:class:`TopdownBatchInferencer` runs a top-down pose estimator on many
boxes at once: each box is cropped to the model input with the affine warp
of mmpose's ``GetBBoxCenterScale`` + ``TopdownAffine`` (OpenCV, straight
into one preallocated batch buffer), the batch is normalised on the model's
device, the flip test runs as a single forward pass of ``2N`` images, and
heatmaps are decoded for the whole batch at once with torch
(:func:`decode_msra_heatmaps`, identical to mmpose's ``MSRAHeatmap``).
Models whose head is not a heatmap head go through mmpose's own
``model.predict`` with the same batch.
"""
import copy
import os.path as osp
import pickle
import re
import warnings
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import DefaultScope, init_default_scope
from torch import Tensor, nn

__all__ = [
    'CheckpointError', 'KeypointMismatchError', 'ModelConfigError',
    'default_device', 'check_device', 'load_config', 'load_checkpoint_file',
    'load_state_dict_strict', 'init_pose_model', 'init_detector_model',
    'decode_msra_heatmaps', 'TopdownBatchInferencer', 'DetectorInferencer',
    'mmdet_config_path', 'DEFAULT_DET_CONFIG'
]

#: mmdet's YOLOv3 (Darknet-53, 320x320, COCO) config, shipped inside the
#: installed mmdet package.
DEFAULT_DET_CONFIG = 'yolo/yolov3_d53_8xb8-320-273e_coco.py'


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


class KeypointMismatchError(CheckpointError):
    """Checkpoint, config and metainfo disagree on the number of keypoints."""


class ModelConfigError(ValueError):
    """A config file that is missing, does not parse or does not build."""


# ---------------------------------------------------------------------------
# devices, configs, checkpoints
# ---------------------------------------------------------------------------
def default_device() -> str:
    """``'cuda:0'`` where CUDA is available, else ``'cpu'``."""
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def check_device(device: Optional[str]) -> str:
    """Validate a device string (``None`` -> :func:`default_device`).

    Raises:
        ValueError: For a malformed device or CUDA where there is none.
    """
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f'invalid --device {device!r}: {exc}') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError(f'--device {device}: CUDA is not available '
                             'here; use --device cpu')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f'--device {device}: only {torch.cuda.device_count()} CUDA '
                'device(s) present')
    return str(dev)


def mmdet_config_path(relative: str = DEFAULT_DET_CONFIG) -> str:
    """Absolute path of a config shipped inside the installed mmdet package
    (``mmdet/.mim/configs/<relative>``).

    Raises:
        ModelConfigError: If mmdet or the file is missing.
    """
    try:
        import mmdet
    except ImportError as exc:
        raise ModelConfigError(f'mmdet is not installed ({exc})') from None
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', relative)
    if not osp.isfile(path):
        raise ModelConfigError(
            f'the mmdet package has no bundled config {relative} (looked for '
            f'{path}); pass a detector config explicitly')
    return path


def load_config(config: Union[str, Config], what: str = 'config') -> Config:
    """Load an mmengine config file (or pass a ``Config`` through).

    Raises:
        ModelConfigError: If the file is missing or does not parse.
    """
    if isinstance(config, Config):
        return config
    path = str(config)
    if not osp.isfile(path):
        raise ModelConfigError(f'{what} file not found: {path}')
    try:
        return Config.fromfile(path)
    except Exception as exc:  # syntax errors, bad _base_, failed imports
        raise ModelConfigError(
            f'cannot read {what} {path}: {type(exc).__name__}: '
            f'{_first_line(exc)}') from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_checkpoint_file(path: str) -> Dict[str, Any]:
    """Read a local checkpoint with torch's safe ``weights_only`` loading.

    ``import custom_pose`` allow-lists the non-tensor types mmengine writes
    into checkpoints (see :mod:`custom_pose.utils.checkpoint`).

    Returns:
        dict: The checkpoint (a dict with ``state_dict`` and usually
        ``meta``, or a bare state dict).

    Raises:
        CheckpointError: If the file is missing, remote, not a torch file,
            holds objects safe loading refuses, or is not a dict.
    """
    if re.match(r'^[a-zA-Z][\w+.-]*://', path):
        raise CheckpointError(
            f'checkpoint {path}: only local files are accepted (nothing is '
            'downloaded at run time)')
    if not osp.isfile(path):
        raise CheckpointError(f'checkpoint file not found: {path}')
    try:
        with warnings.catch_warnings():  # e.g. about the pickle protocol
            warnings.simplefilter('ignore')
            ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        match = re.search(r'Unsupported global: GLOBAL ([\w.]+)', text)
        if match:
            raise CheckpointError(
                f'cannot load checkpoint {path}: it holds a Python object of '
                f'type {match.group(1)} that torch\'s safe loading refuses '
                '(not a model checkpoint written by mmengine/torch?)'
            ) from None
        reason = re.search(r'WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)',
                           text, re.S)
        reason = ' '.join(reason.group(1).split()) if reason else \
            _first_line(exc)
        raise CheckpointError(
            f'cannot load checkpoint {path}: not a torch checkpoint file '
            f'(safe unpickling failed: {reason})') from None
    except Exception as exc:  # EOFError, RuntimeError: invalid magic number
        raise CheckpointError(
            f'cannot load checkpoint {path}: not a torch checkpoint file '
            f'({type(exc).__name__}: {_first_line(exc)})') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'checkpoint {path} holds a {type(ckpt).__name__}, not a dict '
            'with a state_dict')
    return ckpt


def _state_dict_of(ckpt: Dict[str, Any],
                   path: str) -> 'OrderedDict[str, Tensor]':
    """The model weights in a loaded checkpoint, ``module.`` prefixes
    (DistributedDataParallel) removed."""
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, Tensor)
            for k, v in state.items()):
        raise CheckpointError(
            f'checkpoint {path} has no state_dict of tensors (keys: '
            f'{sorted(map(str, ckpt))[:5]})')
    return OrderedDict((re.sub(r'^module\.', '', k), v)
                       for k, v in state.items())


def _examples(keys: Sequence[str], n: int = 3) -> str:
    keys = sorted(keys)
    more = f', ... {len(keys) - n} more' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


_SIZE_MISMATCH = re.compile(
    r'size mismatch for ([\w.]+): copying a param with shape '
    r'torch\.Size\(\[([\d, ]*)\]\) from checkpoint, the shape in current '
    r'model is torch\.Size\(\[([\d, ]*)\]\)')


def _shape(text: str) -> Tuple[int, ...]:
    return tuple(int(v) for v in text.split(',') if v.strip())


def load_state_dict_strict(model: nn.Module,
                           ckpt: Dict[str, Any],
                           path: str,
                           num_keypoints: Optional[int] = None,
                           config_name: str = 'the config') -> None:
    """Load a checkpoint's weights into ``model``; every weight must fit.

    The model's own ``load_state_dict`` pre-hooks run (mmpose's estimators
    rename the heads of mmpose 0.x checkpoints that way); ``module.``
    prefixes are removed and ``data_preprocessor.*`` entries ignored.

    Args:
        model (nn.Module): The model built from the config.
        ckpt (dict): The loaded checkpoint (:func:`load_checkpoint_file`).
        path (str): Its file name, for messages.
        num_keypoints (int, optional): K of the model; a weight that differs
            from the model's only where the model has K is reported as a
            keypoint-count mismatch.
        config_name (str): The config, for messages.

    Raises:
        KeypointMismatchError: The final layer has another keypoint count.
        CheckpointError: Missing, unexpected or differently shaped weights
            (the model is then left partly loaded: discard it).
    """
    state = _state_dict_of(ckpt, path)
    own = model.state_dict()
    mismatched = [(k, tuple(state[k].shape), tuple(own[k].shape))
                  for k in own if k in state and state[k].shape != own[k].shape]
    missing: list = []
    unexpected: list = []
    if not mismatched:
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shapes of renamed (hooked) weights
            mismatched = [(m.group(1), _shape(m.group(2)), _shape(m.group(3)))
                          for m in _SIZE_MISMATCH.finditer(str(exc))]
            if not mismatched:
                raise CheckpointError(
                    f'incompatible checkpoint {path}: {_first_line(exc)}'
                ) from None
        else:
            missing = list(result.missing_keys)
            unexpected = [
                k for k in result.unexpected_keys
                if not k.startswith('data_preprocessor.')
            ]
    if num_keypoints is not None:
        for key, theirs, ours in mismatched:
            if len(theirs) != len(ours):
                continue
            diff = [i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b]
            if len(diff) == 1 and ours[diff[0]] == num_keypoints:
                raise KeypointMismatchError(
                    f'keypoint-count mismatch: checkpoint {path} predicts '
                    f'{theirs[diff[0]]} keypoints ({key} has shape '
                    f'{list(theirs)}) but the model of {config_name} '
                    f'predicts {num_keypoints}')
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f'{len(missing)} of the model\'s {len(own)} weights '
                         f'missing ({_examples(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected '
                         f'({_examples(unexpected)})')
        if mismatched:
            key, theirs, ours = mismatched[0]
            parts.append(f'{len(mismatched)} of another shape (e.g. {key}: '
                         f'{list(theirs)} in the file, {list(ours)} in the '
                         'model)')
        raise CheckpointError(
            f'incompatible checkpoint {path}: it does not fit the model of '
            f'{config_name}: ' + '; '.join(parts))


# ---------------------------------------------------------------------------
# model initialisation
# ---------------------------------------------------------------------------
def _model_num_keypoints(model: nn.Module) -> Optional[int]:
    """K from the head (``out_channels``), or from the backbone for
    parameter-free multi-stage heads; ``None`` when unknown."""
    head = getattr(model, 'head', None)
    k = getattr(head, 'out_channels', None)
    if isinstance(k, int):
        return k
    if head is not None and not any(True for _ in head.parameters()):
        k = getattr(getattr(model, 'backbone', None), 'out_channels', None)
        if isinstance(k, int):
            return k
    return None


def _fallback_meta(num_keypoints: int) -> dict:
    """Metainfo for a model whose dataset is unknown: no skeleton and no
    left/right swaps."""
    return dict(
        dataset_name='unknown',
        num_keypoints=num_keypoints,
        keypoint_id2name={i: f'kpt_{i}'
                          for i in range(num_keypoints)},
        keypoint_name2id={f'kpt_{i}': i
                          for i in range(num_keypoints)},
        flip_indices=list(range(num_keypoints)),
        skeleton_links=[])


def init_pose_model(config: Union[str, Config],
                    checkpoint: str,
                    device: Optional[str] = None,
                    cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a top-down pose estimator and load a checkpoint strictly.

    As mmpose's ``init_model``: the backbone's ``init_cfg`` is dropped (no
    pretrained download), SyncBN is reverted, and ``model.dataset_meta`` is
    the checkpoint's ``meta['dataset_meta']``, else the config's training
    dataset metainfo. ``model.cfg`` is the config.

    Args:
        config (str | Config): Model config.
        checkpoint (str): Local checkpoint file.
        device (str, optional): Defaults to :func:`default_device`.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model in eval mode on ``device``.

    Raises:
        ModelConfigError: Bad config.
        CheckpointError: Bad checkpoint (see :func:`load_state_dict_strict`).
        KeypointMismatchError: Checkpoint, config and metainfo disagree on
            the number of keypoints.
    """
    import custom_pose  # noqa: F401  registers modules and safe globals
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.models.builder import build_pose_estimator

    config_name = config if isinstance(config, str) else 'the config'
    cfg = copy.deepcopy(load_config(config, 'pose config'))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not isinstance(cfg.get('model'), dict):
        raise ModelConfigError(f'pose config {config_name} has no `model`')
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    ckpt = load_checkpoint_file(checkpoint)  # fail fast before building

    init_default_scope(cfg.get('default_scope', 'mmpose') or 'mmpose')
    try:
        model = build_pose_estimator(cfg.model)
    except Exception as exc:
        raise ModelConfigError(
            f'cannot build the model of {config_name}: '
            f'{type(exc).__name__}: {_first_line(exc)}') from None
    model = revert_sync_batchnorm(model)
    model_k = _model_num_keypoints(model)

    ckpt_meta = ckpt.get('meta')
    ckpt_meta = ckpt_meta.get('dataset_meta') if isinstance(
        ckpt_meta, dict) else None
    if isinstance(ckpt_meta, dict) and 'flip_indices' not in ckpt_meta:
        try:  # raw dataset_info (keypoint_info, skeleton_info, ...)
            ckpt_meta = parse_pose_metainfo(dict(ckpt_meta))
        except Exception:
            ckpt_meta = None
    if not isinstance(ckpt_meta, dict):
        ckpt_meta = None
    if ckpt_meta is not None and model_k is not None:
        ckpt_k = ckpt_meta.get('num_keypoints')
        if ckpt_k is not None and int(ckpt_k) != model_k:
            raise KeypointMismatchError(
                f'keypoint-count mismatch: checkpoint {checkpoint} was '
                f'trained with {int(ckpt_k)} keypoints (dataset '
                f"{ckpt_meta.get('dataset_name', '?')!r}) but the model of "
                f'{config_name} predicts {model_k}')
    load_state_dict_strict(model, ckpt, checkpoint, model_k, config_name)

    config_meta = None
    try:
        config_meta = dataset_meta_from_config(cfg, dataset_mode='train')
    except Exception:  # metainfo files that do not parse, unknown types
        config_meta = None
    dataset_meta = ckpt_meta if ckpt_meta is not None else config_meta
    if dataset_meta is None:
        if model_k is None:
            raise ModelConfigError(
                f'neither checkpoint {checkpoint} nor config {config_name} '
                'gives the dataset metainfo (number of keypoints)')
        warnings.warn(
            f'no dataset metainfo in {checkpoint} or {config_name}: drawing '
            f'{model_k} keypoints without skeleton, flip test without '
            'left/right swaps', UserWarning)
        dataset_meta = _fallback_meta(model_k)
    meta_k = dataset_meta.get('num_keypoints')
    if model_k is not None and meta_k is not None and int(meta_k) != model_k:
        source = 'checkpoint' if ckpt_meta is not None else 'config dataset'
        raise KeypointMismatchError(
            f'keypoint-count mismatch: the {source} metainfo '
            f"({dataset_meta.get('dataset_name', '?')!r}) has {int(meta_k)} "
            f'keypoints but the model of {config_name} predicts {model_k}')

    model.dataset_meta = dataset_meta
    model.cfg = cfg
    model.to(check_device(device))
    model.eval()
    return model


def init_detector_model(config: Union[str, Config, None],
                        checkpoint: str,
                        device: Optional[str] = None) -> nn.Module:
    """Build an mmdet 3.x detector and load a checkpoint strictly.

    As mmdet's ``init_detector`` (backbone ``init_cfg`` dropped, SyncBN
    reverted); ``model.dataset_meta['classes']`` comes from the checkpoint,
    else COCO's 80 classes.

    Args:
        config (str | Config, optional): Detector config; ``None`` for
            mmdet's bundled YOLOv3 (:data:`DEFAULT_DET_CONFIG`).
        checkpoint (str): Local checkpoint file.
        device (str, optional): Defaults to :func:`default_device`.

    Raises:
        ModelConfigError, CheckpointError: As :func:`init_pose_model`.
    """
    import custom_pose  # noqa: F401  safe globals for torch.load

    if config is None:
        config = mmdet_config_path()
    config_name = config if isinstance(config, str) else 'the config'
    cfg = copy.deepcopy(load_config(config, 'detector config'))
    if not isinstance(cfg.get('model'), dict):
        raise ModelConfigError(
            f'detector config {config_name} has no `model`')
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None
    ckpt = load_checkpoint_file(checkpoint)

    import mmdet.models  # noqa: F401  registers the detectors
    from mmdet.evaluation import get_classes
    from mmdet.registry import MODELS as DET_MODELS
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet') or 'mmdet'):
        try:
            model = DET_MODELS.build(cfg.model)
        except Exception as exc:
            raise ModelConfigError(
                f'cannot build the detector of {config_name}: '
                f'{type(exc).__name__}: {_first_line(exc)}') from None
    model = revert_sync_batchnorm(model)
    load_state_dict_strict(model, ckpt, checkpoint, None, config_name)

    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    classes = None
    if isinstance(meta.get('dataset_meta'), dict):
        classes = {k.lower(): v
                   for k, v in meta['dataset_meta'].items()}.get('classes')
    classes = classes or meta.get('CLASSES') or get_classes('coco')
    model.dataset_meta = dict(classes=tuple(classes))
    model.cfg = cfg
    model.to(check_device(device))
    model.eval()
    return model


# ---------------------------------------------------------------------------
# batched top-down inference
# ---------------------------------------------------------------------------
def decode_msra_heatmaps(heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
    """Decode a batch of heatmaps like mmpose's ``MSRAHeatmap`` (with
    ``unbiased=False``): the arg-max, moved a quarter pixel towards the
    higher neighbour, in heatmap pixels.

    Vectorised over the batch; the result equals ``get_heatmap_maximum`` +
    ``refine_keypoints`` of ``mmpose.codecs.utils``, including their border
    rules (a shift in x only where ``1 < x < W - 1`` and ``y > 0``, in y
    only where ``1 < y < H - 1`` and ``x > 0``) and ``-1`` for maps
    without a positive value.

    Args:
        heatmaps (Tensor): (N, K, H, W) heatmaps.

    Returns:
        tuple: ``keypoints`` (N, K, 2) float (x, y) in heatmap pixels and
        ``scores`` (N, K), the maximum values.
    """
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, k, h * w)
    scores, idx = flat.max(dim=-1)
    x = idx % w
    y = torch.div(idx, w, rounding_mode='floor')
    # neighbour differences at the maximum (indices clamped; masked below)
    xr = (x + 1).clamp(max=w - 1)
    xl = (x - 1).clamp(min=0)
    yd = (y + 1).clamp(max=h - 1)
    yu = (y - 1).clamp(min=0)
    dx = flat.gather(-1, (y * w + xr)[..., None])[..., 0] - \
        flat.gather(-1, (y * w + xl)[..., None])[..., 0]
    dy = flat.gather(-1, (yd * w + x)[..., None])[..., 0] - \
        flat.gather(-1, (yu * w + x)[..., None])[..., 0]
    dx = torch.where((x > 1) & (x < w - 1) & (y > 0), torch.sign(dx),
                     torch.zeros_like(dx))
    dy = torch.where((y > 1) & (y < h - 1) & (x > 0), torch.sign(dy),
                     torch.zeros_like(dy))
    keypoints = torch.stack([x, y], dim=-1).to(heatmaps.dtype)
    keypoints = keypoints + torch.stack([dx, dy], dim=-1) * 0.25
    keypoints = torch.where((scores <= 0)[..., None],
                            torch.full_like(keypoints, -1.), keypoints)
    return keypoints, scores


def _find_transform(pipeline: Sequence[dict], name: str) -> Optional[dict]:
    for t in pipeline or ():
        ttype = t.get('type') if isinstance(t, dict) else None
        if isinstance(ttype, str) and ttype.split('.')[-1] == name:
            return t
    return None


class TopdownBatchInferencer:
    """Batched inference of an mmpose top-down estimator on boxes.

    The crops, their normalisation, the flip test and the decoding match
    mmpose's ``inference_topdown`` (``GetBBoxCenterScale``,
    ``TopdownAffine``, ``PoseDataPreprocessor``, the model's ``test_cfg``
    and codec), computed for the whole batch at once.

    Args:
        model (nn.Module): A top-down estimator from :func:`init_pose_model`
            (or mmpose's ``init_model``): with ``cfg`` and ``dataset_meta``.
        batch_size (int, optional): Largest number of crops per forward pass;
            ``None`` puts all boxes of a call into one batch.
        fast (bool, optional): Use the vectorised heatmap path (``None``:
            where the head is a heatmap head). ``False`` always calls mmpose's
            ``model.predict`` on the batch.

    Raises:
        ModelConfigError: If the config's test pipeline has no
            ``TopdownAffine``.
    """

    def __init__(self,
                 model: nn.Module,
                 batch_size: Optional[int] = None,
                 fast: Optional[bool] = None) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.model = model
        self.batch_size = batch_size
        cfg = model.cfg
        pipeline = None
        for key in ('test_dataloader', 'val_dataloader'):
            loader = cfg.get(key)
            if loader and loader.get('dataset', {}).get('pipeline'):
                pipeline = loader.dataset.pipeline
                break
        affine = _find_transform(pipeline, 'TopdownAffine')
        if affine is None:
            raise ModelConfigError(
                'the pose config has no TopdownAffine in '
                'test_dataloader.dataset.pipeline: not a top-down model?')
        center_scale = _find_transform(pipeline, 'GetBBoxCenterScale') or {}
        self.padding = float(center_scale.get('padding', 1.25))
        size = affine['input_size']
        self.input_size = (int(size[0]), int(size[1]))  # (w, h)
        self.use_udp = bool(affine.get('use_udp', False))

        meta = model.dataset_meta
        self.num_keypoints = int(meta['num_keypoints'])
        self.flip_indices = list(meta.get('flip_indices') or
                                 range(self.num_keypoints))
        self.test_cfg = dict(getattr(model, 'test_cfg', None) or {})
        self.device = next(model.parameters()).device

        head = getattr(model, 'head', None)
        decoder = getattr(head, 'decoder', None)
        is_heatmap_head = self._is_heatmap_head(head)
        can_fast = (is_heatmap_head and decoder is not None
                    and 'output_keypoint_indices' not in self.test_cfg)
        if fast and not can_fast:
            raise ValueError(
                'fast=True needs a heatmap head with a decoder and no '
                'test_cfg.output_keypoint_indices')
        self.fast = can_fast if fast is None else bool(fast)
        from mmpose.codecs import MSRAHeatmap
        self.vector_decode = (isinstance(decoder, MSRAHeatmap)
                              and not decoder.unbiased)
        self._buffer: Optional[np.ndarray] = None
        self._buffer_tensor: Optional[Tensor] = None
        self._full_frame_cache: Dict[Tuple[int, int], tuple] = {}

    @staticmethod
    def _is_heatmap_head(head: Optional[nn.Module]) -> bool:
        if head is None:
            return False
        from mmpose.models.heads import HeatmapHead
        from custom_pose.models.heads.deconv_head import BaseHeatmapPredictHead
        return isinstance(head, (HeatmapHead, BaseHeatmapPredictHead))

    # -- geometry ---------------------------------------------------------
    def centers_scales(self, bboxes: np.ndarray) -> Tuple[np.ndarray,
                                                          np.ndarray]:
        """``GetBBoxCenterScale`` + ``TopdownAffine``'s aspect-ratio fix.

        Args:
            bboxes (np.ndarray): (N, 4) boxes ``x1, y1, x2, y2``.

        Returns:
            tuple: centers (N, 2) and scales (N, 2), float32.
        """
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
        centers = (bboxes[:, 2:] + bboxes[:, :2]) * 0.5
        scales = (bboxes[:, 2:] - bboxes[:, :2]) * self.padding
        w, h = self.input_size
        aspect = w / h
        sw, sh = scales[:, :1], scales[:, 1:]
        scales = np.where(sw > sh * aspect, np.hstack([sw, sw / aspect]),
                          np.hstack([sh * aspect, sh])).astype(np.float32)
        return centers.astype(np.float32), scales

    def warp_matrix(self, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The (2, 3) affine matrix ``TopdownAffine`` uses for one box."""
        from mmpose.structures.bbox import (get_udp_warp_matrix,
                                            get_warp_matrix)
        if self.use_udp:
            return get_udp_warp_matrix(
                center, scale, 0., output_size=self.input_size)
        return get_warp_matrix(center, scale, 0., output_size=self.input_size)

    def _batch_buffer(self, n: int) -> np.ndarray:
        """A reusable (>= n, h, w, 3) uint8 buffer (pinned for CUDA)."""
        if self._buffer is None or len(self._buffer) < n:
            w, h = self.input_size
            size = max(n, self.batch_size or 0)
            tensor = torch.empty((size, h, w, 3), dtype=torch.uint8)
            if self.device.type == 'cuda':
                tensor = tensor.pin_memory()
            self._buffer_tensor = tensor
            self._buffer = tensor.numpy()
        return self._buffer

    # -- public API -------------------------------------------------------
    def infer_bboxes(self, img: np.ndarray,
                     bboxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints of every box of one image.

        Args:
            img (np.ndarray): BGR image (H, W, 3), uint8.
            bboxes (np.ndarray): (N, 4) ``xyxy`` boxes.

        Returns:
            tuple: ``keypoints`` (N, K, 2) in image pixels and ``scores``
            (N, K), float32 numpy arrays.
        """
        centers, scales = self.centers_scales(bboxes)
        mats = [self.warp_matrix(c, s) for c, s in zip(centers, scales)]
        return self._run([img] * len(mats), mats, centers, scales)

    def infer_frames(
            self, frames: Sequence[np.ndarray]) -> Tuple[np.ndarray,
                                                          np.ndarray]:
        """Keypoints of one instance per frame, the whole frame being its
        box (as ``inference_topdown`` without boxes).

        Args:
            frames (Sequence[np.ndarray]): BGR frames (H, W, 3), uint8.

        Returns:
            tuple: ``keypoints`` (N, K, 2) and ``scores`` (N, K).
        """
        mats, centers, scales = [], [], []
        for frame in frames:
            h, w = frame.shape[:2]
            cached = self._full_frame_cache.get((w, h))
            if cached is None:
                c, s = self.centers_scales(
                    np.array([[0, 0, w, h]], dtype=np.float32))
                cached = (self.warp_matrix(c[0], s[0]), c[0], s[0])
                self._full_frame_cache[(w, h)] = cached
            mats.append(cached[0])
            centers.append(cached[1])
            scales.append(cached[2])
        return self._run(frames, mats, np.array(centers).reshape(-1, 2),
                         np.array(scales).reshape(-1, 2))

    def _run(self, images: Sequence[np.ndarray], mats: Sequence[np.ndarray],
             centers: np.ndarray,
             scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        n = len(mats)
        k = self.num_keypoints
        if n == 0:
            return (np.zeros((0, k, 2), np.float32),
                    np.zeros((0, k), np.float32))
        step = self.batch_size or n
        kpts, scores = [], []
        for start in range(0, n, step):
            stop = min(n, start + step)
            buf = self._batch_buffer(stop - start)
            for i in range(start, stop):
                cv2.warpAffine(
                    images[i], mats[i], self.input_size,
                    dst=buf[i - start], flags=cv2.INTER_LINEAR)
            kp, sc = self.predict_crops(stop - start, centers[start:stop],
                                        scales[start:stop])
            kpts.append(kp)
            scores.append(sc)
        return np.concatenate(kpts), np.concatenate(scores)

    @torch.no_grad()
    def _inputs(self, n: int) -> Tensor:
        """The first ``n`` crops of the buffer as the model's normalised
        (n, 3, h, w) float input on its device."""
        self._batch_buffer(n)
        crops = self._buffer_tensor[:n].to(self.device, non_blocking=True)
        dp = self.model.data_preprocessor
        from mmpose.models.data_preprocessors import PoseDataPreprocessor
        if type(dp) is PoseDataPreprocessor and dp.pad_size_divisor == 1:
            # one pass: uint8 NHWC -> float NCHW (contiguous: the channels-
            # last strides of a permuted view make CPU convolutions several
            # times slower), the BGR->RGB swap folded into the channel copy
            w, h = self.input_size
            x = torch.empty((n, 3, h, w), dtype=torch.float32,
                            device=self.device)
            order = (2, 1, 0) if dp._channel_conversion else (0, 1, 2)
            for dst, src in enumerate(order):
                x[:, dst].copy_(crops[..., src])
            if dp._enable_normalize:
                x.sub_(dp.mean).div_(dp.std)
            return x
        inputs = crops.permute(0, 3, 1, 2).contiguous()
        return dp(dict(inputs=inputs, data_samples=[]), False)['inputs']

    @torch.no_grad()
    def predict_crops(self, n: int, centers: np.ndarray,
                      scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Run the model on the first ``n`` crops of the batch buffer.

        Args:
            n (int): Number of crops.
            centers (np.ndarray): (n, 2) box centers of the crops.
            scales (np.ndarray): (n, 2) box scales of the crops.

        Returns:
            tuple: ``keypoints`` (n, K, 2) in image pixels and ``scores``
            (n, K).
        """
        inputs = self._inputs(n)
        if not self.fast:
            return self._predict_mmpose(inputs, centers, scales)
        model = self.model
        flip = self.test_cfg.get('flip_test', False)
        batch = torch.cat([inputs, inputs.flip(-1)]) if flip else inputs
        heatmaps = model.head.forward(model.extract_feat(batch))
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]  # multi-stage heads: the last stage
        if flip:
            from mmpose.models.utils.tta import flip_heatmaps
            heatmaps, flipped = heatmaps[:n], heatmaps[n:]
            flipped = flip_heatmaps(
                flipped,
                flip_mode=self.test_cfg.get('flip_mode', 'heatmap'),
                flip_indices=self.flip_indices,
                shift_heatmap=self.test_cfg.get('shift_heatmap', False))
            heatmaps = (heatmaps + flipped) * 0.5
        if self.vector_decode:
            kpts, scores = decode_msra_heatmaps(heatmaps)
            kpts = kpts * kpts.new_tensor(model.head.decoder.scale_factor)
        else:
            preds = model.head.decode(heatmaps)
            kpts = torch.from_numpy(
                np.stack([p.keypoints[0] for p in preds])).to(heatmaps)
            scores = torch.from_numpy(
                np.stack([p.keypoint_scores[0] for p in preds])).to(heatmaps)
        center = torch.from_numpy(np.ascontiguousarray(
            centers, dtype=np.float32)).to(kpts)[:, None]
        scale = torch.from_numpy(np.ascontiguousarray(
            scales, dtype=np.float32)).to(kpts)[:, None]
        size = kpts.new_tensor(self.input_size)
        kpts = kpts / size * scale + center - 0.5 * scale
        return (kpts.float().cpu().numpy(), scores.float().cpu().numpy())

    def _predict_mmpose(self, inputs: Tensor, centers: np.ndarray,
                        scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """mmpose's own ``model.predict`` on the batch (any head)."""
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        samples = []
        for c, s in zip(centers, scales):
            sample = PoseDataSample(
                metainfo=dict(
                    input_center=np.asarray(c, np.float32),
                    input_scale=np.asarray(s, np.float32),
                    input_size=self.input_size,
                    flip_indices=self.flip_indices))
            box = np.concatenate([c - s / 2, c + s / 2])[None]
            sample.gt_instances = InstanceData(
                bboxes=box.astype(np.float32),
                bbox_scores=np.ones(1, np.float32))
            samples.append(sample)
        results = self.model.predict(inputs, samples)
        kpts = np.stack([
            np.asarray(r.pred_instances.keypoints[0], np.float32)
            for r in results
        ])
        scores = np.stack([
            np.asarray(r.pred_instances.keypoint_scores[0], np.float32)
            for r in results
        ])
        return kpts[..., :2], scores


class DetectorInferencer:
    """Single-image inference of an mmdet 3.x detector on BGR frames.

    The test pipeline is built once (image from an ndarray, annotation
    loading dropped), as mmdet's ``inference_detector`` does per call.

    Args:
        model (nn.Module): A detector from :func:`init_detector_model` (or
            mmdet's ``init_detector``).
    """

    def __init__(self, model: nn.Module) -> None:
        from mmcv.transforms import Compose
        from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
        import mmdet.datasets  # noqa: F401  registers the transforms

        self.model = model
        cfg = model.cfg
        pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        steps = []
        for i, t in enumerate(pipeline):
            ttype = t['type'] if isinstance(t['type'], str) else ''
            if 'LoadAnnotations' in ttype:
                continue
            if i == 0 and 'Load' in ttype:
                t = dict(type='LoadImageFromNDArray')
            steps.append(t)
        with DefaultScope.overwrite_default_scope('mmdet'):
            self.pipeline = Compose(
                [DET_TRANSFORMS.build(t) for t in steps])
        self.classes = tuple(model.dataset_meta['classes'])

    @torch.no_grad()
    def __call__(self,
                 img: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect objects in a BGR image.

        Returns:
            tuple: ``bboxes`` (M, 4) ``xyxy`` in image pixels, ``scores``
            (M,) and ``labels`` (M,) class indices into :attr:`classes`.
        """
        data = self.pipeline(dict(img=img, img_id=0))
        data['inputs'] = [data['inputs']]
        data['data_samples'] = [data['data_samples']]
        result = self.model.test_step(data)[0]
        inst = result.pred_instances
        return (inst.bboxes.float().cpu().numpy().reshape(-1, 4),
                inst.scores.float().cpu().numpy().reshape(-1),
                inst.labels.cpu().numpy().reshape(-1).astype(np.int64))
