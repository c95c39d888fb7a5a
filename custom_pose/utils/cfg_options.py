# Copyright (c) custom_pose contributors. All rights reserved.
"""Checking and merging ``--cfg-options``.

:func:`check_cfg_options` checks ``--cfg-options`` before they are merged.
mmengine merges any dotted key, so a typo such as ``modle.backbone.depth``
silently adds a new, unused entry and the run goes on with the old value,
and a mistyped last key such as ``train_dataloader.batch_sise=4`` ends in a
``TypeError`` from deep inside the DataLoader.  Every part of a key but the
last must exist; a new last key must be an argument of what the dict builds
(the registered class of its ``type``, the DataLoader, the training loop,
the optimizer wrapper), where that is known; values replacing numbers must
be numbers, and counts such as ``batch_size`` or ``max_epochs`` whole numbers
in range.

:func:`merge_cfg_options` checks and merges them, and makes ``data_root=X``
(and ``ann_file=Y``, in the configs of ``configs/custom/``) reach the
dataloaders: a config defines ``data_root`` once and its loaders copy the
string when the file is read, so the new value is also set on every
``*_dataloader.dataset.data_root`` (nested datasets too) that held the old
one. A top-level key that the config lacks but its datasets take
(``split=all``, ``data_prefix=images/``, ``format=coco``,
``category=zebra``) is set on every dataloader's dataset.

:class:`CfgOptionsAction` (:mod:`.cfg_options_parsing`, re-exported here)
parses ``--cfg-options KEY=VALUE ...``.
"""
import copy
import difflib
import inspect
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Set, Tuple, Union)

from mmengine.config import Config

from custom_pose.errors import CustomPoseError
from .cfg_options_parsing import CfgOptionsAction, parse_cfg_value

__all__ = [
    'CfgOptionsError', 'CfgOptionsAction', 'parse_cfg_value',
    'check_cfg_options', 'merge_cfg_options', 'dataset_arguments',
    'dataloader_datasets',
    'SHARED_DATASET_KEYS'
]


class CfgOptionsError(CustomPoseError, KeyError):
    """An ``--cfg-options`` key or value that does not fit the config."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


# ---------------------------------------------------------------------------
# --cfg-options
# ---------------------------------------------------------------------------
#: Counts that must be whole numbers, with their smallest value (None: any).
_WHOLE_NUMBERS: Dict[str, Optional[int]] = {
    'batch_size': 1,
    'num_workers': 0,
    'max_epochs': 1,
    'max_iters': 1,
    'val_interval': 1,
    'val_begin': 1,
    'max_keep_ckpts': None,
    'seed': None,
    'depth': 1,
    'num_stacks': 1,
    'num_keypoints': 1,
    'out_channels': 1,
    'in_channels': 1,
}


def _closest(name: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, sorted(map(str, candidates)), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ''


def _parameters(func: Callable, skip: Iterable[str] = ()) -> Optional[Set[str]]:
    """Keyword arguments ``func`` (a class: its ``__init__``) accepts;
    ``None`` if it takes ``**kwargs`` or has no readable signature."""
    try:
        sig = inspect.signature(func.__init__ if inspect.isclass(func)
                                else func)
    except (TypeError, ValueError):
        return None
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {
        p.name
        for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    } - {'self'} - set(skip)


#: Registries to search for a ``type``, and the key parts that say which
#: one a dict is built by (searched first).
_REGISTRIES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ('TRANSFORMS', ('pipeline', )),
    ('OPTIMIZERS', ('optimizer', )),
    ('OPTIM_WRAPPERS', ('optim_wrapper', )),
    ('PARAM_SCHEDULERS', ('param_scheduler', )),
    ('WEIGHT_INITIALIZERS', ('init_cfg', )),
    ('HOOKS', ('default_hooks', 'custom_hooks')),
    ('METRICS', ('val_evaluator', 'test_evaluator')),
    ('DATA_SAMPLERS', ('sampler', 'batch_sampler')),
    ('KEYPOINT_CODECS', ('codec', 'encoder', 'decoder')),
    ('DATASETS', ('dataset', 'datasets')),
    ('VISBACKENDS', ('vis_backends', )),
    ('VISUALIZERS', ('visualizer', )),
    ('LOG_PROCESSORS', ('log_processor', )),
    ('LOOPS', ('train_cfg', 'val_cfg', 'test_cfg')),
    ('FUNCTIONS', ('collate_fn', )),
    ('MODELS', ()),
)


def _registered(type_name: Any, parts: List[str]) -> Optional[Callable]:
    """The class or function a ``type`` at key ``parts`` names in mmpose's
    registries (the one the key suggests first, e.g. ``OPTIMIZERS`` for
    ``optim_wrapper.optimizer``)."""
    if not isinstance(type_name, str):
        return type_name if callable(type_name) else None
    from mmpose import registry
    hinted = [name for name, keys in _REGISTRIES
              if any(k in parts for k in keys)]
    for name in hinted + [name for name, _ in _REGISTRIES]:
        reg = getattr(registry, name, None)
        try:
            obj = reg.get(type_name) if reg is not None else None
        except Exception:  # noqa: BLE001 - a registry that cannot import
            obj = None
        if obj is not None:
            return obj
    return None


def _accepted_keys(parts: List[str],
                   node: Dict[str, Any]) -> Optional[Tuple[str, Set[str]]]:
    """What builds the dict at ``parts`` and the keys it accepts; ``None``
    where that is not known (anything goes)."""
    if 'type' in node:
        target = _registered(node['type'], parts)
        if target is None:
            return None
        keys = _parameters(target)
        if keys is None:
            return None
        return getattr(target, '__name__', str(node['type'])), \
            keys | {'type', '_scope_'}
    if len(parts) != 1:
        return None
    key = parts[0]
    if key.endswith('_dataloader'):
        from torch.utils.data import DataLoader
        keys = _parameters(DataLoader) or set()
        # mmengine's Runner.build_dataloader pops these before DataLoader()
        return 'DataLoader', keys | {
            'num_batch_per_epoch', 'disable_subprocess_warning'
        }
    if key == 'train_cfg':
        from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
        loop = EpochBasedTrainLoop if node.get('by_epoch', True) and \
            'max_iters' not in node else IterBasedTrainLoop
        skip = ('runner', 'dataloader')
        return loop.__name__, (_parameters(loop, skip) or set()) | {'by_epoch'}
    if key in ('val_cfg', 'test_cfg'):
        from mmengine.runner import TestLoop, ValLoop
        loop = ValLoop if key == 'val_cfg' else TestLoop
        return loop.__name__, _parameters(
            loop, ('runner', 'dataloader', 'evaluator')) or set()
    if key == 'optim_wrapper':
        from mmengine.optim import OptimWrapper
        return 'OptimWrapper', (_parameters(OptimWrapper) or set()) | {
            'type', 'optimizer', 'paramwise_cfg', 'constructor'
        }
    if key == 'auto_scale_lr':
        return 'auto_scale_lr', {'enable', 'base_batch_size'}
    if key == 'randomness':
        from mmengine.runner import set_random_seed
        return 'set_random_seed', _parameters(set_random_seed) or set()
    return None


def _check_value(key: str, parts: List[str], value: Any, old: Any) -> None:
    """Type and range of a value that replaces ``old``."""
    if old is not None and value is not None:
        if type(old) is bool and not isinstance(value, bool):
            raise CfgOptionsError(
                f'--cfg-options {key}={value!r}: expected True or False')
        if type(old) in (int, float) and (isinstance(value, bool) or
                                          not isinstance(value, (int, float))):
            raise CfgOptionsError(
                f'--cfg-options {key}={value!r}: expected a number like the '
                f'current value {old!r}')
    if parts[-1] in _WHOLE_NUMBERS and value is not None and (
            isinstance(old, int) or old is None):
        low = _WHOLE_NUMBERS[parts[-1]]
        if isinstance(value, bool) or not isinstance(value, int):
            raise CfgOptionsError(
                f'--cfg-options {key}={value!r}: expected a whole number' +
                (f' >= {low}' if low is not None else ''))
        if low is not None and value < low:
            raise CfgOptionsError(
                f'--cfg-options {key}={value}: must be >= {low}')


def _runner_arguments() -> Set[str]:
    from mmengine.runner import Runner
    return _parameters(Runner) or set()


def check_cfg_options(cfg: Union[Config, dict], options: Dict[str, Any]) -> None:
    """Check ``--cfg-options`` keys and values against ``cfg`` before they
    are merged (see the module docstring for the rules).

    Args:
        cfg (Config | dict): The loaded config.
        options (dict): ``{'a.b.c': value}`` as parsed by mmengine's
            ``DictAction``.

    Raises:
        CfgOptionsError: Naming the key, the part that does not fit and
            close matches, or the value and what is expected.
    """
    for key, value in options.items():
        node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
        parts = key.split('.')
        for depth, part in enumerate(parts):
            path = '.'.join(parts[:depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    raise CfgOptionsError(
                        f"--cfg-options {key}: '{path}' indexes a list of "
                        f'{len(node)} items; use an index 0..{len(node) - 1}')
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise CfgOptionsError(
                    f"--cfg-options {key}: '{'.'.join(parts[:depth])}' is "
                    f'{node!r}, not a dict, so it has no key {part!r}')
            if part not in node:
                if depth == 0 and part not in _runner_arguments() and \
                        part in dataset_arguments(cfg):
                    break  # split=all, data_prefix=images/: every dataset
                if last:
                    _check_new_key(key, parts, node, cfg)
                    _check_value(key, parts, value, None)
                    break
                if depth == 0 and part in _runner_arguments():
                    break  # a new Runner section, e.g. randomness.seed=0
                raise CfgOptionsError(
                    f"--cfg-options {key}: the config has no '{path}'"
                    f'{_closest(part, node.keys())}')
            node = node[part]
            if last:
                _check_value(key, parts, value, node)


def _check_new_key(key: str, parts: List[str], parent: dict,
                   cfg: Union[Config, dict, None] = None) -> None:
    """A last key the config does not have: it must be an argument of what
    the parent dict builds (where that is known)."""
    name = parts[-1]
    if len(parts) == 1:
        accepted: Optional[Tuple[str, Set[str]]] = (
            'the config', _runner_arguments())
        if name not in accepted[1]:
            known = list(parent) + sorted(accepted[1]) + sorted(
                dataset_arguments(cfg) if cfg is not None else ())
            raise CfgOptionsError(
                f"--cfg-options {key}: the config has no '{name}'"
                f'{_closest(name, known)}')
        return
    accepted = _accepted_keys(parts[:-1], parent)
    if accepted is None or name in accepted[1]:
        return
    owner, keys = accepted
    raise CfgOptionsError(
        f"--cfg-options {key}: '{'.'.join(parts[:-1])}' has no '{name}' and "
        f'{owner} takes no argument {name!r}'
        f'{_closest(name, set(keys) | set(parent))}')


#: Top-level keys a config defines once for its dataloaders' datasets.
SHARED_DATASET_KEYS: Tuple[str, ...] = ('data_root', 'ann_file')


def _dataloader_keys(cfg: Union[Config, dict]) -> List[str]:
    return [key for key in cfg.keys() if key.endswith('_dataloader')
            and isinstance(cfg[key], dict)]


def dataloader_datasets(cfg: Union[Config, dict]) -> Iterator[Tuple[str, dict]]:
    """``(key path, dataset config)`` of every dataloader's dataset and of
    the datasets it wraps (``dataset``, ``datasets``), outermost first,
    e.g. ``('val_dataloader.dataset', {...})``."""

    def walk(node: Any, path: str) -> Iterator[Tuple[str, dict]]:
        if isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                yield from walk(item, f'{path}.{i}')
        elif isinstance(node, dict):
            yield path, node
            for child in ('dataset', 'datasets'):
                if child in node:
                    yield from walk(node[child], f'{path}.{child}')

    for key in _dataloader_keys(cfg):
        yield from walk(cfg[key].get('dataset'), f'{key}.dataset')


def _dataset_parameters(dataset: dict) -> Set[str]:
    """The arguments the registered class of a dataset config takes."""
    target = _registered(dataset.get('type'), ['dataset'])
    return (_parameters(target) or set()) if target else set()


def dataset_arguments(cfg: Union[Config, dict]) -> Set[str]:
    """The arguments of the dataset classes the config's dataloaders build
    (the datasets they wrap included): the keys a top-level
    ``--cfg-options split=all`` can set on every dataset at once."""
    names: Set[str] = set()
    for _, dataset in dataloader_datasets(cfg):
        names |= _dataset_parameters(dataset)
    return names - {'type', 'pipeline', 'dataset', 'datasets'}


def _set_dataset_option(cfg: Config, key: str, value: Any,
                        explicit: Set[str]) -> None:
    """Set a top-level dataset option (``split``, ``data_prefix.img``) on
    each dataloader's datasets whose class takes it, unless an option sets
    it on that dataset itself. A folder given as ``data_prefix`` is
    ``dict(img=folder)``."""
    parts = key.split('.')
    if parts == ['data_prefix'] and isinstance(value, str):
        value = dict(img=value)
    for path, dataset in dataloader_datasets(cfg):
        if f'{path}.{key}' in explicit or \
                parts[0] not in _dataset_parameters(dataset):
            continue
        node = dataset
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)


def _retarget(cfg: Config, name: str, old: str, new: str,
              explicit: Set[str]) -> None:
    """Set ``name=new`` where it is ``old`` in the dataloaders' datasets
    (and the datasets they wrap), unless an option set it."""
    for path, dataset in dataloader_datasets(cfg):
        if dataset.get(name) == old and f'{path}.{name}' not in explicit:
            dataset[name] = new


def _replacing_dicts(cfg: Config, options: Dict[str, Any]
                     ) -> Dict[str, Any]:
    """``options`` with a dict value that lands on a value that is not a
    dict (``init_cfg=None``) marked to replace it (mmengine's ``_delete_``):
    mmengine would refuse to merge it."""
    out = dict(options)
    for key, value in options.items():
        node: Any = cfg
        for part in key.split('.'):
            node = node.get(part) if isinstance(node, (Config, dict)) \
                else None
        if isinstance(value, dict) and not isinstance(node, dict):
            out[key] = dict(value, _delete_=True)
    return out


def merge_cfg_options(cfg: Config, options: Dict[str, Any]) -> Config:
    """Check (:func:`check_cfg_options`) and merge ``--cfg-options``.

    ``data_root=X`` (and ``ann_file=Y``, :data:`SHARED_DATASET_KEYS`) also
    replaces the old top-level value wherever a dataloader's dataset (or a
    dataset it wraps) still holds it; a loader's own
    ``...dataset.data_root`` option wins. A top-level key the config lacks
    that is an argument of its datasets (:func:`dataset_arguments`:
    ``split=all``, ``data_prefix=images/``, ``format=coco``,
    ``category=zebra``) is set on every dataloader's dataset that takes
    it, again unless a loader's own option sets it. A dict replaces a value
    that is not a dict (``model.backbone.init_cfg="dict(type=...)"`` where
    the config has ``init_cfg=None``) and merges into one that is.

    Returns:
        Config: ``cfg``, changed in place.

    Raises:
        CfgOptionsError: If an option does not fit the config.
    """
    check_cfg_options(cfg, options)
    old = {name: cfg.get(name) for name in SHARED_DATASET_KEYS}
    settable = dataset_arguments(cfg) - _runner_arguments() - set(cfg.keys())
    dataset_options = {key: value for key, value in options.items()
                       if key.split('.')[0] in settable}
    cfg.merge_from_dict(_replacing_dicts(cfg, options))
    for name, old_value in old.items():
        if name in options and isinstance(old_value, str):
            _retarget(cfg, name, old_value, cfg[name], set(options))
    for key, value in dataset_options.items():
        _set_dataset_option(cfg, key, value, set(options))
    return cfg
