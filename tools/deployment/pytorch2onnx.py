#!/usr/bin/env python
"""Export a top-down pose model (backbone + head -> heatmaps) to ONNX and
check the file with onnxruntime against PyTorch on the same input.

Needs the ``deploy`` extra (``pip install -e .[deploy]``; ``make install``
sets it up). Examples::

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --output model.onnx
    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT \\
        --output model.onnx --dynamic-batch --opset 17

Exit status: 0 when the check passes, 1 for a bad input or a failed check
(one ``<prog>: error: ...`` line), 2 for bad arguments.
"""
import argparse
import os.path as osp
import sys
import warnings

# mmengine 0.10 imports pkg_resources, which warns on every start
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

from custom_pose.utils import cli  # noqa: E402

PROG = 'pytorch2onnx.py'
#: What --output holds: an existing .onnx file is replaced, any other file
#: only with --overwrite.
ONNX_MODEL = cli.OutputKind('an ONNX model', ('.onnx', ))


def parse_args(argv=None) -> argparse.Namespace:
    from custom_pose.deploy import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Export a top-down pose model to ONNX (input: '
        'normalised crops, output: heatmaps) and check it with onnxruntime.')
    parser.add_argument('config', help='pose model config file')
    parser.add_argument('checkpoint', help='checkpoint file (local)')
    parser.add_argument('--output', required=True,
                        help='the .onnx file to write')
    parser.add_argument(
        '--dynamic-batch', action='store_true',
        help='symbolic batch dimension (any number of crops per call)')
    parser.add_argument(
        '--opset', type=int, default=DEFAULT_OPSET,
        help=f'ONNX opset, {MIN_OPSET}-{MAX_OPSET} (default '
        f'{DEFAULT_OPSET})')
    parser.add_argument(
        '--batch-size', type=int, default=1,
        help='batch of a static export (default 1; onnxruntime runs other '
        'batches in chunks of it)')
    parser.add_argument(
        '--check-batch-sizes', type=int, nargs='+', default=None,
        help='batches the check runs (default: 1 4 with --dynamic-batch, '
        'else --batch-size)')
    parser.add_argument(
        '--tolerance', type=float, default=0.1,
        help='largest mean keypoint difference, in model-input pixels, the '
        'check accepts (default 0.1)')
    parser.add_argument('--device', default='cpu',
                        help='device of the PyTorch model (default cpu)')
    cli.add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if not MIN_OPSET <= args.opset <= MAX_OPSET:
        parser.error(f'--opset must be from {MIN_OPSET} to {MAX_OPSET}, got '
                     f'{args.opset}')
    if args.batch_size < 1 or min(args.check_batch_sizes or [1]) < 1:
        parser.error('batch sizes must be >= 1')
    if args.tolerance < 0:
        parser.error(f'--tolerance must be >= 0, got {args.tolerance}')
    args.prog = parser.prog
    return args


@cli.one_line_errors(PROG)
def main(argv=None) -> int:
    args = parse_args(argv)
    from custom_pose.apis import CheckpointError, ModelConfigError
    from custom_pose.deploy import pytorch2onnx
    from custom_pose.utils.cli import fail

    for what, path in (('config', args.config),
                       ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            fail(args.prog, f'{what} file not found: {path}')
    try:
        # before the (slow) model loading: --output is no input
        cli.check_outputs(
            [('--output', args.output, ONNX_MODEL)],
            [('the checkpoint', args.checkpoint)] + cli.config_inputs(
                args.config), overwrite=args.overwrite)
        result = pytorch2onnx(
            args.config, args.checkpoint, args.output,
            dynamic_batch=args.dynamic_batch, opset=args.opset,
            batch_size=args.batch_size,
            check_batch_sizes=args.check_batch_sizes,
            tolerance_px=args.tolerance, device=args.device)
    except (CheckpointError, ModelConfigError, ValueError) as exc:
        fail(args.prog, str(exc))
    print(f'{args.prog}: wrote {args.output}')
    print(f'{args.prog}: {result.summary()}')
    if not result.passed:
        fail(args.prog, f'onnxruntime disagrees with PyTorch by '
             f'{result.keypoint_mean_diff_px:.3f} px on average (more than '
             f'--tolerance {args.tolerance:g})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
