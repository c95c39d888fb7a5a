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
    parser.add_argument(
        '--kpt-thr', type=float, default=0.3,
        help='keypoint score threshold for --show-dir drawings')
    args = parser.parse_args(argv)
    cli.set_local_rank(args)
    if args.out is not None and not args.out.endswith('.json'):
        parser.error(f'--out must be a .json file, got {args.out}')
    return args


def _check_paths(args) -> None:
    """Every input and output, before the (long) evaluation."""
    cli.check_input_file(args.config, 'config file')
    cli.check_input_file(args.checkpoint, 'checkpoint file')
    for option, path in (('--out', args.out),
                         ('--metrics-out', args.metrics_out)):
        if path is not None:
            cli.check_output_file(path, option)


@cli.one_line_errors(PROG)
def main(argv=None) -> int:
    args = parse_args(argv)
    _check_paths(args)

    from custom_pose.engine.runner import (build_runner, check_datasets,
                                           configure_run)

    cfg = cli.load_config(args.config, args.cfg_options)
    configure_run(cfg, args.config, args.work_dir, args.launcher)
    cli.check_output_dir(cfg.work_dir, '--work-dir' if args.work_dir else
                         'work_dir (of the config)')
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
        evaluators.append(
            dict(type='CustomPoseDumpPredictions', out_file=args.out))
        cfg.test_evaluator = evaluators

    check_datasets(cfg, ('test_dataloader', ))
    metrics = build_runner(cfg, args.config).test()
    from custom_pose.evaluation import format_metrics_summary
    print(format_metrics_summary(metrics), flush=True)
    if args.metrics_out:
        from mmengine.fileio import dump
        dump({k: float(v) for k, v in metrics.items()}, args.metrics_out,
             indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
