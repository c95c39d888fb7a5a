# Copyright (c) custom_pose contributors. All rights reserved.
"""Loading configs with one-line errors.

:func:`load_config` reads an mmengine config and turns the ways it can fail
into one :class:`~custom_pose.errors.ModelConfigError` line: a missing file
or ``_base_`` file, a syntax error (naming the file of the chain that has
it, and the line), an import that fails, a ``_base_`` chain that includes
itself, a ``.yaml`` file that holds Python. The loaded keys are checked
before anything is built (:func:`check_config_keys`): a top-level key that
is no key of mmengine's ``Runner`` but close to one (``trian_cfg``) is a
typo, and the keys of ``train_cfg`` / ``val_cfg`` / ``test_cfg`` must be
arguments of their loop class. A ``data_root`` (or ``ann_file``) that the
file sets at its top level over its ``_base_`` reaches the dataloaders
(:func:`apply_top_level_dataset_keys`), and ``--cfg-options`` are checked
and merged (:mod:`custom_pose.utils.cfg_options`, whose names are
importable from here too).
"""
import ast
import copy
import difflib
import os.path as osp
import re
from typing import (Any, Dict, Iterable, List, Optional, Set, Tuple,
                    Union)

from mmengine.config import Config

from custom_pose.errors import ModelConfigError, first_line
from .cfg_options import (SHARED_DATASET_KEYS, CfgOptionsAction,
                          CfgOptionsError, _accepted_keys, _parameters,
                          _retarget, _runner_arguments, check_cfg_options,
                          dataset_arguments, merge_cfg_options,
                          parse_cfg_value)

__all__ = [
    'CfgOptionsError', 'CfgOptionsAction', 'parse_cfg_value', 'load_config',
    'check_config_keys', 'check_cfg_options', 'merge_cfg_options',
    'dataset_arguments', 'apply_top_level_dataset_keys'
]


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def load_config(config: Union[str, Config],
                cfg_options: Optional[Dict[str, Any]] = None,
                what: str = 'config') -> Config:
    """Load an mmengine config file, check its keys
    (:func:`check_config_keys`), then check and merge ``cfg_options``.

    Args:
        config (str | Config): A config file, or a loaded ``Config`` (then
            copied before options are merged into it; its keys are not
            checked).
        cfg_options (dict, optional): ``{'a.b.c': value}`` overrides, as
            :class:`CfgOptionsAction` parses ``--cfg-options``.
        what (str): What the config is, for messages (``'pose config'``).

    Raises:
        ModelConfigError: If the file (or a ``_base_`` file) is missing or
            does not parse, its ``_base_`` chain includes itself, or a key
            does not fit.
        CfgOptionsError: If an option does not fit the config.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config) if cfg_options else config
    else:
        path = str(config)
        if not osp.isfile(path):
            raise ModelConfigError(f'{what} file not found: {path}')
        cycle = _base_cycle(path)
        if cycle:
            raise ModelConfigError(
                f'{what} {path}: its _base_ chain includes itself '
                f"({' -> '.join(cycle)}); remove {cycle[-1]} from the "
                f'_base_ list of {cycle[-2]}')
        try:
            cfg = Config.fromfile(path)
        except Exception as exc:  # noqa: BLE001 - explained in one line
            raise ModelConfigError(_explain(path, exc, what)) from None
        check_config_keys(cfg, path, what)
        apply_top_level_dataset_keys(cfg, path)
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    return cfg


def _base_cycle(path: str) -> Optional[List[str]]:
    """A ``_base_`` chain from ``path`` that comes back to a file on it
    (``[a.py, b.py, a.py]``), or ``None``."""

    def walk(file: str, chain: List[str]) -> Optional[List[str]]:
        if file in chain:
            return chain[chain.index(file):] + [file]
        tree = _parse(file)
        for base in _base_files(file, tree) if tree is not None else ():
            found = walk(base, chain + [file])
            if found:
                return found
        return None

    return walk(osp.abspath(path), [])


def _find_syntax_error(path: str,
                       seen: Optional[Set[str]] = None
                       ) -> Optional[Tuple[str, SyntaxError]]:
    """The first file of ``path``'s ``_base_`` chain that does not parse."""
    seen = set() if seen is None else seen
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except SyntaxError as exc:
        return path, exc
    except (OSError, UnicodeDecodeError):
        return None
    for base in _base_files(path, tree):
        found = _find_syntax_error(base, seen)
        if found:
            return found
    return None


#: Statements of a Python config (a YAML list ``- a`` parses as Python too).
_PYTHON_STATEMENTS = (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom,
                      ast.FunctionDef, ast.ClassDef)


def _explain_yaml(path: str, what: str) -> Optional[str]:
    """One line for a ``.yaml`` / ``.yml`` config that mmengine could not
    read as a mapping of keys to values; ``None`` if it is one."""
    import yaml
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError):
        return None
    except yaml.YAMLError as exc:
        data, problem = None, first_line(exc)
    else:
        problem = None
    if isinstance(data, dict):
        return None
    try:
        python = any(isinstance(node, _PYTHON_STATEMENTS)
                     for node in ast.parse(text, filename=path).body)
    except SyntaxError:
        python = False
    if python:
        return (f'{what} {path} holds Python code, but a .yaml file is read '
                'as YAML: rename it to '
                f'{osp.splitext(osp.basename(path))[0]}.py')
    return (f'{what} {path} is not a YAML mapping of keys to values'
            f'{f" ({problem})" if problem else ""}: write one key: value '
            'per line (or a Python config named .py)')


def _explain(path: str, exc: BaseException, what: str) -> str:
    """One line for an exception of ``Config.fromfile(path)``."""
    if path.lower().endswith(('.yaml', '.yml')):
        message = _explain_yaml(path, what)
        if message:
            return message
    if isinstance(exc, SyntaxError):
        found = _find_syntax_error(path)
        if found:
            where, err = found
            place = f'{what} {where}' if where == path else \
                f'{where} (a _base_ of {what} {path})'
            return (f'syntax error in {place}, line {err.lineno}: '
                    f'{err.msg}')
    if isinstance(exc, FileNotFoundError):
        missing = exc.filename
        if missing is None:
            match = re.search(r'"([^"]+)"|\'([^\']+)\'', str(exc))
            missing = match and (match.group(1) or match.group(2))
        if missing and osp.normpath(str(missing)) != osp.normpath(path):
            return (f'{what} {path}: the _base_ file '
                    f'{osp.normpath(str(missing))} does not exist')
    return f'cannot read {what} {path}: {first_line(exc)}'


# ---------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------
#: Top-level keys of mmengine / mmpose configs besides the arguments of
#: mmengine's ``Runner`` (what ``Runner.from_cfg`` reads).
_OTHER_KNOWN_KEYS = frozenset({
    'custom_imports', 'runner_type', 'compile', 'vis_backends',
    'backend_args', 'model_wrapper_cfg', 'find_unused_parameters',
    'strategy', 'codec', 'data_root', 'dataset_type', 'data_mode'
})

#: How close (``difflib`` ratio) an unknown key must be to a known one to
#: be taken for a typo of it: ``trian_cfg`` is (0.89), helper variables
#: such as ``train_pipeline`` or ``data_root`` are not.
_TYPO_CUTOFF = 0.8


def _known_keys() -> Set[str]:
    """The top-level keys mmengine's ``Runner.from_cfg`` reads (the
    arguments of ``Runner``), and :data:`_OTHER_KNOWN_KEYS`."""
    return (_runner_arguments() - {'cfg'}) | set(_OTHER_KNOWN_KEYS)


def _check_loop_keys(cfg: Config, path: str, what: str) -> None:
    """The keys of ``train_cfg`` / ``val_cfg`` / ``test_cfg`` must be
    arguments of the loop class they build."""
    for key in ('train_cfg', 'val_cfg', 'test_cfg'):
        node = cfg.get(key)
        if not isinstance(node, dict) or not node:
            continue
        if key == 'train_cfg' and 'type' not in node:
            from mmengine.runner import (EpochBasedTrainLoop,
                                         IterBasedTrainLoop)
            loop = EpochBasedTrainLoop if node.get('by_epoch', True) \
                else IterBasedTrainLoop
            accepted: Optional[Tuple[str, Set[str]]] = (
                loop.__name__,
                (_parameters(loop, ('runner', 'dataloader')) or set()) |
                {'by_epoch'})
        else:
            accepted = _accepted_keys([key], dict(node))
        if accepted is None:
            continue
        owner, valid = accepted
        for name in node:
            if name in valid:
                continue
            match = difflib.get_close_matches(str(name), sorted(valid), n=1)
            hint = f'; did you mean {match[0]}?' if match else ''
            raise ModelConfigError(
                f'{what} {path}: {key} has no key {name} ({owner} takes '
                f"{', '.join(sorted(valid))}){hint}")


def check_config_keys(cfg: Config, path: str, what: str = 'config') -> None:
    """Check the keys of a loaded config file before anything is built.

    A config defines helper variables freely (``codec``,
    ``train_pipeline``, ``data_root``, ...), so a top-level key is refused
    only if it is not a key mmengine's ``Runner.from_cfg`` reads (or another
    known one) but close to one: ``trian_cfg`` would be ignored and the run
    would go on with the default schedule. Keys starting with ``_`` are not
    checked. The keys of ``train_cfg``, ``val_cfg`` and ``test_cfg`` must
    be arguments of their loop (``EpochBasedTrainLoop``,
    ``IterBasedTrainLoop``, ``ValLoop``, ``TestLoop`` or the registered
    ``type``).

    Args:
        cfg (Config): The loaded config.
        path (str): Its file, for messages.
        what (str): What the config is, for messages.

    Raises:
        ModelConfigError: Naming the file, the key and the valid keys (or
            the one meant).
    """
    known = _known_keys()
    for key in cfg.keys():
        if not isinstance(key, str) or key in known or key.startswith('_'):
            continue
        match = difflib.get_close_matches(key, sorted(known), n=1,
                                          cutoff=_TYPO_CUTOFF)
        if match:
            raise ModelConfigError(
                f'{what} {path}: unknown key {key} — did you mean '
                f'{match[0]}? (a helper variable: name it _{key})')
    _check_loop_keys(cfg, path, what)


# ---------------------------------------------------------------------------
# top-level data_root / ann_file over a _base_
# ---------------------------------------------------------------------------
def _base_files(path: str, tree: ast.Module) -> List[str]:
    """The ``_base_`` files a config names (relative to its folder)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            names = [value] if isinstance(value, str) else list(value)
            return [
                osp.normpath(osp.join(osp.dirname(path), n)) for n in names
                if isinstance(n, str) and not n.startswith('mmpose::')
            ]
    return []


def _base_values(path: str, names: Iterable[str]) -> Dict[str, Set[str]]:
    """The string values the ``_base_`` files of ``path`` (all of its
    chain, not ``path`` itself) assign to ``names`` at their top level."""
    found: Dict[str, Set[str]] = {name: set() for name in names}
    seen: Set[str] = {path}
    todo = _config_bases(path)
    while todo:
        base = todo.pop()
        if base in seen:
            continue
        seen.add(base)
        tree = _parse(base)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(
                    node.value, ast.Constant) and isinstance(
                        node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in found:
                        found[target.id].add(node.value.value)
        todo += _base_files(base, tree)
    return found


def _parse(path: str) -> Optional[ast.Module]:
    try:
        with open(path, encoding='utf-8') as f:
            return ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def _config_bases(path: str) -> List[str]:
    tree = _parse(path)
    return _base_files(path, tree) if tree is not None else []


def apply_top_level_dataset_keys(cfg: Config, path: str) -> Config:
    """A config file that sets ``data_root`` (or ``ann_file``) at its top
    level over a ``_base_`` that defined it: the dataloaders of the base
    copied the base's string when it was read, so the new value is set
    where a dataloader's dataset still holds the base's.

    Returns:
        Config: ``cfg``, changed in place.
    """
    bases = _base_values(path, SHARED_DATASET_KEYS)
    for name, old_values in bases.items():
        new = cfg.get(name)
        if not isinstance(new, str):
            continue
        for old in old_values - {new}:
            _retarget(cfg, name, old, new, set())
    return cfg
