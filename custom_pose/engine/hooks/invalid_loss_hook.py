"""Stop training at the first non-finite loss, before a checkpoint is written."""
import math
from typing import Optional, Union

import torch
from mmengine.hooks import Hook
from mmpose.registry import HOOKS

from custom_pose.errors import CustomPoseError

DATA_BATCH = Optional[Union[dict, tuple, list]]


class NonFiniteLossError(CustomPoseError, FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


@HOOKS.register_module()
class CustomPoseInvalidLossHook(Hook):
    """Raise :class:`NonFiniteLossError` as soon as the loss is NaN or inf.

    mmengine's ``CheckInvalidLossHook`` checks only every ``interval``
    iterations and says neither where nor what; a diverged run would keep
    writing broken checkpoints meanwhile.  This hook checks every iteration
    (``priority='VERY_HIGH'``, so before ``CheckpointHook`` and the logger)
    and names the iteration, the epoch and the loss terms that went bad.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be a positive int, got {interval!r}')
        self.interval = interval

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
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
            f'Training loss is {value} at iteration {runner.iter + 1} '
            f'(epoch {runner.epoch + 1}, batch {batch_idx + 1}); non-finite '
            f'terms: {bad_terms}. Stopped before writing a checkpoint of the '
            'diverged model. Lower the learning rate (optim_wrapper.optimizer.lr), '
            'add gradient clipping (optim_wrapper.clip_grad=dict(max_norm=...)) '
            'or check the data, then resume from the last good checkpoint with '
            '--resume.')
