from .checkpoint import checkpoint_safe_globals, register_checkpoint_safe_globals
from .dist import prepare_cpu_distributed

__all__ = [
    'checkpoint_safe_globals', 'register_checkpoint_safe_globals',
    'prepare_cpu_distributed'
]
