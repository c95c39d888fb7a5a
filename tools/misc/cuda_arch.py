#!/usr/bin/env python
"""Print this machine's CUDA GPU architectures as TORCH_CUDA_ARCH_LIST wants
them (``9.0``; several joined by ``;``), or nothing where torch sees no CUDA
GPU.

``tools/setup_env.sh`` (step 5) builds mmcv's CUDA kernels for these
architectures only. It runs before custom_pose is installed, so this needs
torch alone.
"""
import sys


def cuda_arch_list() -> str:
    """``'8.0;9.0'``-style architectures of the visible GPUs; ``''``
    without one."""
    import torch
    if not torch.cuda.is_available():
        return ''
    archs = {
        torch.cuda.get_device_capability(i)
        for i in range(torch.cuda.device_count())
    }
    return ';'.join(f'{major}.{minor}' for major, minor in sorted(archs))


if __name__ == '__main__':
    archs = cuda_arch_list()
    if archs:
        print(archs)
    sys.exit(0)
