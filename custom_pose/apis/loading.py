# Copyright (c) custom_pose contributors. All rights reserved.
"""Devices and top-down pose models for inference, loaded strictly.

:func:`init_pose_model` follows mmpose's ``init_model`` but loads the
checkpoint strictly (:mod:`custom_pose.utils.checkpoint`): a file that is
not a checkpoint, the weights of another model or a checkpoint trained for
another number of keypoints raise :class:`~custom_pose.errors.CheckpointError`
/ :class:`~custom_pose.errors.KeypointMismatchError` with a one-line message
(mmengine's loader only logs missing keys and goes on with random weights).
Only local files are read; nothing is downloaded.
"""
import copy
import warnings
from typing import Optional, Union

import torch
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from torch import nn

from custom_pose.errors import (InputError, KeypointMismatchError,
                                ModelConfigError, first_line)
from custom_pose.utils.checkpoint import (checkpoint_dataset_meta,
                                          load_checkpoint_file,
                                          load_pose_estimator_weights,
                                          model_num_keypoints)
from custom_pose.utils.config import load_config

__all__ = [
    'default_device', 'check_device', 'init_pose_model',
    'save_untrained_checkpoint'
]


def default_device() -> str:
    """``'cuda:0'`` where CUDA is available, else ``'cpu'``."""
    return 'cuda:0' if torch.cuda.is_available() else 'cpu'


def check_device(device: Optional[str]) -> str:
    """Validate a device string (``None`` -> :func:`default_device`).

    Raises:
        InputError: For a malformed device or CUDA where there is none.
    """
    if device is None:
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f'invalid --device {device!r}: {exc}') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise InputError(f'--device {device}: CUDA is not available '
                             'here; use --device cpu')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f'--device {device}: only {torch.cuda.device_count()} CUDA '
                'device(s) present')
    return str(dev)


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


def _build_pose_estimator(cfg: Config, config_name: str) -> nn.Module:
    """``cfg.model`` built in the config's default scope; a model that does
    not build is one :class:`ModelConfigError` line naming the config."""
    from mmpose.models.builder import build_pose_estimator
    init_default_scope(cfg.get('default_scope', 'mmpose') or 'mmpose')
    try:
        return build_pose_estimator(cfg.model)
    except Exception as exc:  # noqa: BLE001 - explained in one line
        raise ModelConfigError(
            f'cannot build the model of {config_name}: {first_line(exc)}'
        ) from None


def init_pose_model(config: Union[str, Config],
                    checkpoint: str,
                    device: Optional[str] = None,
                    cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a top-down pose estimator and load a checkpoint strictly.

    As mmpose's ``init_model``: the backbone's ``init_cfg`` is dropped (no
    pretrained download), SyncBN is reverted, and ``model.dataset_meta`` is
    the checkpoint's ``meta['dataset_meta']``, else the config's training
    dataset metainfo. ``model.cfg`` is the config. Keypoint counts the
    config leaves open (``num_keypoints = None``, ``configs/custom/``) are
    the checkpoint's.

    Args:
        config (str | Config): Model config.
        checkpoint (str): Local checkpoint file.
        device (str, optional): Defaults to :func:`default_device`.
        cfg_options (dict, optional): Overrides, checked and merged into
            the config (as ``--cfg-options``).

    Returns:
        nn.Module: The model in eval mode on ``device``.

    Raises:
        ModelConfigError: Bad config.
        CfgOptionsError: ``cfg_options`` that do not fit the config.
        CheckpointError: Bad checkpoint (see
            :func:`~custom_pose.utils.checkpoint.load_state_dict_strict`).
        KeypointMismatchError: Checkpoint, config and metainfo disagree on
            the number of keypoints.
    """
    import custom_pose  # noqa: F401  registers modules and safe globals
    from custom_pose.datasets import resolve_num_keypoints
    from mmpose.apis.inference import dataset_meta_from_config

    config_name = config if isinstance(config, str) else 'the config'
    cfg = copy.deepcopy(load_config(config, cfg_options, 'pose config'))
    if not isinstance(cfg.get('model'), dict):
        raise ModelConfigError(f'pose config {config_name} has no `model`')
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    ckpt = load_checkpoint_file(checkpoint)  # fail fast before building
    # a config that leaves the count to its dataset (num_keypoints = None,
    # configs/custom/): the checkpoint's metainfo says it, no dataset needed
    ckpt_k = (checkpoint_dataset_meta(ckpt) or {}).get('num_keypoints')
    if ckpt_k is not None:
        resolve_num_keypoints(cfg, int(ckpt_k))

    model = _build_pose_estimator(cfg, config_name)
    model = revert_sync_batchnorm(model)
    ckpt_meta = load_pose_estimator_weights(model, ckpt, checkpoint,
                                            config_name)
    model_k = model_num_keypoints(model)

    config_meta = None
    try:
        config_meta = dataset_meta_from_config(cfg, dataset_mode='train')
    except Exception:  # noqa: BLE001 - metainfo files that do not parse
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


def save_untrained_checkpoint(config: Union[str, Config],
                              out: str,
                              seed: int = 0,
                              cfg_options: Optional[dict] = None) -> str:
    """Save a config's model as training starts it, before the first step.

    The weights are those :class:`~mmengine.runner.Runner` gives the model
    with ``--seed seed`` (``model.init_weights()``, so a backbone's
    ``init_cfg`` is loaded as in training). ``tools/test.py`` evaluates the
    file like any checkpoint: the "before" of a training run.

    Args:
        config (str | Config): Model config (a loaded one has its
            ``num_keypoints`` resolved, as the tools load it).
        out (str): Checkpoint file to write.
        seed (int): Random seed of the initialisation. Defaults to 0.
        cfg_options (dict, optional): Overrides, as ``--cfg-options``.

    Returns:
        str: ``out``.

    Raises:
        ModelConfigError: The model does not build.
    """
    import custom_pose  # noqa: F401  registers modules
    from mmengine.runner import save_checkpoint, set_random_seed

    config_name = config if isinstance(config, str) else 'the config'
    cfg = load_config(config, cfg_options, 'pose config')
    set_random_seed(int(seed))
    model = _build_pose_estimator(cfg, config_name)
    model.init_weights()
    save_checkpoint(
        dict(state_dict=model.state_dict(), meta=dict(seed=int(seed))), out)
    return out
