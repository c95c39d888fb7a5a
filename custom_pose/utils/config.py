# Copyright (c) custom_pose contributors. All rights reserved.
"""Loading configs with one-line errors.

:func:`load_config` reads an mmengine config and turns the ways it can fail
into one :class:`~custom_pose.errors.ModelConfigError` line: a missing file
or ``_base_`` file, a syntax error (naming the file of the chain that has
it, and the line), an import that fails. A ``data_root`` (or ``ann_file``)
that the file sets at its top level over its ``_base_`` reaches the
dataloaders (:func:`~custom_pose.utils.cfg_options.apply_top_level_dataset_keys`),
and ``--cfg-options`` are checked and merged
(:mod:`custom_pose.utils.cfg_options`, whose names are importable from here
too).
"""
import ast
import copy
import os.path as osp
import re
from typing import Any, Dict, Optional, Set, Tuple, Union

from mmengine.config import Config

from custom_pose.errors import ModelConfigError, first_line
from .cfg_options import (CfgOptionsError, _base_files,
                          apply_top_level_dataset_keys, check_cfg_options,
                          dataset_arguments, merge_cfg_options)

__all__ = [
    'CfgOptionsError', 'load_config', 'check_cfg_options',
    'merge_cfg_options', 'dataset_arguments', 'apply_top_level_dataset_keys'
]


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def load_config(config: Union[str, Config],
                cfg_options: Optional[Dict[str, Any]] = None,
                what: str = 'config') -> Config:
    """Load an mmengine config file, then check and merge ``cfg_options``.

    Args:
        config (str | Config): A config file, or a loaded ``Config`` (then
            copied before options are merged into it).
        cfg_options (dict, optional): ``{'a.b.c': value}`` overrides, as
            mmengine's ``DictAction`` parses ``--cfg-options``.
        what (str): What the config is, for messages (``'pose config'``).

    Raises:
        ModelConfigError: If the file (or a ``_base_`` file) is missing or
            does not parse.
        CfgOptionsError: If an option does not fit the config.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config) if cfg_options else config
    else:
        path = str(config)
        if not osp.isfile(path):
            raise ModelConfigError(f'{what} file not found: {path}')
        try:
            cfg = Config.fromfile(path)
        except Exception as exc:  # noqa: BLE001 - explained in one line
            raise ModelConfigError(_explain(path, exc, what)) from None
        apply_top_level_dataset_keys(cfg, path)
    if cfg_options:
        merge_cfg_options(cfg, cfg_options)
    return cfg


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


def _explain(path: str, exc: BaseException, what: str) -> str:
    """One line for an exception of ``Config.fromfile(path)``."""
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
