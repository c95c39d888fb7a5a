"""custom_pose: top-down pose estimation models and datasets for mmpose 1.x.

Importing the package registers everything it defines into mmpose's
registries (``mmpose.registry.MODELS``, ``DATASETS``, ``METRICS``, ``HOOKS``)
and allow-lists the types mmengine writes into checkpoints for torch's safe
``weights_only`` loading, so ``Runner.resume`` works with torch >= 2.6.
Configs reach it with::

    custom_imports = dict(imports=['custom_pose'], allow_failed_imports=False)
"""
from .utils.checkpoint import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'datasets', 'engine', 'evaluation', 'models']
