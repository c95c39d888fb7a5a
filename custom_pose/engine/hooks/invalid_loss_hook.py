"""Stop training at the first non-finite loss, before a checkpoint is written."""
import math
from typing import Dict, Optional, Union

import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from custom_pose.errors import CustomPoseError
from .runtime_info_hook import logger_logs_now

DATA_BATCH = Optional[Union[dict, tuple, list]]


class NonFiniteLossError(CustomPoseError, FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


def _non_finite_loss_message(value: float, iteration: int, epoch: int,
                             batch: int, bad_terms: Dict[str, float]) -> str:
    return (
        f'Training loss is {value} at iteration {iteration} '
        f'(epoch {epoch}, batch {batch}); non-finite '
        f'terms: {bad_terms}. Stopped before writing a checkpoint of the '
        'diverged model. Lower the learning rate (optim_wrapper.optimizer.lr), '
        'add gradient clipping (optim_wrapper.clip_grad=dict(max_norm=...)) '
        'or check the data, then resume from the last good checkpoint with '
        '--resume.')


@HOOKS.register_module()
class CustomPoseInvalidLossHook(Hook):
    """Raise :class:`NonFiniteLossError` as soon as the loss is NaN or inf.

    mmengine's ``CheckInvalidLossHook`` checks only every ``interval``
    iterations and says neither where nor what; a diverged run would keep
    writing broken checkpoints meanwhile.  This hook checks every iteration
    (``priority='VERY_HIGH'``, so before ``CheckpointHook`` and the logger)
    and names the iteration, the epoch and the loss terms that went bad.

    Reading the loss on the host every iteration makes the host wait for
    the GPU. With ``defer_check=True`` the check itself stays on the device
    each iteration (the first bad iteration and its loss terms are recorded
    there), and the host reads the result only when the logger logs, at the
    end of each epoch and before any checkpoint is written: the error names
    the same iteration and terms, a few iterations later, and still no
    checkpoint of a diverged model is written.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
        defer_check (bool): Check every iteration on the device, read the
            result on the host only at logging iterations, epoch ends and
            checkpoints (``interval`` does not apply). Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1, defer_check: bool = False) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be a positive int, got {interval!r}')
        self.interval = interval
        self.defer_check = defer_check
        self._first_bad: Optional[torch.Tensor] = None
        self._bad_terms: Dict[str, torch.Tensor] = {}

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        if self.defer_check:
            self._record_on_device(runner, batch_idx, outputs)
            if logger_logs_now(runner, batch_idx):
                self.raise_if_recorded()
            return
        if outputs is None or not self.every_n_train_iters(runner, self.interval):
            return
        loss = outputs.get('loss')
        if loss is None:
            return
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if math.isfinite(value):
            return
        bad_terms = {
            k: float(v.detach()) if isinstance(v, torch.Tensor) else v
            for k, v in outputs.items()
            if isinstance(v, (torch.Tensor, float)) and not math.isfinite(float(v))
        }
        raise NonFiniteLossError(
            _non_finite_loss_message(value, runner.iter + 1, runner.epoch + 1,
                                     batch_idx + 1, bad_terms))

    def _record_on_device(self, runner, batch_idx: int,
                          outputs: Optional[dict]) -> None:
        """Remember, without a host sync, the first iteration whose loss is
        not finite and its output terms."""
        loss = None if outputs is None else outputs.get('loss')
        if not isinstance(loss, torch.Tensor):
            return
        loss = loss.detach()
        if self._first_bad is None:  # (iteration, epoch, batch), 0: none
            self._first_bad = torch.zeros(3, dtype=torch.int64,
                                          device=loss.device)
        first = (~torch.isfinite(loss)) & (self._first_bad[0] == 0)
        # Python ints go in as scalars: no host-to-device copy
        here = (runner.iter + 1, runner.epoch + 1, batch_idx + 1)
        self._first_bad = torch.stack([
            torch.where(first, value, self._first_bad[i])
            for i, value in enumerate(here)
        ])
        for k, v in outputs.items():
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                v = v.detach().reshape(()).float()
                old = self._bad_terms.get(k, torch.zeros_like(v))
                self._bad_terms[k] = torch.where(first, v, old)

    def raise_if_recorded(self) -> None:
        """Read the device record (one host sync) and raise for a recorded
        non-finite loss."""
        if self._first_bad is None:
            return
        iteration, epoch, batch = self._first_bad.tolist()
        if iteration == 0:
            return
        terms = {k: v.item() for k, v in self._bad_terms.items()}
        bad_terms = {k: v for k, v in terms.items() if not math.isfinite(v)}
        raise NonFiniteLossError(
            _non_finite_loss_message(terms.get('loss', math.nan), iteration,
                                     epoch, batch, bad_terms))

    def after_train_epoch(self, runner) -> None:
        if self.defer_check:
            self.raise_if_recorded()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.defer_check:
            self.raise_if_recorded()

    def after_train(self, runner) -> None:
        if self.defer_check:
            self.raise_if_recorded()
