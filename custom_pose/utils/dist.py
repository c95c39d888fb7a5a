"""Distributed training on CPU-only machines through mmengine's launchers."""
from mmengine.config import Config, ConfigDict

from custom_pose.errors import InputError

__all__ = ['prepare_cpu_distributed']


def prepare_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Let ``Runner`` run DDP across CPU processes (gloo) when there is no GPU.

    mmengine 0.10's launchers call ``torch.cuda.set_device(local_rank)`` and
    wrap the model with ``device_ids=[local_rank]``; both fail without a GPU.
    Here the process group is initialised with gloo from torchrun's
    environment (``env://``) before the Runner is built (mmengine then skips
    its own initialisation), and the model wrapper gets ``device_ids=None``,
    which is what ``DistributedDataParallel`` expects for CPU modules.

    Args:
        cfg (Config): The config; ``env_cfg.dist_cfg.backend`` and
            ``model_wrapper_cfg`` are set in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.

    Returns:
        bool: Whether CPU DDP was set up.

    Raises:
        InputError: For a launcher other than ``pytorch`` on a CPU machine.
    """
    import torch
    import torch.distributed as dist

    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise InputError(
            f'--launcher {launcher} needs GPUs; on a CPU-only machine use '
            'torchrun (tools/dist_train.sh, i.e. --launcher pytorch)')
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.device_ids = None
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', init_method='env://')
    return True
