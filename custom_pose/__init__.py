"""custom_pose: top-down pose estimation models and datasets for mmpose 1.x.

Importing the package registers everything it defines into mmpose's
registries (``mmpose.registry.MODELS``, ``DATASETS``, ``METRICS``, ``HOOKS``)
and allow-lists the types mmengine writes into checkpoints for torch's safe
``weights_only`` loading, so ``Runner.resume`` works with torch >= 2.6. It
also makes every scheme of mmengine's ``CheckpointLoader`` (local files,
URLs, ``torchvision://`` ...) load that way, with the hash in a downloaded
file's name and the CRC-32 checksums of zip files checked
(:mod:`custom_pose.utils.checkpoint_download`).
Configs reach it with::

    custom_imports = dict(imports=['custom_pose'], allow_failed_imports=False)
"""
import warnings

# mmengine 0.10 imports pkg_resources, which warns on every start: the tools
# and demos import custom_pose first, so this keeps their output clean
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)

from .utils.checkpoint import register_checkpoint_safe_globals  # noqa: E402
from .utils.checkpoint_download import register_safe_checkpoint_schemes  # noqa: E402
from .version import __version__  # noqa: E402

register_checkpoint_safe_globals()
register_safe_checkpoint_schemes()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__', 'datasets', 'engine', 'evaluation', 'models']
