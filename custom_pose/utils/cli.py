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
  one help text.
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


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device`` (default: ``cuda:0`` if available, else ``cpu``)."""
    parser.add_argument(
        '--device', default=None,
        help='device, e.g. cpu or cuda:0 (default: cuda:0 if available, '
        'else cpu)')


def add_drawing_arguments(parser: argparse.ArgumentParser) -> None:
    """``--show``, ``--kpt-thr``, ``--radius`` and ``--thickness``."""
    parser.add_argument(
        '--show', action='store_true',
        help='show the frames in a window (q/Esc quits); ignored with a '
        'warning where there is no display')
    parser.add_argument(
        '--kpt-thr', '--kpt_thr', type=float, default=0.3,
        help='keypoint score threshold for drawing')
    parser.add_argument(
        '--radius', type=int, default=4, help='keypoint radius in pixels')
    parser.add_argument(
        '--thickness', type=int, default=1,
        help='skeleton link thickness in pixels')


def check_drawing_arguments(parser: argparse.ArgumentParser,
                            args: argparse.Namespace) -> None:
    """Range checks of :func:`add_drawing_arguments`' options (usage
    errors, exit status 2)."""
    if not 0.0 <= args.kpt_thr <= 1.0:
        parser.error(f'--kpt-thr must be in [0, 1], got {args.kpt_thr}')
    if args.radius < 0 or args.thickness < 1:
        parser.error('--radius must be >= 0 and --thickness >= 1')


def add_inference_path_arguments(parser: argparse.ArgumentParser,
                                 title: str) -> None:
    """The numeric paths of the pose models: ``--fuse-conv-bn``,
    ``--channels-last`` (both on by default) and ``--amp``."""
    group = parser.add_argument_group(title)
    group.add_argument(
        '--fuse-conv-bn', action=argparse.BooleanOptionalAction, default=True,
        help='fold BatchNorm layers into the convs before them (fp32; the '
        'keypoints change only by float rounding)')
    group.add_argument(
        '--channels-last', action=argparse.BooleanOptionalAction,
        default=True, help='channels-last (NHWC) weights and activations '
        '(fp32; only the summation order changes)')
    group.add_argument(
        '--amp', action='store_true',
        help='mixed precision: bf16 autocast on CPU, fp16 on CUDA (about 2x '
        'faster on CPUs with AMX/AVX512-BF16; heatmaps lose precision, the '
        'keypoints move by a fraction of a heatmap pixel on average)')


# ---------------------------------------------------------------------------
# video demos: tracking, smoothing and the backend
# ---------------------------------------------------------------------------
def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() and '.' not in text else value


def box_mode_choices(detector: bool) -> Dict[str, str]:
    """``--box-mode`` values of a demo and the
    :class:`~custom_pose.tracking.TrackingOptions` ``box_mode`` of each:
    ``auto``, ``track``, and the start box in every frame, named after it
    (``full-frame``, or ``detector`` in a demo that runs one)."""
    return {'auto': 'auto', 'detector' if detector else 'full-frame':
            'start', 'track': 'track'}


def box_mode_name(mode: str, detector: bool) -> str:
    """The ``--box-mode`` value of a ``box_mode`` (see
    :func:`box_mode_choices`)."""
    names = {v: k for k, v in box_mode_choices(detector).items()}
    return names[mode]


def print_box_mode(prog: str, decision: Any, detector: bool) -> None:
    """Print what ``--box-mode auto`` chose (a
    :class:`~custom_pose.tracking.BoxModeDecision`) and why, one
    ``<prog>: ...`` line on stderr."""
    sys.stderr.write(f'{prog}: --box-mode auto chose '
                     f'{box_mode_name(decision.mode, detector)}: '
                     f'{decision.reason}\n')
    sys.stderr.flush()


def add_tracking_arguments(parser: argparse.ArgumentParser,
                           detector: bool) -> None:
    """The video demos' box, track-id and smoothing options (see
    ``docs/tracking_and_onnx.md``). ``detector``: the demo runs one (the
    start box and fallback unless ``--roi`` is given)."""
    from custom_pose.tracking import SMOOTH_PARAMS, TrackingOptions
    defaults = TrackingOptions()  # one home for the defaults
    start = 'the detector' if detector else 'the whole frame'
    fixed = box_mode_name('start', detector)
    every = 'the detector\'s boxes' if detector else start
    group = parser.add_argument_group(
        'boxes, track ids and smoothing (docs/tracking_and_onnx.md)')
    span = ('the animal\'s keypoints span less than '
            f'{100 * defaults.auto_fill:g}%% of the {{}} (the larger side '
            'of their box over its larger side) in the first '
            f'{defaults.auto_frames} frames')
    if detector:
        auto = ('auto (default): detector without --roi; with --roi, track '
                f'where {span.format("ROI")}, else detector')
        first = 'the detector\'s boxes (or --roi, searched: --search-scales)'
    else:
        auto = (f'auto (default): track where {span.format("frame or ROI")}'
                ' (a small animal), else full-frame')
        first = 'a search of the whole frame or --roi (--search-scales)'
    group.add_argument(
        '--box-mode', choices=list(box_mode_choices(detector)), default=None,
        help='the box each frame is estimated in. track: the box of the '
        'previous frame\'s pose (its labelled keypoints\' box, enlarged), '
        f'starting from {first} and back to it when the pose is lost; '
        f'{fixed}: {every} (or --roi) in every frame; {auto}. What auto '
        'chose is printed and saved in the predictions JSON')
    group.add_argument(
        '--track-box', action='store_true',
        help='--box-mode track')
    group.add_argument(
        '--roi', metavar='X1,Y1,X2,Y2', default=None,
        help=f'start box in image pixels instead of {start} (with --box-mode '
        f'{fixed}: the box of every frame)')
    where = ('the ROI (--roi), and the ROI itself,' if detector else
             'the whole frame, or the ROI and the ROI itself,')
    group.add_argument(
        '--search-scales', metavar='S[,S...]',
        default=','.join(f'{v:g}' for v in defaults.search_scales),
        help=f'with --box-mode track and no pose to follow: search {where} '
        'with square windows of these fractions of its shorter side and '
        'keep the surest pose' + ('' if detector else
                                  '; 1 adds the whole frame')
        + '; none: no search (default %(default)s)')
    group.add_argument(
        '--box-enlarge', type=float, default=defaults.enlarge, metavar='F',
        help='propagated box = labelled keypoints\' box times F '
        '(default %(default)s)')
    group.add_argument(
        '--box-min-score', type=float, default=defaults.min_mean_score,
        metavar='S',
        help='a pose whose mean keypoint score is below S is lost: back to '
        'the start box (default %(default)s)')
    group.add_argument(
        '--max-age', type=int, default=defaults.max_age, metavar='N',
        help='frames a track id survives unmatched (default %(default)s)')
    group.add_argument(
        '--init-track-thr', type=float, default=defaults.init_track_thr,
        metavar='S',
        help='a pose whose mean keypoint score is below S starts no track id '
        'and does not move its track on; it takes the id of the track it '
        'matches, except where two tracks overlap (default %(default)s)')
    if detector:
        group.add_argument(
            '--redetect-interval', type=int,
            default=defaults.redetect_interval, metavar='N',
            help='with --box-mode track, also run the detector every N '
            'frames to pick up new animals (default 0: only when a pose is '
            'lost)')
    params = '; '.join(f'{m}: ' + ', '.join(f'{k}={v:g}'
                                            for k, v in p.items())
                       for m, p in SMOOTH_PARAMS.items() if p)
    group.add_argument(
        '--smooth', default=defaults.smooth, choices=list(SMOOTH_PARAMS),
        help='temporal smoothing of each track\'s keypoints: oneeuro '
        '(online, no delay), savgol or gaussian (files: a few frames of '
        'delay); the JSON keeps the raw keypoints too (default none)')
    group.add_argument(
        '--smooth-param', nargs='+', default=[], metavar='NAME=VALUE',
        help=f'smoother parameters, defaults {params}')


def tracking_options(parser: argparse.ArgumentParser,
                     args: argparse.Namespace, camera: bool = False):
    """The :class:`~custom_pose.tracking.TrackingOptions` of
    :func:`add_tracking_arguments`' options; a bad value is a usage error
    (exit status 2). ``camera``: the source is live (no ``savgol`` /
    ``gaussian``: they need future frames)."""
    from custom_pose.tracking import (OFFLINE_METHODS, TrackingOptions,
                                      build_smoother, parse_roi)
    roi = None
    if args.roi is not None:
        try:
            roi = tuple(float(v) for v in parse_roi(args.roi))
        except ValueError as exc:
            parser.error(str(exc))
    scales = args.search_scales
    try:
        scales = () if scales.strip().lower() == 'none' else tuple(
            float(v) for v in scales.split(','))
    except ValueError:
        parser.error(f'--search-scales {scales!r}: give fractions such as '
                     '0.5,0.35 (or none)')
    if any(not 0 < v <= 1 for v in scales):
        parser.error(f'--search-scales {args.search_scales}: each must be in '
                     '(0, 1]')
    if args.box_enlarge < 1:
        parser.error(f'--box-enlarge must be >= 1, got {args.box_enlarge}')
    if args.max_age < 0 or getattr(args, 'redetect_interval', 0) < 0:
        parser.error('--max-age and --redetect-interval must be >= 0')
    # argparse allowed only the demo's own names
    box_mode = {**box_mode_choices(True), **box_mode_choices(False)}[
        args.box_mode or 'auto']
    if args.track_box:
        if box_mode not in ('auto', 'track'):
            parser.error(f'--track-box is --box-mode track, not --box-mode '
                         f'{args.box_mode}')
        box_mode = 'track'
    params = {}
    for item in args.smooth_param:
        name, sep, value = item.partition('=')
        try:
            params[name.strip()] = _number(value.strip())
        except ValueError:
            sep = ''
        if not sep:
            parser.error(f'--smooth-param {item!r}: expected NAME=NUMBER, '
                         'e.g. min_cutoff=0.5')
    if camera and args.smooth in OFFLINE_METHODS:
        parser.error(f'--smooth {args.smooth} needs future frames: use '
                     'oneeuro with a camera')
    try:
        build_smoother(args.smooth, **params)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    return TrackingOptions(
        box_mode=box_mode,
        roi=roi,
        search_scales=scales,
        enlarge=args.box_enlarge,
        min_mean_score=args.box_min_score,
        max_age=args.max_age,
        init_track_thr=args.init_track_thr,
        redetect_interval=getattr(args, 'redetect_interval', 0),
        smooth=args.smooth,
        smooth_params=params)


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """``--backend pytorch|onnxruntime`` and ``--onnx MODEL.onnx``."""
    from custom_pose.apis.loop_parts import BACKENDS
    group = parser.add_argument_group(
        'backend (tools/deployment/pytorch2onnx.py exports the model)')
    group.add_argument(
        '--backend', choices=list(BACKENDS), default=BACKENDS[0],
        help='run the network with PyTorch or, from --onnx, with '
        'onnxruntime (the same cropping, flip test, decoding and drawing; '
        'the checkpoint still gives the dataset meta) (default pytorch)')
    group.add_argument(
        '--onnx', default=None, metavar='MODEL.onnx',
        help='the exported model of the pose config, for --backend '
        'onnxruntime')


def check_backend_arguments(parser: argparse.ArgumentParser,
                            args: argparse.Namespace) -> None:
    """``--backend onnxruntime`` and ``--onnx`` go together (usage errors,
    exit status 2)."""
    if args.backend == 'onnxruntime' and not args.onnx:
        parser.error('--backend onnxruntime needs --onnx MODEL.onnx')
    if args.onnx and args.backend != 'onnxruntime':
        parser.error('--onnx needs --backend onnxruntime')
