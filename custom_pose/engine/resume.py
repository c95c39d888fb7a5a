# Copyright (c) custom_pose contributors. All rights reserved.
"""Which checkpoint a resumed run continues from, and which files a run may
call its own.

A run owns its work dir and nothing else: a path recorded by another run
(``last_checkpoint`` of a copied work dir, the best checkpoint named in the
message hub of a checkpoint from elsewhere) is neither followed nor deleted.

- :func:`is_inside`: whether a path lies inside a folder (symlinks
  resolved);
- :func:`last_checkpoint`, :func:`outside_last_checkpoint`,
  :func:`resume_candidates`: what ``resume=True`` without ``load_from``
  tries;
- :func:`check_resumable`, :func:`missing_training_state`,
  :func:`matching_full_checkpoint`: whether a checkpoint holds what a resume
  needs, and the ``epoch_N.pth`` that holds it for a best checkpoint;
- :func:`finished_message`: the line for a resumed run that has nothing
  left to train;
- :class:`ResumeError` (:class:`OptimizerStateMissingError`,
  :class:`OutsideLastCheckpointError`): a resume that cannot go on as
  asked.
"""
import os
import os.path as osp
import re
from typing import Any, Dict, List, Optional

from mmengine.runner import find_latest_checkpoint

from custom_pose.errors import CheckpointError, UnreadableCheckpointError
from custom_pose.utils.checkpoint import is_remote

__all__ = [
    'is_inside', 'last_checkpoint', 'outside_last_checkpoint',
    'resume_candidates', 'check_resumable', 'missing_training_state',
    'matching_full_checkpoint', 'ResumeError', 'OptimizerStateMissingError',
    'OutsideLastCheckpointError',
    'finished_message', 'auto_resume'
]

_RESUMABLE_NAME = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')
_STEP_IN_NAME = re.compile(r'(epoch|iter)_(\d+)\.pth$')


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies inside ``folder`` (at any depth), both with
    symlinks resolved; URLs compare as text."""
    path, folder = str(path), str(folder)
    if is_remote(path) or is_remote(folder):
        return path.startswith(folder.rstrip('/') + '/')
    real_folder = osp.realpath(folder)
    return osp.realpath(path).startswith(real_folder.rstrip(os.sep) + os.sep)


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint the work dir's ``last_checkpoint`` file names, None
    without one (and without mmengine's log line about it). It may lie
    outside the work dir (a copied work dir): see
    :func:`outside_last_checkpoint`."""
    if not osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        return None
    return find_latest_checkpoint(work_dir) or None


def outside_last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``last_checkpoint`` names where it lies outside the
    work dir (written by the run of another work dir, e.g. one that was
    copied), else None."""
    latest = last_checkpoint(work_dir)
    return latest if latest and not is_inside(latest, work_dir) else None


def resume_candidates(work_dir: str) -> List[str]:
    """Checkpoints a resume without a path tries, in order: the one
    ``last_checkpoint`` names (if it lies inside the work dir), then the work
    dir's ``epoch_N.pth`` / ``iter_N.pth`` files, the newest (by
    modification time) first."""
    latest = last_checkpoint(work_dir)
    if latest and not is_inside(latest, work_dir):
        latest = None
    others = []
    if osp.isdir(work_dir):
        for name in os.listdir(work_dir):
            path = osp.join(work_dir, name)
            if _RESUMABLE_NAME.match(name) and osp.isfile(path):
                others.append(path)
    others.sort(key=lambda p: (osp.getmtime(p), p), reverse=True)
    candidates = [latest] if latest else []
    seen = {osp.realpath(latest)} if latest else set()
    for path in others:
        if osp.realpath(path) not in seen:
            seen.add(osp.realpath(path))
            candidates.append(path)
    return candidates


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


def missing_training_state(ckpt: Dict[str, Any], optimizer: bool,
                           schedulers: bool) -> List[str]:
    """What of the optimizer state (``optimizer``) and the learning-rate
    schedule (``param_schedulers``) a resume asks for and ``ckpt`` lacks;
    mmengine's best checkpoints hold neither."""
    wanted = (('optimizer', optimizer), ('param_schedulers', schedulers))
    return [key for key, asked in wanted if asked and key not in ckpt]


def matching_full_checkpoint(path: str,
                             ckpt: Dict[str, Any]) -> Optional[str]:
    """The ``epoch_<N>.pth`` (or ``iter_<N>.pth``) beside ``path`` that was
    saved at the same step, N from the file's name (``best_…_epoch_N.pth``)
    or else from its ``meta.epoch``; None if there is none (or ``path`` is
    a URL)."""
    path = str(path)
    if is_remote(path):
        return None
    folder = osp.dirname(path)
    match = _STEP_IN_NAME.search(osp.basename(path))
    if match:
        names = [f'{match.group(1)}_{match.group(2)}.pth']
    else:
        meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
        names = [f'{unit}_{meta[unit]}.pth' for unit in ('epoch', 'iter')
                 if isinstance(meta.get(unit), int) and meta[unit] > 0]
    for name in names:
        full = osp.join(folder, name)
        if osp.isfile(full) and osp.realpath(full) != osp.realpath(path):
            return full
    return None


class ResumeError(CheckpointError):
    """A resume that cannot go on as asked; :attr:`reason` is the message
    without its advice, for a tool to add advice in its own words.

    Attributes:
        path (str): The checkpoint concerned.
        reason (str): What went wrong.
    """

    def __init__(self, path: str, reason: str, advice: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f'{reason}. {advice}')


class OptimizerStateMissingError(ResumeError):
    """A resume from a checkpoint without the optimizer state or the
    learning-rate schedule (a best checkpoint) and no ``epoch_N.pth`` of the
    same step beside it."""

    def __init__(self, path: str, missing: List[str]) -> None:
        what = ' and '.join({
            'optimizer': 'optimizer state',
            'param_schedulers': 'learning-rate schedule'
        }[key] for key in missing)
        super().__init__(
            path,
            f'checkpoint {path} holds no {what} (a best checkpoint?) and no '
            'epoch_N.pth of the same step lies beside it: resuming from it '
            'would restart the learning rate',
            'Resume from an epoch_N.pth checkpoint, or load its weights only '
            f'with load_from={path}, resume=False')


class OutsideLastCheckpointError(ResumeError):
    """A resume without a path in a work dir whose ``last_checkpoint`` names
    a file outside it and that holds no checkpoint of its own."""

    def __init__(self, path: str, work_dir: str) -> None:
        super().__init__(
            path,
            f'last_checkpoint in {work_dir} names {path}, outside the work '
            f'dir (a copied work dir?), and {work_dir} holds no epoch_N.pth '
            'or iter_N.pth of its own to resume from',
            'Name the checkpoint to resume from (load_from=), or train from '
            'the beginning (resume=False)')


def finished_message(work_dir: str, loop: Any, path: str) -> Optional[str]:
    """The line for a resumed training loop with nothing left to train,
    None if it has steps to go.

    Args:
        work_dir (str): The run's work dir.
        loop: The built train loop (an mmengine ``EpochBasedTrainLoop`` or
            ``IterBasedTrainLoop``; others are not judged).
        path (str): The checkpoint resumed from.
    """
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

    if isinstance(loop, EpochBasedTrainLoop):
        unit, step, total = 'epoch', loop.epoch, loop.max_epochs
        key = 'max_epochs'
    elif isinstance(loop, IterBasedTrainLoop):
        unit, step, total = 'iteration', loop.iter, loop.max_iters
        key = 'max_iters'
    else:
        return None
    if step < total:
        return None
    return (f'the run in {work_dir} already finished ({unit} {step} of '
            f'{total}, {path}); raise train_cfg.{key} to train further')


def auto_resume(runner: Any) -> None:
    """Resume ``runner`` (a :class:`~custom_pose.engine.runner.
    CustomPoseRunner` with ``resume=True`` and no ``load_from``) from the
    first of :func:`resume_candidates` that can be read; an unreadable one
    is skipped with a warning, a ``last_checkpoint`` naming a file outside
    the work dir is not followed (with a warning), and a work dir without
    checkpoints starts from the beginning.

    Raises:
        OutsideLastCheckpointError: ``last_checkpoint`` names a file
            outside the work dir and the work dir holds no checkpoint of its
            own.
        UnreadableCheckpointError: No candidate can be read.
    """
    work_dir = runner.work_dir
    candidates = resume_candidates(work_dir)
    outside = outside_last_checkpoint(work_dir)
    if outside and not candidates:
        raise OutsideLastCheckpointError(outside, work_dir)
    if outside:
        runner.logger.warning(
            f'last_checkpoint in {work_dir} names {outside}, outside the '
            'work dir (a copied work dir?): not followed; resuming from the '
            f'newest checkpoint in {work_dir} instead')
    if not candidates:
        runner.logger.info(f'--resume: no checkpoint in {work_dir} yet; '
                           'training starts from the beginning')
        return
    skipped: List[str] = []
    for path in candidates:
        try:
            runner.resume(path)
        except UnreadableCheckpointError as exc:
            # nothing was changed: the file is read before anything else
            skipped.append(f'{path} ({exc})')
            continue
        if skipped:
            runner.logger.warning(
                f'--resume: skipped {len(skipped)} unreadable checkpoint(s) '
                f'({"; ".join(skipped)}); resumed from {path}, the newest '
                'good checkpoint, instead')
        else:
            runner.logger.info(
                f'Auto resumed from the latest checkpoint {path}.')
        runner._has_loaded = True
        return
    raise UnreadableCheckpointError(
        f'--resume: no checkpoint in {work_dir} can be read: '
        + '; '.join(skipped) + '. Start over without --resume, or resume '
        'from another file with --resume PATH')
