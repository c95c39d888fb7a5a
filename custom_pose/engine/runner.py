# Copyright (c) custom_pose contributors. All rights reserved.
"""mmengine's ``Runner`` as ``tools/train.py`` and ``tools/test.py`` use it:
strict checkpoint loading, one-line errors, Ctrl-C that says how to go on.

:func:`build_runner` builds the Runner of a config and routes its
``load_checkpoint`` (``load_from``, ``tools/test.py``'s checkpoint) and
``resume`` (``--resume``) through the package's strict loader
(:mod:`custom_pose.utils.checkpoint`): a checkpoint of another depth or
keypoint count, a truncated or empty file, or a weights-only file given to
``--resume`` stops the run with one
:class:`~custom_pose.errors.CheckpointError` line, where mmengine would only
log the size mismatches and evaluate (or train) random weights.

The loader is installed on the Runner object, so it works with any config
and ``runner_type``; a registered Runner subclass selected by ``runner_type``
in ``configs/_base_/default_runtime.py`` would do the same for runners that
other code builds from the configs.
"""
import os.path as osp
from typing import Any, Callable, Dict, Optional

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner, find_latest_checkpoint

from custom_pose.errors import (CheckpointError, CustomPoseError,
                                ModelConfigError, RunInterrupted, first_line,
                                raised_by_ctrl_c)
from custom_pose.utils.checkpoint import (check_checkpoint_keypoints,
                                          load_checkpoint_file,
                                          load_state_dict_strict,
                                          model_num_keypoints)
from custom_pose.utils.dist import prepare_cpu_distributed

__all__ = [
    'configure_run', 'build_runner', 'use_strict_checkpoint_loading',
    'run_training', 'check_resumable'
]


def configure_run(cfg: Config,
                  config_path: str,
                  work_dir: Optional[str] = None,
                  launcher: str = 'none') -> Config:
    """Set the work dir (``work_dir`` > the config's > ``work_dirs/<config
    name>``) and the launcher; set up CPU DDP where there is no GPU
    (:func:`~custom_pose.utils.dist.prepare_cpu_distributed`).

    Returns:
        Config: ``cfg``, changed in place.
    """
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    cfg.launcher = launcher
    prepare_cpu_distributed(cfg, launcher)
    return cfg


def check_resumable(ckpt: Dict[str, Any], path: str) -> None:
    """A checkpoint ``Runner.resume`` can continue from: it must hold the
    training state (``meta.epoch``/``meta.iter`` and the message hub).

    Raises:
        CheckpointError: Naming what is missing and what to use instead.
    """
    meta = ckpt.get('meta')
    missing = [
        k for k, ok in (('meta.epoch', isinstance(meta, dict) and 'epoch' in
                         meta), ('meta.iter', isinstance(meta, dict)
                                 and 'iter' in meta),
                        ('message_hub', 'message_hub' in ckpt)) if not ok
    ]
    if missing:
        raise CheckpointError(
            f'checkpoint {path} cannot be resumed: it has no training state '
            f'({", ".join(missing)} missing; a weights-only file?). Start '
            f'from its weights with --cfg-options load_from={path} instead')


def use_strict_checkpoint_loading(runner: Runner,
                                  config_name: str = 'the config') -> Runner:
    """Route ``runner.load_checkpoint`` and ``runner.resume`` through the
    strict loader.

    ``load_checkpoint`` then reads the file with torch's safe loading
    (:func:`~custom_pose.utils.checkpoint.load_checkpoint_file`; URLs as
    mmengine does), checks the keypoint count of its ``meta`` against the
    model, and loads the weights only if every one fits
    (:func:`~custom_pose.utils.checkpoint.load_state_dict_strict`); its
    ``strict`` and ``revise_keys`` arguments are ignored (``module.``
    prefixes are removed). ``resume`` also requires the training state
    (:func:`check_resumable`); the rest of it is mmengine's.

    Args:
        runner (Runner): The Runner, changed in place.
        config_name (str): The config, for messages.

    Returns:
        Runner: ``runner``.
    """
    state = dict(resuming=False)
    mmengine_resume: Callable = runner.resume

    def load_checkpoint(filename: str,
                        map_location: Any = 'cpu',
                        strict: bool = True,
                        revise_keys: Any = None) -> Dict[str, Any]:
        ckpt = load_checkpoint_file(filename, map_location, download=True)
        if state['resuming']:
            check_resumable(ckpt, filename)
        runner.call_hook('after_load_checkpoint', checkpoint=ckpt)
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        num_keypoints = model_num_keypoints(model)
        check_checkpoint_keypoints(ckpt, filename, num_keypoints, config_name)
        load_state_dict_strict(model, ckpt, filename, num_keypoints,
                               config_name)
        runner._has_loaded = True
        runner.logger.info(f'Load checkpoint from {filename}')
        return ckpt

    def resume(filename: str, *args, **kwargs) -> None:
        state['resuming'] = True
        try:
            mmengine_resume(filename, *args, **kwargs)
        finally:
            state['resuming'] = False

    runner.load_checkpoint = load_checkpoint
    runner.resume = resume
    return runner


def build_runner(cfg: Config, config_name: str = 'the config') -> Runner:
    """Build the Runner of ``cfg`` (``runner_type`` when the config names
    one) with strict checkpoint loading.

    Raises:
        ModelConfigError: If a part of the config does not build (a
            ``TypeError``/``ValueError``/``KeyError`` of a registered class,
            e.g. an unsupported ResNet depth), in one line.
    """
    try:
        if 'runner_type' in cfg:
            from mmengine.registry import RUNNERS
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
    except CustomPoseError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelConfigError(
            f'cannot build the run of {config_name}: {first_line(exc)}'
        ) from None
    return use_strict_checkpoint_loading(runner, config_name)


def _interrupted_message(runner: Runner) -> str:
    latest = find_latest_checkpoint(runner.work_dir)
    where = f'from {latest}' if latest and osp.isfile(latest) else \
        'no checkpoint was written yet: it starts over'
    return (f'interrupted at iteration {runner.iter + 1}; continue with '
            f'--resume ({where})')


def run_training(runner: Runner) -> None:
    """``runner.train()``; Ctrl-C becomes
    :class:`~custom_pose.errors.RunInterrupted` (exit status 130) saying at
    which iteration, and that ``--resume`` continues from the latest
    checkpoint (also when a library turned the ``KeyboardInterrupt`` into
    another error, see :func:`~custom_pose.errors.raised_by_ctrl_c`)."""
    try:
        runner.train()
    except BaseException as exc:
        if raised_by_ctrl_c(exc):
            raise RunInterrupted(_interrupted_message(runner)) from None
        raise
