"""Mixed precision on any device, for ``tools/train.py --amp`` without a GPU."""
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmpose.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CustomPoseAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs forward passes under ``torch.autocast``.

    mmengine's ``AmpOptimWrapper`` refuses to run without a GPU/NPU. On a CPU,
    bfloat16 autocast (fast on CPUs with AMX/AVX-512 BF16) needs no loss
    scaling, since bf16 has fp32's exponent range, so the plain optimizer step
    applies: parameters, gradients and optimizer state stay fp32; only the
    autocast-eligible ops (convolutions, matmuls) run in ``dtype``.

    Args:
        dtype (str): ``'bfloat16'`` (default) or ``'float16'``.
        **kwargs: Arguments of :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs) -> None:
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(
                f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient accumulation context plus autocast on the model's device."""
        param = next(model.parameters(), None)
        device_type = 'cpu' if param is None else param.device.type
        with super().optim_context(model), torch.autocast(
                device_type=device_type, dtype=self.cast_dtype):
            yield
