# Copyright (c) custom_pose contributors. All rights reserved.
"""mmengine's ``CheckpointHook`` that never leaves a run without a
resumable checkpoint."""
import glob
import os
import os.path as osp
import re
from typing import Any, List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmpose.registry import HOOKS

from custom_pose.utils.atomic_io import TEMP_SUFFIX, write_text_atomic
from custom_pose.utils.checkpoint import load_checkpoint_file
from ..resume import is_inside

__all__ = ['CustomPoseCheckpointHook', 'remove_stale_temp_files']


def remove_stale_temp_files(folder: str) -> List[str]:
    """Remove the temporary checkpoint files (``.<name>.pth.<random>.tmp``)
    an interrupted save left in ``folder``; call it only while holding the
    work dir (no other training writes there).

    Returns:
        list[str]: The removed files.
    """
    removed = []
    for path in glob.glob(osp.join(glob.escape(folder),
                                   f'.*.pth.*{TEMP_SUFFIX}')):
        try:
            os.remove(path)
            removed.append(path)
        except OSError:  # pragma: no cover - vanished or not ours
            pass
    return removed


class _RemoveLater:
    """A file backend that answers "no such file" to ``isfile`` / ``isdir``
    and whose ``remove`` / ``rmtree`` do nothing: every path asked about is
    noted instead, for the hook to remove (and log) itself."""

    def __init__(self, backend: Any, pending: List[str]) -> None:
        self._backend = backend
        self._pending = pending

    def _note(self, path: str) -> bool:
        if path not in self._pending:
            self._pending.append(path)
        return False

    def remove(self, path: str) -> None:
        self._note(path)

    isfile = isdir = _note
    rmtree = remove

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@HOOKS.register_module()
class CustomPoseCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) that keeps a resumable checkpoint
    through any interruption.

    mmengine's hook deletes the checkpoint that ``max_keep_ckpts`` retires
    (and the previous best checkpoint) *before* it writes the new one, and
    writes ``last_checkpoint`` in place afterwards: a kill or a full disk
    while ``epoch_2.pth`` is written leaves no resumable checkpoint. Here:

    1. the new checkpoint is written to a temporary file and renamed into
       place when complete (:meth:`CustomPoseRunner.save_checkpoint
       <custom_pose.engine.runner.CustomPoseRunner.save_checkpoint>`);
    2. then ``last_checkpoint`` is replaced atomically;
    3. only then are the retired checkpoint and the previous best
       checkpoint removed.

    A save that fails leaves the previous checkpoints and ``last_checkpoint``
    as they were.

    A run removes files of its own folder (``out_dir``, the work dir) only,
    and logs each removal with its path: a best checkpoint recorded in a
    resumed checkpoint (its message hub) that lies elsewhere (a copied work
    dir, a resume from another run's checkpoint) is not the run's best;
    where the work dir holds a file of the same name (its copy) that file
    is, else the run starts without a best file and leaves the other alone.

    Temporary files of an interrupted save are removed when the next
    training in the work dir starts. A run killed after it wrote a new best
    checkpoint but before it saved that fact into the latest
    checkpoint (mmengine saves it again after the best one) is resumed with
    that best checkpoint adopted (its score read from it), so it is neither
    forgotten nor left behind as a second best file.

    ``configs/_base_/default_runtime.py`` selects it;
    :class:`~custom_pose.engine.runner.CustomPoseRunner` also uses it where
    a config names mmengine's ``CheckpointHook``.
    """

    def before_train(self, runner) -> None:
        hub = runner.message_hub
        overflow: List[int] = []
        if self.max_keep_ckpts > 0 and 'keep_ckpt_ids' in hub.runtime_info:
            ids = list(hub.get_info('keep_ckpt_ids'))
            if len(ids) > self.max_keep_ckpts:  # removed below, and logged
                overflow = ids[:len(ids) - self.max_keep_ckpts]
                hub.update_info('keep_ckpt_ids', ids[len(overflow):])
        super().before_train(runner)
        if is_main_process():
            for step in overflow:
                self._remove(
                    runner,
                    self.file_backend.join_path(
                        self.out_dir, self.filename_tmpl.format(step)),
                    f'beyond max_keep_ckpts={self.max_keep_ckpts}')
        self._own_best_checkpoints(runner)
        if is_main_process() and osp.isdir(str(self.out_dir)):
            for path in remove_stale_temp_files(str(self.out_dir)):
                runner.logger.info(
                    f'removed {path}, left by an interrupted checkpoint save')
        if osp.isdir(str(self.out_dir)):
            self._adopt_newer_best(runner)

    def _own_best_checkpoints(self, runner) -> None:
        """Best checkpoints recorded by the resumed checkpoint that lie
        outside ``out_dir`` become their copies in ``out_dir`` (same name),
        else are forgotten (and kept)."""
        if not self.save_best:
            return
        single = len(self.key_indicators) == 1
        recorded = {None: self.best_ckpt_path} if single else dict(
            self.best_ckpt_path_dict)
        for key, path in recorded.items():
            if not path or is_inside(str(path), str(self.out_dir)):
                continue
            copy = self.file_backend.join_path(self.out_dir,
                                               osp.basename(str(path)))
            own = copy if self.file_backend.isfile(copy) else None
            if own:
                runner.logger.info(
                    f'the resumed checkpoint names {path} as the best '
                    f'checkpoint, outside {self.out_dir}: {own} (of the same '
                    'name) is taken as the best checkpoint instead')
            else:
                runner.logger.warning(
                    f'the resumed checkpoint names {path} as the best '
                    f'checkpoint, outside {self.out_dir}: it is not this '
                    'run\'s and is left alone; this run writes its best '
                    f'checkpoint to {self.out_dir} when it beats that score')
            hub_key = 'best_ckpt' if single else f'best_ckpt_{key}'
            if single:
                self.best_ckpt_path = own
            else:
                self.best_ckpt_path_dict[key] = own
            if own:
                runner.message_hub.update_info(hub_key, own)
            else:
                runner.message_hub.pop_info(hub_key, None)

    def _adopt_newer_best(self, runner) -> None:
        """On resume: a best checkpoint (one ``save_best`` key) written after
        the resumed checkpoint, by the validation that followed it, becomes
        the run's best; the one it superseded is removed."""
        step = runner.epoch if self.by_epoch else runner.iter  # 0: fresh
        if not step or not self.save_best or len(self.key_indicators) != 1:
            return
        prefix = f'best_{self.key_indicators[0]}_'.replace('/', '_')
        pattern = re.compile(
            re.escape(prefix) +
            re.escape(self.filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
        newest: Optional[str] = None
        newest_step = step - 1
        for name in os.listdir(str(self.out_dir)):
            match = pattern.match(name)
            path = osp.join(str(self.out_dir), name)
            if match and int(match.group(1)) > newest_step and \
                    path != self.best_ckpt_path:
                newest, newest_step = path, int(match.group(1))
        if newest is None:
            return
        try:
            info = load_checkpoint_file(newest)['message_hub']['runtime_info']
            score = info['best_score']
            recorded = info['best_ckpt']
        except Exception:  # noqa: BLE001 - not one of ours: leave it
            return
        if osp.basename(str(recorded)) != osp.basename(newest):
            return
        previous = self.best_ckpt_path
        self.best_ckpt_path = newest
        runner.message_hub.update_info('best_score', score)
        runner.message_hub.update_info('best_ckpt', newest)
        runner.logger.warning(
            f'adopted {newest} ({self.key_indicators[0]} {score:.4f}) as '
            'the best checkpoint: it was written after the resumed checkpoint'
            ' by a run that was interrupted')
        if previous and previous != newest and is_main_process():
            self._remove(runner, previous,
                         'superseded by the adopted best checkpoint')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine's order (retire, save, last_checkpoint) changed to save,
        # last_checkpoint, retire; the bookkeeping is mmengine's
        retired = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                retired = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir,
                                                     ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_text_atomic(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if retired is not None:
            self._remove(
                runner,
                self.file_backend.join_path(
                    self.out_dir, self.filename_tmpl.format(retired)),
                f'beyond max_keep_ckpts={self.max_keep_ckpts}')

    def _save_best_checkpoint(self, runner, metrics) -> None:
        # mmengine removes the previous best before saving the new one: note
        # its removals and carry them out once every save has succeeded
        backend, pending = self.file_backend, []
        self.file_backend = _RemoveLater(backend, pending)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        written = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                   *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in pending:
            if path not in written:  # replaced in place, not superseded
                self._remove(runner, path, 'superseded best checkpoint')

    def _remove(self, runner, path: str, why: str) -> None:
        """Remove ``path`` (a file or a deepspeed checkpoint folder) and log
        it with ``why``; a path outside ``out_dir`` is kept, and logged."""
        backend = self.file_backend
        backend = getattr(backend, '_backend', backend)  # not _RemoveLater
        if not is_inside(str(path), str(self.out_dir)):
            runner.logger.warning(
                f'kept {path} ({why}): it lies outside {self.out_dir}, the '
                'folder of this run')
            return
        if backend.isfile(path):
            backend.remove(path)
        elif backend.isdir(path):  # deepspeed checkpoints
            backend.rmtree(path)
        else:
            return
        runner.logger.info(f'removed {path} ({why})')
