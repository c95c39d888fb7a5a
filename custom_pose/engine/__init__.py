from . import hooks, optim_wrappers
from .hooks import *  # noqa: F401,F403
from .optim_wrappers import *  # noqa: F401,F403
from .runner import CheckpointSaveError, CustomPoseRunner, build_runner
from .work_dir_lock import WorkDirLock, WorkDirLockedError

__all__ = hooks.__all__ + optim_wrappers.__all__ + [
    'CustomPoseRunner', 'CheckpointSaveError', 'build_runner', 'WorkDirLock',
    'WorkDirLockedError'
]
