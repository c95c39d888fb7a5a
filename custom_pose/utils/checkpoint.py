"""Checkpoint loading: torch's safe ``weights_only`` mode for mmengine's
files, and the one strict loader every entry point uses.

**Safe loading.** torch's ``weights_only=True`` loading, with the
allow-list of :mod:`custom_pose.utils.checkpoint_safety` (the non-tensor
types mmengine writes), which ``import custom_pose`` registers once.

**Strict loading.** :func:`load_checkpoint_file` reads a file with safe
loading and turns every way it can fail (missing, empty, truncated,
damaged, not a torch file, a refused object) into one
:class:`CheckpointError` line.  Remote names (URLs, ``torchvision://``)
go through :mod:`custom_pose.utils.checkpoint_download`, which
``import custom_pose`` also registers as mmengine's ``CheckpointLoader``
schemes, so mmengine's own loads are safe as well.
:func:`load_state_dict_strict` loads the weights only if every one of them
fits the model, and names the mismatch otherwise (another keypoint count,
another ResNet depth, missing or unexpected weights).  mmengine's loader only
logs such mismatches and goes on with random weights.  The demos
(:mod:`custom_pose.apis`), the backbones' ``Pretrained`` init,
``tools/test.py`` and ``load_from`` / ``--resume`` of ``tools/train.py``
(:class:`custom_pose.engine.runner.CustomPoseRunner`) all load
through these two functions.
"""
import errno
import os
import os.path as osp
import pickle
import re
import warnings
from collections import OrderedDict
from typing import (IO, Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import torch
from torch import Tensor, nn

from custom_pose.errors import (CheckpointError, KeypointMismatchError,
                                UnreadableCheckpointError, first_line)
from .checkpoint_safety import (checkpoint_safe_globals, plain_metainfo,
                                register_checkpoint_safe_globals,
                                restore_metainfo_arrays, zip_damage)

__all__ = [
    'checkpoint_safe_globals', 'register_checkpoint_safe_globals',
    'plain_metainfo', 'restore_metainfo_arrays', 'is_remote',
    'load_checkpoint_file', 'check_local_file', 'safe_torch_load',
    'EARLIER_CHECKPOINT', 'checkpoint_state_dict', 'load_state_dict_strict',
    'model_num_keypoints', 'checkpoint_dataset_meta',
    'check_checkpoint_keypoints', 'load_pose_estimator_weights'
]


# ---------------------------------------------------------------------------
# reading a checkpoint file
# ---------------------------------------------------------------------------
_REMOTE = re.compile(r'^[a-zA-Z][\w+.-]*://')


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL or a ``torchvision://``-style name."""
    return bool(_REMOTE.match(str(path)))


#: What a message about a damaged or truncated local file advises.
EARLIER_CHECKPOINT = 'use an earlier checkpoint'


def load_checkpoint_file(path: str,
                         map_location: Any = 'cpu',
                         *,
                         what: str = 'checkpoint',
                         download: bool = False) -> Dict[str, Any]:
    """Read a checkpoint with torch's safe ``weights_only`` loading.

    ``import custom_pose`` allow-lists the non-tensor types mmengine writes
    into checkpoints (see :func:`register_checkpoint_safe_globals`). A zip
    file whose CRC-32 checksums do not match its bytes is refused
    (:func:`~custom_pose.utils.checkpoint_safety.zip_damage`).

    Args:
        path (str): A local file; with ``download`` also a URL or a
            ``torchvision://`` / ``open-mmlab://`` name, fetched into torch
            hub's cache, its SHA-256 checked where its file name carries one
            (:mod:`custom_pose.utils.checkpoint_download`).
        map_location: As ``torch.load``. Defaults to ``'cpu'``.
        what (str): What the file is, for messages (e.g. ``'pretrained
            checkpoint'``).
        download (bool): Accept remote names. Their download errors
            (``OSError``) propagate for the caller to explain.

    Returns:
        dict: The checkpoint (a dict with ``state_dict`` and usually
        ``meta``, or a bare state dict).

    Raises:
        UnreadableCheckpointError: If the file is missing, empty, truncated,
            damaged or not a torch file.
        CheckpointError: If it is remote (without ``download``), cannot be
            read (permissions), holds objects safe loading refuses, does
            not match the hash in its name, or is not a dict.
    """
    path = str(path)
    if is_remote(path):
        if not download:
            raise CheckpointError(
                f'{what} {path}: only local files are accepted (nothing is '
                'downloaded at run time)')
        from .checkpoint_download import load_remote_checkpoint
        ckpt = load_remote_checkpoint(path, map_location, what=what)
    else:
        check_local_file(path, what)
        ckpt = safe_torch_load(path, map_location, what)
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f'{what} {path} holds a {type(ckpt).__name__}, not a dict with '
            'a state_dict')
    return ckpt


def check_local_file(path: str, what: str = 'checkpoint') -> None:
    """Raise :class:`UnreadableCheckpointError` unless ``path`` is a
    non-empty file."""
    if not osp.exists(path):
        raise UnreadableCheckpointError(f'{what} file not found: {path}')
    if not osp.isfile(path):
        raise UnreadableCheckpointError(f'{what} {path} is not a file')
    if os.path.getsize(path) == 0:
        raise UnreadableCheckpointError(
            f'{what} {path} is empty (0 bytes): a write that did not '
            f'finish? {EARLIER_CHECKPOINT.capitalize()}')


def safe_torch_load(source: Union[str, IO[bytes]],
                    map_location: Any = 'cpu',
                    what: str = 'checkpoint',
                    *,
                    name: Optional[str] = None,
                    fix: str = EARLIER_CHECKPOINT) -> Any:
    """``torch.load(weights_only=True)`` of an intact file, with one-line
    errors.

    Args:
        source (str | file): The file, or a seekable binary file object.
        map_location: As ``torch.load``.
        what (str): What the file is, for messages.
        name (str, optional): How messages name the file. Defaults to
            ``source``.
        fix (str): What to do about a damaged or truncated file.

    Raises:
        UnreadableCheckpointError: Damaged (CRC mismatch), truncated or
            not a torch file.
        CheckpointError: Unreadable (permissions) or holding an object
            safe loading refuses.
    """
    name = str(source) if name is None else name
    try:
        damage = zip_damage(source)
        if damage is not None:
            raise UnreadableCheckpointError(
                f'{what} {name} is damaged ({damage}): {fix}')
        with warnings.catch_warnings():  # e.g. about the pickle protocol
            warnings.simplefilter('ignore')
            return torch.load(source, map_location=map_location,
                              weights_only=True)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        raise _refused(exc, what, name) from None
    except OSError as exc:  # permissions, I/O errors
        if exc.errno == errno.EINVAL:  # torch seeks before a short file
            raise UnreadableCheckpointError(
                f'cannot load {what} {name}: the file is truncated or '
                f'corrupt (torch cannot find its end); {fix}') from None
        raise CheckpointError(
            f'cannot read {what} {name}: {exc.strerror or first_line(exc)}'
        ) from None
    except (RuntimeError, EOFError) as exc:
        text = str(exc)
        if 'central directory' in text or 'zip archive' in text or \
                isinstance(exc, EOFError):
            raise UnreadableCheckpointError(
                f'cannot load {what} {name}: the file is truncated or '
                f'corrupt (torch cannot read it to the end); {fix}') from None
        raise UnreadableCheckpointError(
            f'cannot load {what} {name}: not a torch checkpoint file '
            f'({_without_advice(first_line(exc))})') from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure
        raise UnreadableCheckpointError(
            f'cannot load {what} {name}: not a torch checkpoint file '
            f'({_without_advice(first_line(exc))})') from None


def _without_advice(text: str) -> str:
    """``text``, or a neutral phrase where it is torch's advice about
    ``weights_only`` (which the package never passes on)."""
    return 'safe unpickling refused it' if 'weights_only' in text else text


def _refused(exc: pickle.UnpicklingError, what: str,
             name: str) -> CheckpointError:
    """One line for a file torch's safe unpickler refused: the type it
    refused and the file, never torch's advice to load it unsafely."""
    text = str(exc)
    match = re.search(r'Unsupported global: GLOBAL ([\w.]+)', text)
    if match:
        return CheckpointError(
            f'cannot load {what} {name}: it holds a Python object of '
            f"type {match.group(1)}, which torch's safe loading "
            '(weights_only=True) refuses: custom_pose loads tensors, '
            "plain Python types, numpy arrays and mmengine's training "
            'logs only; save the weights with torch.save('
            "{'state_dict': model.state_dict()}) if the file is yours")
    reason = re.search(r'WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)',
                       text, re.S)
    reason = ' '.join(reason.group(1).split()) if reason else \
        first_line(exc)
    return UnreadableCheckpointError(
        f'cannot load {what} {name}: not a torch checkpoint file (safe '
        f'unpickling failed: {_without_advice(reason)})')


def checkpoint_state_dict(ckpt: Mapping[str, Any],
                          path: str,
                          prefix: Optional[str] = None,
                          what: str = 'checkpoint'
                          ) -> 'OrderedDict[str, Tensor]':
    """The model weights in a loaded checkpoint.

    ``module.`` prefixes (DistributedDataParallel) are removed; with
    ``prefix`` (e.g. ``'backbone.'``) only the weights under it are kept,
    without it.

    Raises:
        CheckpointError: If there is no state dict of tensors (under
            ``prefix``).
    """
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, Tensor)
            for k, v in state.items()):
        raise CheckpointError(
            f'{what} {path} has no state_dict of tensors (keys: '
            f'{sorted(map(str, ckpt))[:5]})')
    result: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, value in state.items():
        key = re.sub(r'^module\.', '', key)
        if prefix:
            if not key.startswith(prefix):
                continue
            key = key[len(prefix):]
        result[key] = value
    if not result:
        raise CheckpointError(
            f'{what} {path} has no weights under the prefix {prefix!r} '
            f'(its keys start like {_examples(state)})')
    return result


# ---------------------------------------------------------------------------
# strict loading
# ---------------------------------------------------------------------------
def _examples(keys, n: int = 3) -> str:
    keys = sorted(keys)
    more = f', ... {len(keys) - n} more' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


_SIZE_MISMATCH = re.compile(
    r'size mismatch for ([\w.]+): copying a param with shape '
    r'torch\.Size\(\[([\d, ]*)\]\) from checkpoint, the shape in current '
    r'model is torch\.Size\(\[([\d, ]*)\]\)')


def _shape(text: str) -> Tuple[int, ...]:
    return tuple(int(v) for v in text.split(',') if v.strip())


def _architecture_mismatch(model: nn.Module,
                           state: Mapping[str, Tensor]) -> Optional[str]:
    """``'backbone: a ResNet-50 in the file, a ResNet-18 in the model'``
    from the first submodule with a ``describe_weights`` classmethod whose
    description of the file's weights differs from its own (its
    ``describe()`` where it has one: a ResNet knows its depth even with
    fewer than 4 stages, whose blocks alone could be another depth's)."""
    for name, module in model.named_modules():
        describe = getattr(module, 'describe_weights', None)
        if not callable(describe):
            continue
        prefix = f'{name}.' if name else ''
        own = getattr(module, 'describe', None)
        ours = own() if callable(own) else describe(module.state_dict(), '')
        theirs = describe(state, prefix)
        if ours and theirs and ours != theirs:
            where = f'{name}: ' if name else ''
            return f'{where}a {theirs} in the file, a {ours} in the model'
    return None


def _keypoint_mismatch(mismatched: Sequence[Tuple[str, tuple, tuple]],
                       num_keypoints: int) -> Optional[Tuple[str, tuple,
                                                             int]]:
    """The first weight that differs from the model's only in the axis
    where the model has ``num_keypoints``: (key, file shape, file K)."""
    for key, theirs, ours in mismatched:
        if len(theirs) != len(ours):
            continue
        diff = [i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b]
        if len(diff) == 1 and ours[diff[0]] == num_keypoints:
            return key, theirs, theirs[diff[0]]
    return None


def load_state_dict_strict(model: nn.Module,
                           ckpt: Mapping[str, Any],
                           path: str,
                           num_keypoints: Optional[int] = None,
                           config_name: str = 'the config',
                           *,
                           target: Optional[str] = None,
                           prefix: Optional[str] = None,
                           ignore_unexpected: bool = False,
                           what: str = 'checkpoint',
                           hint: str = '') -> List[str]:
    """Load a checkpoint's weights into ``model``; every weight must fit.

    The model's own ``load_state_dict`` pre-hooks run (mmpose's estimators
    rename the heads of mmpose 0.x checkpoints that way); ``module.``
    prefixes are removed, ``data_preprocessor.*`` entries are ignored and
    missing ``num_batches_tracked`` counters are tolerated. Nothing is
    loaded when a shape or the architecture (a submodule's
    ``describe_weights``, e.g. the ResNet depth) differs; after missing or
    unexpected weights (found by the load itself, so that the hooks'
    renaming counts) the model is left partly loaded: discard it.

    Args:
        model (nn.Module): The model to load into.
        ckpt (dict): The loaded checkpoint (:func:`load_checkpoint_file`).
        path (str): Its file name, for messages.
        num_keypoints (int, optional): K of the model; a weight that differs
            from the model's only where the model has K is reported as a
            keypoint-count mismatch.
        config_name (str): The config, for messages.
        target (str, optional): How messages name the model. Defaults to
            ``'the model of <config_name>'``.
        prefix (str, optional): Load only the weights under this prefix
            (e.g. ``'backbone.'`` of a full-model checkpoint).
        ignore_unexpected (bool): Ignore (and return) weights the model does
            not have, e.g. torchvision's ``fc.*`` in a pretrained backbone.
        what (str): What the file is, for messages.
        hint (str): A sentence appended to the mismatch message.

    Returns:
        list[str]: The ignored unexpected keys.

    Raises:
        KeypointMismatchError: The final layer has another keypoint count.
        CheckpointError: Missing, unexpected or differently shaped weights.
    """
    target = target or f'the model of {config_name}'
    state = checkpoint_state_dict(ckpt, path, prefix, what)
    own = model.state_dict()
    mismatched = [(k, tuple(state[k].shape), tuple(own[k].shape))
                  for k in own if k in state and state[k].shape != own[k].shape]
    arch = _architecture_mismatch(model, state)
    if mismatched or arch:  # nothing loaded; the key lists are for messages
        missing, unexpected = [k for k in own if k not in state], \
            [k for k in state if k not in own]
    else:
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shapes of renamed (hooked) weights
            mismatched = [(m.group(1), _shape(m.group(2)), _shape(m.group(3)))
                          for m in _SIZE_MISMATCH.finditer(str(exc))]
            if not mismatched:
                raise CheckpointError(
                    f'incompatible {what} {path}: {first_line(exc)}'
                ) from None
            missing, unexpected = [], []
        else:
            missing, unexpected = result.missing_keys, result.unexpected_keys
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    unexpected = [k for k in unexpected
                  if not k.startswith('data_preprocessor.')]
    ignored: List[str] = []
    if ignore_unexpected:
        ignored, unexpected = unexpected, []
    if not (arch or mismatched or missing or unexpected):
        return ignored
    if num_keypoints is not None:
        found = _keypoint_mismatch(mismatched, num_keypoints)
        if found is not None:
            key, theirs, k = found
            raise KeypointMismatchError(
                f'keypoint-count mismatch: {what} {path} predicts {k} '
                f'keypoints ({key} has shape {list(theirs)}) but {target} '
                f'predicts {num_keypoints}')
    parts = [arch] if arch else []
    if missing:
        parts.append(f"{len(missing)} of the model's {len(own)} weights "
                     f'missing ({_examples(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected ({_examples(unexpected)})')
    if mismatched:
        key, theirs, ours = mismatched[0]
        parts.append(f'{len(mismatched)} of another shape (e.g. {key}: '
                     f'{list(theirs)} in the file, {list(ours)} in the model)')
    raise CheckpointError(
        f'incompatible {what} {path}: it does not fit {target}: ' +
        '; '.join(parts) + (f'. {hint}' if hint else ''))


# ---------------------------------------------------------------------------
# keypoint counts
# ---------------------------------------------------------------------------
def model_num_keypoints(model: nn.Module) -> Optional[int]:
    """K of a top-down estimator from its head (``out_channels``), or from
    the backbone for parameter-free multi-stage heads; ``None`` when
    unknown."""
    head = getattr(model, 'head', None)
    k = getattr(head, 'out_channels', None)
    if isinstance(k, int):
        return k
    if head is not None and not any(True for _ in head.parameters()):
        k = getattr(getattr(model, 'backbone', None), 'out_channels', None)
        if isinstance(k, int):
            return k
    return None


def checkpoint_dataset_meta(ckpt: Mapping[str, Any]) -> Optional[dict]:
    """The parsed ``meta['dataset_meta']`` of a checkpoint (raw mmpose
    ``dataset_info`` is parsed; colours, weights and sigmas stored as lists
    are numpy arrays again), or ``None``."""
    meta = ckpt.get('meta')
    meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
    if isinstance(meta, dict) and 'flip_indices' in meta:
        return restore_metainfo_arrays(meta)
    if isinstance(meta, dict):
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        try:  # raw dataset_info (keypoint_info, skeleton_info, ...)
            meta = parse_pose_metainfo(dict(meta))
        except Exception:  # noqa: BLE001 - not a metainfo we can read
            meta = None
    return meta if isinstance(meta, dict) else None


def check_checkpoint_keypoints(ckpt: Mapping[str, Any], path: str,
                               num_keypoints: Optional[int],
                               config_name: str) -> Optional[dict]:
    """Compare the keypoint count the checkpoint was trained with (its
    ``meta['dataset_meta']``) with the model's.

    Returns:
        dict | None: The checkpoint's parsed dataset metainfo.

    Raises:
        KeypointMismatchError: If the two differ.
    """
    meta = checkpoint_dataset_meta(ckpt)
    if meta is not None and num_keypoints is not None:
        ckpt_k = meta.get('num_keypoints')
        if ckpt_k is not None and int(ckpt_k) != num_keypoints:
            raise KeypointMismatchError(
                f'keypoint-count mismatch: checkpoint {path} was trained '
                f"with {int(ckpt_k)} keypoints (dataset "
                f"{meta.get('dataset_name', '?')!r}) but the model of "
                f'{config_name} predicts {num_keypoints}')
    return meta


def load_pose_estimator_weights(model: nn.Module, ckpt: Mapping[str, Any],
                                path: str,
                                config_name: str = 'the config'
                                ) -> Optional[dict]:
    """A pose estimator's checkpoint into ``model``: the keypoint count of
    its ``meta`` first (:func:`check_checkpoint_keypoints`), then every
    weight (:func:`load_state_dict_strict`).

    Returns:
        dict | None: The checkpoint's parsed dataset metainfo.
    """
    num_keypoints = model_num_keypoints(model)
    meta = check_checkpoint_keypoints(ckpt, path, num_keypoints, config_name)
    load_state_dict_strict(model, ckpt, path, num_keypoints, config_name)
    return meta
