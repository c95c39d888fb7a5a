# Copyright (c) custom_pose contributors. All rights reserved.
"""What every command-line tool in ``tools/`` and ``demo/`` shares.

- :func:`one_line_errors` wraps a tool's ``main``: a
  :class:`~custom_pose.errors.CustomPoseError` (and the few foreign errors
  translated here: a failed download, an I/O error naming its file, a full
  disk) becomes one ``<prog>: error: <message>`` line on stderr and a
  non-zero exit; Ctrl-C exits with 130.
- :func:`fail` / :func:`print_error`: that line, by hand.
- :func:`check_input_file`, :func:`check_output_file`,
  :func:`check_output_dir`, :func:`check_outputs`: path checks done before
  any long work (:mod:`custom_pose.utils.cli_paths`, re-exported here).
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
import re
import sys
from typing import Any, Callable, Dict, NoReturn, Optional, TypeVar

from custom_pose.errors import CustomPoseError, raised_by_ctrl_c
from custom_pose.utils.cli_paths import (IMAGE, JSON_REPORT, Folder,
                                         OutputKind, add_overwrite_argument,
                                         check_input_file, check_output_dir,
                                         check_output_file, check_outputs,
                                         config_inputs, is_annotation_json,
                                         is_json_report, read_small_json)
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
    'check_output_file', 'check_output_dir', 'check_outputs', 'OutputKind',
    'Folder', 'config_inputs', 'add_overwrite_argument', 'read_small_json',
    'is_annotation_json', 'is_json_report', 'JSON_REPORT', 'IMAGE',
    'load_config',
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
    errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EEXIST,
    errno.ENAMETOOLONG, errno.EFBIG, errno.EMFILE, errno.ENFILE
}


def _os_error_message(exc: OSError) -> Optional[str]:
    """One line for an I/O error a user can fix; ``None`` for others."""
    import urllib.error
    if isinstance(exc, urllib.error.URLError):
        return (f'could not download a file the config names ({exc.reason}). '
                'Offline, train without pretrained weights (--cfg-options '
                'model.backbone.init_cfg=None) or point init_cfg.checkpoint / '
                'load_from at a local file.')
    where = f' while writing {exc.filename}' if exc.filename else ''
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f'no space left on the device{where}: free some space'
    if exc.errno == errno.EFBIG:
        return (f'file too large for the file-size limit (ulimit -f){where}: '
                'raise the limit or write a smaller file')
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        at = f' at {exc.filename}' if exc.filename else ''
        return (f'too many open files (ulimit -n){at}: raise the limit or '
                'close other programs')
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
    (a path that cannot be written, a full disk, a file-size limit) print
    what and where.
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
    """``--cfg-options KEY=VALUE ...``
    (:class:`~custom_pose.utils.cfg_options.CfgOptionsAction`: values as
    mmengine's ``DictAction`` reads them, inner spaces kept; a pair without
    ``=`` is a usage error)."""
    from custom_pose.utils.cfg_options import CfgOptionsAction
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        metavar='KEY=VALUE',
        help=f'override config entries, e.g. {example}; data_root=DIR '
        'also moves the dataloaders that use the config\'s data_root')


def set_local_rank(args: argparse.Namespace) -> None:
    """``LOCAL_RANK`` from ``--local-rank`` unless the launcher set it."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
