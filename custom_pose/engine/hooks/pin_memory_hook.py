"""Pinned training batches only where they are copied to a GPU."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmpose.registry import HOOKS


def model_device_type(runner) -> str:
    """The device type (``'cuda'``, ``'cpu'``, ...) the runner's model trains
    on: that of its first parameter (or buffer); ``'cpu'`` for a model with
    neither."""
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    for tensor in model.parameters():
        return tensor.device.type
    for tensor in model.buffers():
        return tensor.device.type
    return 'cpu'


@HOOKS.register_module()
class CustomPosePinMemoryHook(Hook):
    """Keep the training data loader's ``pin_memory=True`` only where the
    model trains on a GPU.

    Pinned (page-locked) batches make the copies to a CUDA device
    asynchronous (the ``non_blocking`` copies of the data preprocessor). On
    a machine without a GPU they are of no use, and torch warns about
    ``pin_memory=True`` at every data-loader start. With this hook a config
    sets ``train_dataloader.pin_memory=True`` once, for the GPU, and the
    same config trains on the CPU without the warning: before training, the
    hook turns pinning off unless the model is on one of ``device_types``.

    mmengine's epoch-based loop starts the data loader after this hook has
    run. An iteration-based loop starts it when the loop is built, before
    any hook: there pinning stays as configured (on the CPU torch then
    skips it, with its warning).

    Args:
        device_types (Sequence[str]): Device types whose batches are
            pinned. Defaults to ``('cuda',)``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, device_types: Sequence[str] = ('cuda', )) -> None:
        if isinstance(device_types, str) or not all(
                isinstance(t, str) for t in device_types):
            raise ValueError('device_types must be a sequence of device type '
                             f"names such as ('cuda',), got {device_types!r}")
        self.device_types = tuple(device_types)

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        device = model_device_type(runner)
        if loader.pin_memory and device not in self.device_types:
            loader.pin_memory = False
            print_log(
                f'Training batches are not pinned: the model trains on '
                f'{device} (pinned for: {", ".join(self.device_types)}).',
                logger='current')
