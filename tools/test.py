#!/usr/bin/env python
"""Evaluate a trained top-down pose model: COCO AP/AR and PCK tables.

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out preds.json --show-dir vis
"""
import argparse
import os
import os.path as osp
import sys
import warnings


# mmengine 0.10 imports pkg_resources, which warns on every start
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Evaluate a top-down pose model (custom_pose / mmpose 1.x)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='directory for the evaluation log '
        '(default: work_dirs/<config name>)')
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
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=8')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)

    def fail(message):
        print(f'test.py: error: {message}', file=sys.stderr)
        sys.exit(1)

    for what, path in (('config', args.config), ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            fail(f'{what} file not found: {path}')
    if args.out is not None and not args.out.endswith('.json'):
        fail(f'--out must be a .json file, got {args.out}')

    from mmengine.config import Config
    from mmengine.runner import Runner

    import custom_pose  # noqa: F401
    from custom_pose.utils.cli import CfgOptionsError, check_cfg_options

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        try:
            check_cfg_options(cfg, args.cfg_options)
        except CfgOptionsError as e:
            fail(str(e))
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.launcher = args.launcher
    from custom_pose.utils import prepare_cpu_distributed
    try:
        prepare_cpu_distributed(cfg, args.launcher)
    except ValueError as e:
        fail(str(e))

    if args.show_dir:
        vis = cfg.default_hooks.get('visualization')
        if vis is None:
            fail('--show-dir needs default_hooks.visualization in the config')
        vis.enable = True
        vis.out_dir = args.show_dir
        vis.kpt_thr = args.kpt_thr
        vis.interval = 1

    if args.out:
        evaluator = cfg.test_evaluator
        evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) \
            else [evaluator]
        evaluators.append(
            dict(type='CustomPoseDumpPredictions', out_file=args.out))
        cfg.test_evaluator = evaluators

    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    from custom_pose.datasets import (AnimalPoseFormatError, DatasetNotFoundError,
                                      EmptySelectionError)
    try:
        metrics = runner.test()
    except (DatasetNotFoundError, AnimalPoseFormatError,
            EmptySelectionError) as e:
        fail(str(e))
    if args.metrics_out:
        from mmengine.fileio import dump
        dump({k: float(v) for k, v in metrics.items()}, args.metrics_out,
             indent=1)


if __name__ == '__main__':
    main()
