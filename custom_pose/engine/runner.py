# Copyright (c) custom_pose contributors. All rights reserved.
"""How our runs load, save and hold their work dir: :class:`CustomPoseRunner`.

``configs/_base_/default_runtime.py`` names it (``runner_type``), so every
Runner built from the package's configs (``tools/train.py``,
``tools/test.py``, the benchmark, ``mmengine.registry.RUNNERS.build``) is
one. Compared with mmengine's ``Runner`` it

- **loads strictly**: ``load_from``, ``tools/test.py``'s checkpoint and
  ``--resume`` go through the package's strict loader
  (:mod:`custom_pose.utils.checkpoint`): a checkpoint of another depth or
  keypoint count, a truncated or empty file, or a weights-only file given to
  ``--resume`` stops with one :class:`~custom_pose.errors.CheckpointError`
  line, where mmengine would log the size mismatches and go on with random
  weights;
- **saves plain metadata**: a checkpoint's ``meta`` (the dataset
  metainfo among it) holds lists and Python numbers, not numpy arrays;
- **saves atomically**: every checkpoint is written to a temporary file in
  its folder, flushed, ``fsync``-ed and renamed into place; a failed save
  (a full disk) removes the temporary file and stops with one
  :class:`CheckpointSaveError` line, the previous checkpoint intact. With
  :class:`~custom_pose.engine.hooks.CustomPoseCheckpointHook` (which it
  uses in place of mmengine's ``CheckpointHook``) superseded checkpoints are
  removed only after the new one and ``last_checkpoint`` are in place;
- **resumes from the newest good checkpoint of its own**: a resume without
  a path falls back, with a warning, from a latest checkpoint that cannot
  be read (truncated, empty, missing) to the newest readable one in the
  work dir, and does not follow a ``last_checkpoint`` naming a file outside
  it (:mod:`custom_pose.engine.resume`); a best checkpoint (no optimizer
  state) is resumed through the ``epoch_N.pth`` beside it, or refused; a
  resumed run with nothing left to train says so;
- **holds its work dir** while it trains
  (:class:`~custom_pose.engine.work_dir_lock.WorkDirLock`): a second
  training in the same work dir stops with one line naming the process that
  trains there; the lock of a killed run is taken over with a warning;
- **names bad data loader options**: a dataset, sampler or loader option
  its class rejects is one :class:`~custom_pose.errors.ModelConfigError`
  line when the loop builds its data loader.

:func:`check_datasets` builds the datasets once before the Runner exists,
so that a data error is the first thing a tool prints;
:func:`build_runner` builds the Runner for the tools, with one-line errors for
configs that do not build; :func:`run_training` turns Ctrl-C into one line
saying where to continue.
"""
import copy
import errno
import inspect
import logging
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.dist import broadcast_object_list, get_world_size, \
    is_main_process
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from custom_pose.errors import (CustomPoseError, RunInterrupted,
                                config_build_errors, first_line,
                                raised_by_ctrl_c)
from custom_pose.utils.atomic_io import (commit_temp_path,
                                         discard_temp_path,
                                         reserve_temp_path)
from custom_pose.utils.checkpoint import (is_remote, load_checkpoint_file,
                                          load_pose_estimator_weights,
                                          plain_metainfo)
from custom_pose.utils.dist import prepare_cpu_distributed
from .resume import (OptimizerStateMissingError, OutsideLastCheckpointError,
                     ResumeError, auto_resume, check_resumable,
                     finished_message, last_checkpoint,
                     matching_full_checkpoint, missing_training_state,
                     resume_candidates)
from .work_dir_lock import WorkDirLock, WorkDirLockedError, describe_holder

__all__ = [
    'CustomPoseRunner', 'CheckpointSaveError', 'configure_run',
    'check_datasets', 'build_runner', 'run_training', 'check_resumable',
    'resume_candidates', 'ResumeError', 'OptimizerStateMissingError',
    'OutsideLastCheckpointError'
]


class CheckpointSaveError(CustomPoseError, OSError):
    """A checkpoint could not be written (a full disk, a file size limit,
    permissions); the previous checkpoint is intact."""


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


class _PartialTrainingState(Exception):
    """Raised by :meth:`CustomPoseRunner.load_checkpoint` while resuming
    from a checkpoint without the optimizer state or the learning-rate
    schedule; :meth:`CustomPoseRunner.resume` handles it."""

    def __init__(self, checkpoint: Dict[str, Any], missing: List[str]):
        super().__init__(', '.join(missing))
        self.checkpoint = checkpoint
        self.missing = missing


@RUNNERS.register_module()
class CustomPoseRunner(Runner):
    """mmengine's ``Runner`` with strict loading, atomic checkpoints, a
    fallback to the newest good checkpoint and a work-dir lock (see the
    module docstring). Arguments are the ``Runner``'s; build it from a
    config with ``runner_type='CustomPoseRunner'``.

    Attributes:
        config_name (str): How messages name the config (its file).
    """

    def __init__(self, *args, **kwargs) -> None:
        self._resuming = False
        self._resume_wants = (True, True)  # optimizer, schedulers
        self._resumed_from: Optional[str] = None
        self._lock: Optional[WorkDirLock] = None
        super().__init__(*args, **kwargs)
        self.config_name: str = self.cfg.filename or 'the config'

    # ------------------------------------------------------------------
    # hooks
    # ------------------------------------------------------------------
    def register_default_hooks(self, hooks: Optional[Dict] = None) -> None:
        """mmengine's default hooks, with
        :class:`~custom_pose.engine.hooks.CustomPoseCheckpointHook` where
        the config names mmengine's ``CheckpointHook`` (or none)."""
        hooks = dict(hooks or {})
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook',
                                            interval=1))
        if isinstance(ckpt, dict) and ckpt.get('type') == 'CheckpointHook':
            hooks['checkpoint'] = {**ckpt, 'type': 'CustomPoseCheckpointHook'}
        super().register_default_hooks(hooks)

    # ------------------------------------------------------------------
    # loading
    # ------------------------------------------------------------------
    def load_checkpoint(self,
                        filename: str,
                        map_location: Any = 'cpu',
                        strict: bool = True,
                        revise_keys: Any = None) -> Dict[str, Any]:
        """Load ``filename`` strictly: every weight must fit the model, and
        the keypoint count of its ``meta`` must be the model's; when
        resuming, it must hold the training state. ``strict`` and
        ``revise_keys`` are ignored (``module.`` prefixes are removed).

        Raises:
            UnreadableCheckpointError: Missing, empty, truncated or not a
                torch file.
            CheckpointError: Does not fit the model, or cannot be resumed.
        """
        ckpt = load_checkpoint_file(filename, map_location, download=True)
        if self._resuming:
            check_resumable(ckpt, filename)
            missing = missing_training_state(ckpt, *self._resume_wants)
            if missing:  # before anything is changed
                raise _PartialTrainingState(ckpt, missing)
        self.call_hook('after_load_checkpoint', checkpoint=ckpt)
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        load_pose_estimator_weights(model, ckpt, filename, self.config_name)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return ckpt

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Any = 'default') -> None:
        """mmengine's ``resume`` through :meth:`load_checkpoint`, which then
        also requires the training state. A checkpoint without the optimizer
        state or the learning-rate schedule (a best checkpoint) is replaced,
        with a warning, by the ``epoch_N.pth`` of the same step beside it.

        Raises:
            OptimizerStateMissingError: No such ``epoch_N.pth``.
        """
        schedulers = resume_param_scheduler and \
            self.param_schedulers is not None
        self._resume_wants = (resume_optimizer, schedulers)
        self._resuming = True
        try:
            try:
                super().resume(filename, resume_optimizer,
                               resume_param_scheduler, map_location)
            except _PartialTrainingState as part:
                full = matching_full_checkpoint(filename, part.checkpoint)
                if full is None:
                    raise OptimizerStateMissingError(
                        filename, part.missing) from None
                self.logger.warning(
                    f'{filename} holds no optimizer state or learning-rate '
                    f'schedule (a best checkpoint): resuming from {full}, '
                    'saved at the same step, which holds them')
                try:
                    super().resume(full, resume_optimizer,
                                   resume_param_scheduler, map_location)
                except _PartialTrainingState as again:
                    raise OptimizerStateMissingError(
                        full, again.missing) from None
                filename = full
        finally:
            self._resuming = False
        self._resumed_from = filename

    def load_or_resume(self) -> None:
        """mmengine's, except that a resume without a path tries
        :func:`resume_candidates` in turn (a checkpoint that cannot be read
        is skipped with a warning; a ``last_checkpoint`` naming a file
        outside the work dir is not followed), and that a resumed run with
        nothing left to train says so."""
        self._resumed_from = None
        if self._has_loaded or not (self._resume and self._load_from is None):
            super().load_or_resume()
        else:
            auto_resume(self)
        message = None if self._resumed_from is None else finished_message(
            self.work_dir, self._train_loop, self._resumed_from)
        if message:
            self.logger.warning(message)

    # ------------------------------------------------------------------
    # data
    # ------------------------------------------------------------------
    @staticmethod
    def build_dataloader(dataloader: Any,
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> Any:
        """mmengine's ``build_dataloader``; a dataset, sampler or loader
        option that its class rejects (a ``TypeError``/``ValueError``/
        ``KeyError`` while building, e.g. ``split_ratio=1.0``) becomes one
        :class:`~custom_pose.errors.ModelConfigError` line naming the
        dataset."""
        if not isinstance(dataloader, dict):
            return Runner.build_dataloader(
                dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        dataset = dataloader.get('dataset')
        name = dataset.get('type', 'the dataset') if isinstance(
            dataset, dict) else type(dataset).__name__
        with config_build_errors(f'the data loader of {name}'):
            return Runner.build_dataloader(
                dataloader, seed=seed, diff_rank_seed=diff_rank_seed)

    # ------------------------------------------------------------------
    # saving
    # ------------------------------------------------------------------
    def call_hook(self, fn_name: str, **kwargs) -> None:
        """mmengine's ``call_hook``; before a checkpoint is saved (and after
        the hooks have added to it), its ``meta`` becomes plain Python types
        (:func:`~custom_pose.utils.checkpoint.plain_metainfo`: the dataset
        metainfo's numpy arrays as lists), so the file loads with
        ``torch.load(weights_only=True)`` anywhere."""
        super().call_hook(fn_name, **kwargs)
        checkpoint = kwargs.get('checkpoint')
        if fn_name == 'before_save_checkpoint' and isinstance(
                checkpoint, dict) and isinstance(checkpoint.get('meta'), dict):
            checkpoint['meta'] = plain_metainfo(checkpoint['meta'])

    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """mmengine's ``save_checkpoint``, written atomically: into a
        temporary file beside ``<out_dir>/<filename>`` that is ``fsync``-ed
        and renamed over it when complete.

        Raises:
            CheckpointSaveError: The file could not be written (a full disk,
                a file size limit, permissions); the temporary file is
                removed, an existing ``<out_dir>/<filename>`` is unchanged.
        """
        backend_args = kwargs.get('backend_args')
        local = not is_remote(out_dir) and (
            not backend_args or backend_args.get('backend') in (None, 'local'))
        if not local:  # object stores replace objects atomically anyway
            return super().save_checkpoint(out_dir, filename, *args, **kwargs)
        path = osp.join(out_dir, filename)
        tmp = None
        try:
            tmp = reserve_temp_path(path)
            super().save_checkpoint(
                osp.dirname(tmp), osp.basename(tmp), *args, **kwargs)
            commit_temp_path(tmp, path)
        except OSError as exc:
            discard_temp_path(tmp)
            raise CheckpointSaveError(self._save_error(path, exc)) from None
        except BaseException:
            discard_temp_path(tmp)
            raise

    def _save_error(self, path: str, exc: OSError) -> str:
        reason = exc.strerror or first_line(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            advice = 'free some space'
        elif exc.errno == errno.EFBIG:
            advice = 'raise the file size limit (ulimit -f)'
        else:
            advice = 'make the folder writable'
        previous = last_checkpoint(self.work_dir)
        kept = (f'{previous} is intact' if previous and osp.isfile(previous)
                else 'no earlier checkpoint was written')
        return (f'cannot write checkpoint {path}: {reason}; nothing was '
                f'replaced ({kept}). {advice.capitalize()} and continue with '
                '--resume')

    # ------------------------------------------------------------------
    # the work dir
    # ------------------------------------------------------------------
    def dump_config(self) -> None:
        """mmengine's, unless another training holds the work dir (the
        config written there is that training's)."""
        holder = WorkDirLock(self.work_dir).holder() if is_main_process() \
            else None
        if holder is not None:
            self.logger.info('config not written to the work dir: '
                             f'{describe_holder(holder)} trains there')
            return
        super().dump_config()

    def _lock_work_dir(self) -> None:
        """Take the work dir's lock (the main process; the others learn the
        outcome, so that all stop together)."""
        message = None
        if is_main_process():
            lock = WorkDirLock(self.work_dir)
            try:
                stale = lock.acquire()
            except WorkDirLockedError as exc:
                message = str(exc)
            else:
                self._lock = lock
                if stale:
                    self.logger.warning(
                        f'took over the lock of {self.work_dir} from a run '
                        f'that ended without releasing it: '
                        f'{describe_holder(stale)}')
        if get_world_size() > 1:
            shared = [message]
            broadcast_object_list(shared)
            message = shared[0]
        if message is not None:
            raise WorkDirLockedError(message)

    def train(self):
        """mmengine's ``train`` while holding the work dir."""
        self._lock_work_dir()
        try:
            return super().train()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def check_datasets(cfg: Config,
                   loaders: Sequence[str] = ('train_dataloader',
                                             'val_dataloader')) -> None:
    """Build the datasets of ``loaders`` once, before the Runner prints its
    environment and config: a data problem (a missing project, an
    unreadable label file, an empty selection) stops the tool with its one
    line near the top of the output instead of after some hundred lines.

    The datasets are built without their pipelines and dropped; the Runner
    builds its own. Loaders the config lacks (or sets to None) are skipped,
    and a dataset config shared by two loaders is built once.

    Raises:
        CustomPoseError: The dataset's own error (e.g.
            ``KeypointFormatError``), or a :class:`ModelConfigError` line for
            an option its class rejects.
    """
    from mmengine.registry import DATASETS, init_default_scope

    init_default_scope(cfg.get('default_scope', 'mmpose'))
    seen: List[Any] = []
    for key in loaders:
        loader = cfg.get(key)
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        if not isinstance(dataset, dict) or dataset in seen:
            continue
        seen.append(dataset)
        name = dataset.get('type', 'the dataset')
        dataset = copy.deepcopy(dataset)
        with config_build_errors(f'the data loader of {name}'):
            cls = DATASETS.get(name) if isinstance(name, str) else name
            if cls is not None and \
                    'pipeline' in inspect.signature(cls).parameters:
                dataset['pipeline'] = []  # data only; the Runner's own
            DATASETS.build(dataset)


#: Below this file-size limit (``ulimit -f``), DataLoader workers are not
#: used: torch shares each batch through a shared-memory file, which the
#: limit stops growing, and the main process then waits for it forever.
WORKER_FILE_SIZE_LIMIT = 1 << 30


def _load_in_main_process_under_file_size_limit(cfg: Config) -> List[str]:
    """Set ``num_workers=0`` on the dataloaders of ``cfg`` where a
    file-size limit below :data:`WORKER_FILE_SIZE_LIMIT` holds; returns
    ``[limit, loader, ...]`` (empty where nothing changed)."""
    import resource
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY or limit >= WORKER_FILE_SIZE_LIMIT:
        return []
    moved = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict) and loader.get('num_workers', 0) > 0:
            loader['num_workers'] = 0
            loader['persistent_workers'] = False
            loader.pop('prefetch_factor', None)
            moved.append(key)
    return [str(limit)] + moved if moved else []


def build_runner(cfg: Config, config_name: Optional[str] = None) -> Runner:
    """Build the Runner of ``cfg``: the config's ``runner_type`` (the
    package's configs name :class:`CustomPoseRunner`), else a
    :class:`CustomPoseRunner`.

    Args:
        cfg (Config): The config.
        config_name (str, optional): How messages name the config.
            Defaults to its file.

    Raises:
        ModelConfigError: If a part of the config does not build (a
            ``TypeError``/``ValueError``/``KeyError`` of a registered class,
            e.g. an unsupported ResNet depth), in one line.
    """
    name = config_name or cfg.filename or 'the config'
    moved = _load_in_main_process_under_file_size_limit(cfg)
    with config_build_errors(f'the run of {name}'):
        if 'runner_type' in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = CustomPoseRunner.from_cfg(cfg)
    if moved:
        runner.logger.warning(
            f'the file-size limit (ulimit -f: {moved[0]} bytes) stops '
            'DataLoader workers from handing batches over in shared memory '
            f'(they would wait forever): {", ".join(moved[1:])} load in the '
            'main process (num_workers=0); raise the limit to use workers')
    if isinstance(runner, CustomPoseRunner):
        runner.config_name = name
    else:
        runner.logger.log(
            logging.WARNING,
            f'runner_type {cfg.runner_type!r} is not a CustomPoseRunner: '
            'checkpoints are loaded and saved the mmengine way (no strict '
            'loading, no atomic saving, no work-dir lock)')
    return runner


def _interrupted_message(runner: Runner) -> str:
    latest = last_checkpoint(runner.work_dir)
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
