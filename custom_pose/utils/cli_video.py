# Copyright (c) custom_pose contributors. All rights reserved.
"""Command-line options of the video and image demos in ``demo/``.

:mod:`custom_pose.utils.cli` re-exports every name here (the tools call
``cli.add_tracking_arguments(...)`` etc.).

- :func:`add_device_argument`: ``--device``.
- :func:`add_drawing_arguments` / :func:`check_drawing_arguments`:
  ``--show``, ``--kpt-thr``, ``--radius``, ``--thickness``.
- :func:`add_inference_path_arguments`: ``--fuse-conv-bn``,
  ``--channels-last``, ``--amp``.
- :func:`add_tracking_arguments` / :func:`tracking_options`: boxes, track
  ids and smoothing; :func:`box_mode_choices`, :func:`box_mode_name`,
  :func:`print_box_mode` for ``--box-mode``.
- :func:`add_backend_arguments` / :func:`check_backend_arguments`:
  ``--backend`` and ``--onnx``.
"""
import argparse
import math
import sys
from typing import Any, Dict

__all__ = [
    'add_device_argument', 'add_drawing_arguments',
    'add_inference_path_arguments', 'check_drawing_arguments',
    'add_tracking_arguments', 'tracking_options', 'box_mode_choices',
    'box_mode_name', 'print_box_mode', 'add_backend_arguments',
    'check_backend_arguments'
]


# ---------------------------------------------------------------------------
# device, drawing and inference path
# ---------------------------------------------------------------------------
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
        '--radius', type=int, default=4,
        help='keypoint radius in pixels, 0 to 1000 (default %(default)s)')
    parser.add_argument(
        '--thickness', type=int, default=1,
        help='skeleton link thickness in pixels, 1 to 1000 (default '
        '%(default)s)')


def check_drawing_arguments(parser: argparse.ArgumentParser,
                            args: argparse.Namespace) -> None:
    """Range checks of :func:`add_drawing_arguments`' options (usage
    errors, exit status 2)."""
    if not 0.0 <= args.kpt_thr <= 1.0:
        parser.error(f'--kpt-thr must be in [0, 1], got {args.kpt_thr}')
    from custom_pose.apis.visualize import MAX_DRAW_SIZE
    if not (0 <= args.radius <= MAX_DRAW_SIZE
            and 1 <= args.thickness <= MAX_DRAW_SIZE):
        parser.error(f'--radius must be in [0, {MAX_DRAW_SIZE}] and '
                     f'--thickness in [1, {MAX_DRAW_SIZE}] (pixels), got '
                     f'{args.radius} and {args.thickness}')


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
    from custom_pose.tracking.propagation import MIN_SEARCH_SCALE
    from custom_pose.tracking.smoothing import MAX_LAG
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
        f'{fixed}: the box of every frame): four finite numbers, 0 <= X1 < '
        'X2, 0 <= Y1 < Y2, inside the frame')
    where = ('the ROI (--roi), and the ROI itself,' if detector else
             'the whole frame, or the ROI and the ROI itself,')
    group.add_argument(
        '--search-scales', metavar='S[,S...]',
        default=','.join(f'{v:g}' for v in defaults.search_scales),
        help=f'with --box-mode track and no pose to follow: search {where} '
        'with square windows of these fractions of its shorter side and '
        'keep the surest pose' + ('' if detector else
                                  '; 1 adds the whole frame')
        + f'; each in [{MIN_SEARCH_SCALE:g}, 1]; none: no search (default '
        '%(default)s)')
    group.add_argument(
        '--box-enlarge', type=float, default=defaults.enlarge, metavar='F',
        help='propagated box = labelled keypoints\' box times F, a finite '
        'number >= 1 (default %(default)s)')
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
        help=f'smoother parameters, finite numbers, defaults {params}; '
        f'savgol\'s window_length is at most {2 * MAX_LAG + 1} and '
        f'gaussian\'s truncate * sigma at most {MAX_LAG} frames (what the '
        'smoother holds back)')


def tracking_options(parser: argparse.ArgumentParser,
                     args: argparse.Namespace, camera: bool = False):
    """The :class:`~custom_pose.tracking.TrackingOptions` of
    :func:`add_tracking_arguments`' options; a bad value is a usage error
    (exit status 2). ``camera``: the source is live (no ``savgol`` /
    ``gaussian``: they need future frames)."""
    from custom_pose.tracking import (OFFLINE_METHODS, TrackingOptions,
                                      build_smoother, parse_roi)
    from custom_pose.tracking.propagation import MIN_SEARCH_SCALE
    roi = None
    if args.roi is not None:
        try:
            roi = tuple(float(v) for v in parse_roi(args.roi))
        except ValueError as exc:
            parser.error(str(exc))
        if not all(math.isfinite(v) for v in roi):
            parser.error(f'--roi {args.roi}: x1,y1,x2,y2 must be finite '
                         'numbers (image pixels), e.g. --roi 100,50,400,300')
    scales = args.search_scales
    try:
        scales = () if scales.strip().lower() == 'none' else tuple(
            float(v) for v in scales.split(','))
    except ValueError:
        parser.error(f'--search-scales {scales!r}: give fractions such as '
                     '0.5,0.35 (or none)')
    if any(not MIN_SEARCH_SCALE <= v <= 1 for v in scales):
        parser.error(f'--search-scales {args.search_scales}: each must be in '
                     f'[{MIN_SEARCH_SCALE:g}, 1]')
    if not (math.isfinite(args.box_enlarge) and args.box_enlarge >= 1):
        parser.error(f'--box-enlarge must be a finite number >= 1, got '
                     f'{args.box_enlarge}')
    for flag, value in (('--box-min-score', args.box_min_score),
                        ('--init-track-thr', args.init_track_thr)):
        if not math.isfinite(value):
            parser.error(f'{flag} must be a finite number, got {value}')
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
        parser.error(f'--smooth {args.smooth} --smooth-param: {exc}')
    try:
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
    except ValueError as exc:  # a value the checks above let through
        parser.error(str(exc))


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
