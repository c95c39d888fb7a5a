"""mmengine's ``RuntimeInfoHook`` without a host sync per training step."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook
from mmengine.utils import apply_to

from mmpose.registry import HOOKS

DATA_BATCH = Optional[Union[dict, tuple, list]]


def logger_logs_now(runner, batch_idx: int) -> bool:
    """Whether the runner's ``LoggerHook`` writes a training log line after
    this iteration (its own rule: every ``interval`` batches and at the end
    of an epoch). False when there is no ``LoggerHook``."""
    for hook in runner.hooks:
        if isinstance(hook, LoggerHook):
            return (hook.every_n_inner_iters(batch_idx, hook.interval)
                    or hook.end_of_epoch(runner.train_dataloader, batch_idx))
    return False


@HOOKS.register_module()
class CustomPoseRuntimeInfoHook(RuntimeInfoHook):
    """``RuntimeInfoHook`` that keeps the step's outputs on the device until
    they are logged.

    mmengine's hook puts every output of every training step (``loss``,
    ``loss_kpt``, ``acc_pose``, ...) into the message hub at once, and the
    hub turns each into a Python float with ``.item()``: the host waits for
    the GPU every step. This hook holds the (detached) output tensors and
    pushes them into the hub, in order, on the iterations the
    ``LoggerHook`` logs, at the end of each epoch and before a checkpoint is
    written -- one device-to-host copy for all of them. The hub then holds
    exactly the values mmengine's hook would have put there, so logs,
    smoothing windows and checkpoints are unchanged.

    Use it in place of mmengine's hook:
    ``default_hooks = dict(runtime_info=dict(type='CustomPoseRuntimeInfoHook'))``.

    Args:
        max_pending (int): Also flush after this many buffered iterations
            (bounds the memory of a run without logger). Defaults to 1000.
    """

    def __init__(self, max_pending: int = 1000) -> None:
        if not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(
                f'max_pending must be a positive int, got {max_pending!r}')
        self.max_pending = max_pending
        self._pending: List[Dict[str, object]] = []

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        if outputs is not None:
            self._pending.append({
                k: v.detach() if isinstance(v, torch.Tensor) else v
                for k, v in outputs.items()
            })
        if (logger_logs_now(runner, batch_idx)
                or len(self._pending) >= self.max_pending):
            self.flush(runner)

    def flush(self, runner) -> int:
        """Push the buffered outputs into the message hub; returns how many
        iterations were pushed."""
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        tensors = [
            v for outputs in pending for v in outputs.values()
            if isinstance(v, torch.Tensor)
        ]
        for t in tensors:
            if t.numel() != 1:
                raise ValueError('training outputs must be scalars to be '
                                 f'logged, got a tensor of shape {t.shape}')
        values = iter([])
        if tensors:
            # one copy to the host for everything (float64 holds float32,
            # bf16 and fp16 values exactly)
            values = iter(torch.stack([t.reshape(()).double()
                                       for t in tensors]).tolist())
        for outputs in pending:
            for key, value in outputs.items():
                if isinstance(value, torch.Tensor):
                    host = next(values)
                    value = host if value.is_floating_point() else int(host)
                runner.message_hub.update_scalar(f'train/{key}', value)
        return len(pending)

    def after_train_epoch(self, runner) -> None:
        self.flush(runner)

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # the checkpoint's copy of the hub was taken before this hook runs
        if self.flush(runner) and 'message_hub' in checkpoint:
            checkpoint['message_hub'] = apply_to(
                runner.message_hub.state_dict(), lambda x: hasattr(x, 'cpu'),
                lambda x: x.cpu())
