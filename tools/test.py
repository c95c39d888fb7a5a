#!/usr/bin/env python
"""Evaluate a trained top-down pose model: COCO AP/AR, PCK and (with the
configs of ``configs/custom/``) the keypoint error in image pixels, closing
with a summary of them side by side and the pixel error per keypoint.

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out preds.json --show-dir vis
    python tools/test.py configs/custom/custom_res18_keypoints_128x128.py \
        CHECKPOINT --cfg-options data_root=/path/to/dlc-project
"""
import argparse
import os.path as osp
import sys

from custom_pose.utils import cli

PROG = 'test.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Evaluate a top-down pose model (custom_pose / mmpose 1.x)')
    cli.add_runner_arguments(parser, 'test config file path',
                             'directory for the evaluation log',
                             'test_dataloader.batch_size=8')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='write the predicted keypoints to this JSON file')
    parser.add_argument(
        '--show-dir',
        help='write images with the predictions drawn into this directory '
        '(inside the work dir\'s timestamped folder, as mmpose does)')
    parser.add_argument(
        '--metrics-out', help='also write the metrics to this JSON file')
    cli.add_overwrite_argument(parser)
    parser.add_argument(
        '--kpt-thr', type=float, default=0.3,
        help='keypoint score threshold for --show-dir drawings')
    args = parser.parse_args(argv)
    cli.set_local_rank(args)
    for option, path in (('--out', args.out),
                         ('--metrics-out', args.metrics_out)):
        # (a folder gets its own message from the output check)
        if path is not None and not path.lower().endswith('.json') and \
                not osp.isdir(path):
            parser.error(f'{option} must be a .json file, got {path}')
    return args


def _is_predictions(path: str) -> bool:
    """Whether a JSON file holds predictions as ``--out`` writes them."""
    data = cli.read_small_json(path)
    return isinstance(data, list) and all(
        isinstance(r, dict) and 'keypoints' in r for r in data)


def _is_metrics(path: str) -> bool:
    """Whether a JSON file holds metrics as ``--metrics-out`` writes them."""
    data = cli.read_small_json(path)
    return isinstance(data, dict) and all(
        isinstance(v, (int, float)) for v in data.values())


PREDICTIONS = cli.OutputKind('a predictions file of test.py', ('.json', ),
                             _is_predictions)
METRICS = cli.OutputKind('a metrics file of test.py', ('.json', ), _is_metrics)


def _check_outputs(args, cfg) -> None:
    """Every output, before the (long) evaluation: none is an input (the
    config, the checkpoint, the files the config's datasets read) and
    every one can be written."""
    inputs = [('the checkpoint', args.checkpoint)]
    inputs += cli.config_inputs(cfg, args.config)
    cli.check_outputs([('--out', args.out, PREDICTIONS),
                       ('--metrics-out', args.metrics_out, METRICS)],
                      inputs, overwrite=args.overwrite)
    cli.check_output_dir(cfg.work_dir, '--work-dir' if args.work_dir else
                         'work_dir (of the config)')


@cli.one_line_errors(PROG)
def main(argv=None) -> int:
    args = parse_args(argv)
    cli.check_input_file(args.config, 'config file')
    cli.check_input_file(args.checkpoint, 'checkpoint file')

    from custom_pose.engine.runner import (build_runner, check_datasets,
                                           configure_run)

    cfg = cli.load_config(args.config, args.cfg_options)
    configure_run(cfg, args.config, args.work_dir, args.launcher)
    _check_outputs(args, cfg)
    cfg.load_from = args.checkpoint

    if args.show_dir:
        # mmpose's hook draws with its visualizer, which fails on numpy 2
        cfg.default_hooks.visualization = dict(
            type='CustomPoseVisualizationHook', enable=True,
            out_dir=args.show_dir, kpt_thr=args.kpt_thr)

    if args.out:
        evaluator = cfg.test_evaluator
        evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) \
            else [evaluator]
        # first: the predictions are written even if a metric fails
        evaluators.insert(
            0, dict(type='CustomPoseDumpPredictions', out_file=args.out))
        cfg.test_evaluator = evaluators

    check_datasets(cfg, ('test_dataloader', ))
    metrics = build_runner(cfg, args.config).test()
    from custom_pose.evaluation import format_metrics_summary
    print(format_metrics_summary(metrics), flush=True)
    if args.metrics_out:
        from custom_pose.utils.atomic_io import write_json_atomic
        write_json_atomic(args.metrics_out,
                          {k: float(v) for k, v in metrics.items()})
    return 0


if __name__ == '__main__':
    sys.exit(main())
