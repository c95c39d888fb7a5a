"""Which mixed precision ``--amp`` trains with, from the device's abilities.

- CUDA GPU with native bfloat16 (compute capability 8.0 and newer: A100,
  H100/H200, RTX 30xx and later): bf16 autocast with
  :class:`~custom_pose.engine.optim_wrappers.CustomPoseAutocastOptimWrapper`.
  bf16 has fp32's exponent range, so there is no loss scaler, and no
  ``GradScaler`` check of the gradients (a host sync) in each step.
- Older CUDA GPUs: fp16 autocast with dynamic loss scaling (mmengine's
  ``AmpOptimWrapper``).
- No GPU: bf16 autocast on the CPU (mmengine's ``AmpOptimWrapper`` refuses
  to run without a GPU).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from custom_pose.errors import ModelConfigError

#: optimizer wrappers that --amp can replace
AMP_REPLACEABLE_WRAPPERS = ('OptimWrapper', 'AmpOptimWrapper',
                            'CustomPoseAutocastOptimWrapper')


@dataclass(frozen=True)
class DeviceCapabilities:
    """What the training device can do, for :func:`choose_amp`.

    Attributes:
        cuda (bool): A CUDA GPU trains.
        compute_capability (tuple[int, int]): The GPU's (major, minor);
            ``(0, 0)`` without one.
        name (str): The device's name, for messages.
    """

    cuda: bool
    compute_capability: Tuple[int, int] = (0, 0)
    name: str = 'cpu'

    @property
    def native_bf16(self) -> bool:
        """bf16 tensor-core math (Ampere, compute capability 8.0, on)."""
        return self.cuda and self.compute_capability >= (8, 0)

    @classmethod
    def detect(cls) -> 'DeviceCapabilities':
        """The current CUDA device, or the CPU."""
        if not torch.cuda.is_available():
            return cls(cuda=False)
        index = torch.cuda.current_device()
        return cls(
            cuda=True,
            compute_capability=tuple(
                torch.cuda.get_device_capability(index)),
            name=torch.cuda.get_device_name(index))


def choose_amp(caps: DeviceCapabilities) -> dict:
    """The ``optim_wrapper`` settings for mixed precision on ``caps``.

    Returns:
        dict: ``type`` and its arguments (``dtype``, ``loss_scale``).
    """
    if caps.cuda and not caps.native_bf16:
        return dict(type='AmpOptimWrapper', dtype='float16',
                    loss_scale='dynamic')
    return dict(type='CustomPoseAutocastOptimWrapper', dtype='bfloat16')


def configure_amp(cfg, caps: Optional[DeviceCapabilities] = None) -> str:
    """Turn ``cfg.optim_wrapper`` into the mixed-precision wrapper for the
    device (``tools/train.py --amp``).

    Args:
        cfg (mmengine.Config): The config; ``optim_wrapper`` is changed in
            place, its other settings (optimizer, clipping, ...) kept.
        caps (DeviceCapabilities, optional): Defaults to the detected ones.

    Returns:
        str: One line saying what was chosen and why.

    Raises:
        ModelConfigError: The config's wrapper is not one --amp can replace.
    """
    caps = DeviceCapabilities.detect() if caps is None else caps
    current = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if current not in AMP_REPLACEABLE_WRAPPERS:
        raise ModelConfigError(f'--amp: cannot turn {current} into a '
                         'mixed-precision wrapper; set it in the config')
    chosen = choose_amp(caps)
    if chosen['type'] == 'AmpOptimWrapper':
        # a loss scale set in the config wins over 'dynamic'
        chosen['loss_scale'] = cfg.optim_wrapper.get('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.update(chosen)
    if chosen['dtype'] == 'float16':
        why = (f'{caps.name} (compute capability '
               f'{caps.compute_capability[0]}.{caps.compute_capability[1]}) '
               'has no native bf16: fp16 with dynamic loss scaling')
    elif caps.cuda:
        why = f'{caps.name} has native bf16: bf16 autocast, no loss scaler'
    else:
        why = 'no CUDA GPU: bf16 autocast on the CPU'
    return f'--amp: {why} ({chosen["type"]}).'
