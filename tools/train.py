#!/usr/bin/env python
"""Train a custom_pose (or any mmpose 1.x) top-down model from a config.

Examples::

    python tools/train.py configs/animal/custom_res101_animalpose_256x256.py
    python tools/train.py CONFIG --resume              # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_10.pth
    python tools/train.py CONFIG --amp --cfg-options train_dataloader.batch_size=32
    bash tools/dist_train.sh CONFIG 8                   # DDP through torchrun
"""
import argparse
import os
import os.path as osp
import sys
import urllib.error
import warnings


# mmengine 0.10 imports pkg_resources, which warns on every start
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')


def parse_args(argv=None):
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(
        description='Train a top-down pose model (custom_pose / mmpose 1.x)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir',
        help='directory for logs and checkpoints '
        '(default: work_dirs/<config name>)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        '--resume-from', help='resume from this checkpoint (mmpose 0.x name)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: fp16 with dynamic loss scaling on CUDA, '
        'bf16 autocast on CPU')
    parser.add_argument(
        '--auto-scale-lr',
        '--autoscale-lr',
        dest='auto_scale_lr',
        action='store_true',
        help='scale the LR linearly with the total batch size '
        '(auto_scale_lr.base_batch_size in the config)')
    parser.add_argument('--seed', type=int, default=None, help='random seed')
    parser.add_argument(
        '--deterministic',
        action='store_true',
        help='deterministic cuDNN/algorithms (slower)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. '
        'train_dataloader.batch_size=32 model.backbone.init_cfg=None')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (tools/dist_train.sh uses pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--gpus',
        type=int,
        help='number of GPUs (1 here; for more use tools/dist_train.sh)')
    group.add_argument(
        '--gpu-ids',
        type=int,
        nargs='+',
        help='id of the GPU to use (one; for more use tools/dist_train.sh)')
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.resume and args.resume_from:
        parser.error('give either --resume or --resume-from, not both')
    return args


def select_devices(args, fail) -> None:
    """Apply --gpus/--gpu-ids before CUDA is initialised."""
    if args.gpus is None and args.gpu_ids is None:
        return
    import torch
    if not torch.cuda.is_available():
        fail('--gpus/--gpu-ids given but no CUDA GPU is available; '
             'leave them out to train on the CPU')
    if args.gpus is not None and args.gpus > 1 or (
            args.gpu_ids is not None and len(args.gpu_ids) > 1):
        n = args.gpus or len(args.gpu_ids)
        ids = ','.join(map(str, args.gpu_ids or range(n)))
        fail(f'one process trains on one GPU; for {n} GPUs run '
             f'CUDA_VISIBLE_DEVICES={ids} bash tools/dist_train.sh '
             f'{args.config} {n}')
    if args.gpu_ids:
        if args.gpu_ids[0] >= torch.cuda.device_count():
            fail(f'--gpu-ids {args.gpu_ids[0]}: only '
                 f'{torch.cuda.device_count()} GPU(s) visible')
        torch.cuda.set_device(args.gpu_ids[0])


def merge_args(cfg, args):
    """Fold the command line into the config."""
    from mmengine.config import ConfigDict

    # work_dir: command line > config > work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    resume = args.resume or args.resume_from
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume:
        cfg.resume = True
        cfg.load_from = resume

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
        ckpt = cfg.get('default_hooks', {}).get('checkpoint')
        if ckpt is not None:
            ckpt.pop('save_best', None)
            ckpt.pop('rule', None)

    if args.amp:  # bf16 where the GPU (or CPU) has it, else fp16 + scaling
        from custom_pose.engine.amp import configure_amp
        print(configure_amp(cfg))

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError('--auto-scale-lr needs auto_scale_lr = '
                             'dict(base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True

    if args.seed is not None or args.deterministic:
        randomness = cfg.get('randomness', ConfigDict())
        if args.seed is not None:
            randomness.seed = args.seed
        if args.deterministic:
            randomness.deterministic = True
        cfg.randomness = randomness

    cfg.launcher = args.launcher
    return cfg


def main(argv=None):
    args = parse_args(argv)
    prog = 'train.py'

    def fail(message):
        print(f'{prog}: error: {message}', file=sys.stderr)
        sys.exit(1)

    if not osp.isfile(args.config):
        fail(f'config file not found: {args.config}')
    select_devices(args, fail)

    import torch
    from mmengine.config import Config
    from mmengine.logging import print_log
    from mmengine.runner import Runner

    import custom_pose  # noqa: F401  (registers modules, safe checkpoint loading)
    from custom_pose.utils.cli import CfgOptionsError, check_cfg_options

    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        try:
            check_cfg_options(cfg, args.cfg_options)
        except CfgOptionsError as e:
            fail(str(e))
        cfg.merge_from_dict(args.cfg_options)
    from custom_pose.utils import prepare_cpu_distributed
    try:
        cfg = merge_args(cfg, args)
        # no GPU: DDP across CPU processes with gloo
        prepare_cpu_distributed(cfg, args.launcher)
    except ValueError as e:
        fail(str(e))

    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    if not torch.cuda.is_available():
        print_log(
            f'No CUDA GPU found: training on the CPU '
            f'({torch.get_num_threads()} threads).',
            logger='current')
    from custom_pose.datasets import (AnimalPoseFormatError, DatasetNotFoundError,
                                      EmptySelectionError)
    from custom_pose.engine.hooks import NonFiniteLossError
    from custom_pose.models import PretrainedWeightsUnavailableError
    try:
        runner.train()
    except (NonFiniteLossError, DatasetNotFoundError, AnimalPoseFormatError,
            EmptySelectionError, PretrainedWeightsUnavailableError) as e:
        fail(str(e))
    except urllib.error.URLError as e:
        fail(f'could not download a file the config names ({e.reason}). '
             'Offline, train without pretrained weights '
             '(--cfg-options model.backbone.init_cfg=None) or point '
             'init_cfg.checkpoint / load_from at a local file.')


if __name__ == '__main__':
    main()
