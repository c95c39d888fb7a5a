# Copyright (c) custom_pose contributors. All rights reserved.
"""What every command-line tool in ``tools/`` and ``demo/`` shares.

- :func:`one_line_errors` wraps a tool's ``main``: a
  :class:`~custom_pose.errors.CustomPoseError` (and the few foreign errors
  translated here: a failed download, an I/O error naming its file, a full
  disk) becomes one ``<prog>: error: <message>`` line on stderr and a
  non-zero exit; Ctrl-C exits with 130.
- :func:`fail` / :func:`print_error`: that line, by hand.
- :func:`check_input_file`, :func:`check_output_file`,
  :func:`check_output_dir`: path checks done before any long work.
- :func:`load_config`: a config file with ``--cfg-options`` checked and
  merged (:mod:`custom_pose.utils.config`), keypoint counts resolved from
  the data.
- ``add_*_arguments``: options several tools share, with one spelling and
  one help text: here the runner's (``config``, ``--work-dir``,
  ``--cfg-options``, ``--launcher``); the demos' device, drawing,
  inference-path, tracking/``--box-mode`` and backend options live in
  :mod:`custom_pose.utils.cli_video` and are re-exported from here.
"""
import argparse
import errno
import functools
import os
import os.path as osp
import re
import sys
import tempfile
from typing import (Any, Callable, Dict, NoReturn, Optional, Sequence,
                    TypeVar)

from custom_pose.errors import CustomPoseError, InputError, raised_by_ctrl_c
from custom_pose.utils.checkpoint import is_remote
from custom_pose.utils.cli_video import (add_backend_arguments,
                                         add_device_argument,
                                         add_drawing_arguments,
                                         add_inference_path_arguments,
                                         add_tracking_arguments,
                                         box_mode_choices, box_mode_name,
                                         check_backend_arguments,
                                         check_drawing_arguments,
                                         print_box_mode, tracking_options)
from custom_pose.utils.config import (CfgOptionsError, check_cfg_options,
                                      merge_cfg_options)

__all__ = [
    'CfgOptionsError', 'check_cfg_options', 'merge_cfg_options', 'fail',
    'print_error', 'one_line_errors', 'check_input_file',
    'check_output_file', 'check_output_dir', 'load_config',
    'add_runner_arguments', 'add_cfg_options_argument', 'set_local_rank',
    'add_device_argument', 'add_drawing_arguments',
    'add_inference_path_arguments', 'check_drawing_arguments',
    'add_tracking_arguments', 'tracking_options', 'box_mode_choices',
    'box_mode_name', 'print_box_mode', 'add_backend_arguments',
    'check_backend_arguments'
]

Main = TypeVar('Main', bound=Callable[..., Any])


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def print_error(prog: str, message: str) -> None:
    """Print ``prog: error: message`` (one line) to stderr."""
    text = ' '.join(str(message).split())  # one line, whatever it holds
    sys.stderr.write(f'{prog}: error: {text}\n')
    sys.stderr.flush()


def fail(prog: str, message: str, code: int = 1) -> NoReturn:
    """Print ``prog: error: message`` to stderr and exit with ``code``."""
    print_error(prog, message)
    sys.exit(code)


#: errno values of an I/O error that a user can fix (a path, a disk).
_USER_ERRNOS = {
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
    errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EEXIST, errno.ENAMETOOLONG
}


def _os_error_message(exc: OSError) -> Optional[str]:
    """One line for an I/O error a user can fix; ``None`` for others."""
    import urllib.error
    if isinstance(exc, urllib.error.URLError):
        return (f'could not download a file the config names ({exc.reason}). '
                'Offline, train without pretrained weights (--cfg-options '
                'model.backbone.init_cfg=None) or point init_cfg.checkpoint / '
                'load_from at a local file.')
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f' while writing {exc.filename}' if exc.filename else ''
        return f'no space left on the device{where}: free some space'
    if exc.errno in _USER_ERRNOS and exc.filename is not None:
        other = f' -> {exc.filename2}' if exc.filename2 else ''
        return f'{exc.filename}{other}: {exc.strerror}'
    return None


_WORKER_TRACEBACK = 'Original Traceback (most recent call last):'


def _error_message(exc: CustomPoseError) -> str:
    """The message of a project error; for one raised in a DataLoader
    worker (torch re-raises it with the worker's traceback as its message)
    the original message, from the traceback's last line."""
    text = str(exc)
    if _WORKER_TRACEBACK not in text:
        return text
    last = text.strip().splitlines()[-1]
    return re.sub(r'^[\w.]+: ', '', last, count=1)


def one_line_errors(prog: str) -> Callable[[Main], Main]:
    """Decorate a tool's ``main`` so that a bad input ends in one line.

    A :class:`~custom_pose.errors.CustomPoseError` prints its message (of
    one raised in a data-loader worker: the worker's message, not its
    traceback) and exits with its ``exit_code`` (130 for
    :class:`~custom_pose.errors.RunInterrupted`); Ctrl-C elsewhere (also
    when a library turned it into another error) prints ``interrupted``
    and exits with 130; a failed download and an I/O error a user can fix
    (a path that cannot be written, a full disk) print what and where.
    Anything else is a bug and keeps its traceback.

    Args:
        prog (str): The tool's name, e.g. ``'train.py'``.
    """

    def decorate(main: Main) -> Main:

        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except CustomPoseError as exc:
                fail(prog, _error_message(exc), exc.exit_code)
            except SystemExit:  # argparse's usage errors, fail()
                raise
            except BaseException as exc:
                if raised_by_ctrl_c(exc):
                    fail(prog, 'interrupted', 130)
                message = _os_error_message(exc) if isinstance(
                    exc, OSError) else None
                if message is None:
                    raise
                fail(prog, message)

        return run  # type: ignore[return-value]

    return decorate


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------
def check_input_file(path: str, what: str = 'input file') -> str:
    """Check that ``path`` is a local, readable, non-empty file.

    Args:
        path (str): The file.
        what (str): What it is, for messages (``'checkpoint file'``).

    Returns:
        str: ``path``.

    Raises:
        InputError: For a URL, a missing path, a folder, an unreadable or a
            0-byte file.
    """
    path = str(path)
    if is_remote(path):
        raise InputError(f'{what} {path}: only local files are accepted '
                         '(nothing is downloaded at run time)')
    if not osp.exists(path):
        raise InputError(f'{what} not found: {path}')
    if not osp.isfile(path):
        raise InputError(f'{what} is not a file: {path}')
    if not os.access(path, os.R_OK):
        raise InputError(f'{what} is not readable: {path} (permissions)')
    if osp.getsize(path) == 0:
        raise InputError(f'{what} is empty (0 bytes): {path}')
    return path


def _nearest_existing(path: str) -> str:
    """``path`` or its closest existing ancestor."""
    path = osp.abspath(path)
    while not osp.exists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _check_creatable_dir(path: str, what: str, target: str) -> None:
    """``path`` is a writable folder or can be created as one."""
    existing = _nearest_existing(path)
    if not osp.isdir(existing):
        raise InputError(
            f'{what} {target}: {existing} is a file, not a folder')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f'{what} {target}: cannot write in {existing} '
                         '(permissions or a read-only file system)')
    # os.access answers yes for root where no file can be made (e.g. in
    # /proc): make and remove one
    try:
        fd, probe = tempfile.mkstemp(prefix='.write-check-', dir=existing)
    except OSError as exc:
        raise InputError(f'{what} {target}: cannot write in {existing} '
                         f'({exc.strerror or exc})') from None
    os.close(fd)
    os.remove(probe)


def check_output_dir(path: str, what: str = 'output folder') -> str:
    """Check that folder ``path`` can be written (created if needed), before
    any long work.

    Raises:
        InputError: If ``path`` or a parent of it is a file, or the first
            existing folder on the way is not writable.
    """
    path = str(path)
    if osp.exists(path) and not osp.isdir(path):
        raise InputError(f'{what} {path} is a file, not a folder')
    _check_creatable_dir(path, what, path)
    return path


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file (links included)."""
    try:
        return osp.samefile(a, b)
    except OSError:  # one of them does not exist
        return osp.realpath(a) == osp.realpath(b)


def check_output_file(path: str,
                      what: str = 'output file',
                      inputs: Sequence[Optional[str]] = ()) -> str:
    """Check that file ``path`` can be written (its folder created if
    needed), before any long work.

    Args:
        path (str): The file to write.
        what (str): What it is, for messages (``'--out'``).
        inputs (Sequence[str]): Files the tool reads; ``path`` must be none
            of them (writing would destroy the input). ``None`` entries are
            ignored.

    Raises:
        InputError: If ``path`` is a folder, one of ``inputs``, an existing
            file that cannot be overwritten, or its folder cannot be created
            or written.
    """
    path = str(path)
    if osp.isdir(path):
        raise InputError(f'{what} {path} is a folder, not a file')
    for source in inputs:
        if source is not None and _same_file(path, str(source)):
            raise InputError(
                f'{what} {path} is the input file {source}: writing it would '
                'destroy the input; give another output file')
    if osp.exists(path) and not os.access(path, os.W_OK):
        raise InputError(f'{what} {path} exists and cannot be overwritten '
                         '(permissions)')
    _check_creatable_dir(osp.dirname(osp.abspath(path)), what, path)
    return path


# ---------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------
def load_config(path: str,
                cfg_options: Optional[Dict[str, Any]] = None,
                what: str = 'config'):
    """A config file with ``--cfg-options`` checked and merged, and its
    open keypoint counts (``num_keypoints = None``, a head's
    ``out_channels=None``) filled in from its datasets
    (:func:`~custom_pose.datasets.resolve_num_keypoints`).

    Raises:
        InputError: If the file is missing or unreadable.
        ModelConfigError: If it (or a ``_base_`` file) does not parse.
        CfgOptionsError: If an option does not fit it.
        DatasetNotFoundError, KeypointFormatError: If a dataset's keypoint
            names cannot be read.
        KeypointCountError: If a keypoint count given as a number is not
            the dataset's.
    """
    from custom_pose.datasets import resolve_num_keypoints
    from custom_pose.utils.config import load_config as _load
    check_input_file(path, f'{what} file')
    cfg = _load(path, cfg_options, what)
    resolve_num_keypoints(cfg)
    return cfg


# ---------------------------------------------------------------------------
# shared options
# ---------------------------------------------------------------------------
def add_runner_arguments(parser: argparse.ArgumentParser, config_help: str,
                         work_dir_help: str, cfg_options_example: str,
                         launcher_help: str = 'job launcher') -> None:
    """What ``tools/train.py`` and ``tools/test.py`` share: ``config``,
    ``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank``.
    """
    parser.add_argument('config', help=config_help)
    parser.add_argument(
        '--work-dir',
        help=f'{work_dir_help} (default: work_dirs/<config name>)')
    add_cfg_options_argument(parser, cfg_options_example)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help=launcher_help)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_cfg_options_argument(parser: argparse.ArgumentParser,
                             example: str) -> None:
    """``--cfg-options KEY=VALUE ...`` (mmengine's ``DictAction``)."""
    from mmengine.config import DictAction
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help=f'override config entries, e.g. {example}; data_root=DIR '
        'also moves the dataloaders that use the config\'s data_root')


def set_local_rank(args: argparse.Namespace) -> None:
    """``LOCAL_RANK`` from ``--local-rank`` unless the launcher set it."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
