#!/usr/bin/env python
"""Train a custom_pose (or any mmpose 1.x) top-down model from a config.

Examples::

    python tools/train.py configs/animal/custom_res101_animalpose_256x256.py
    python tools/train.py CONFIG --resume              # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_10.pth
    python tools/train.py CONFIG --resume-weights-only BEST.pth  # fresh optimizer
    python tools/train.py CONFIG --amp --cfg-options train_dataloader.batch_size=32
    bash tools/dist_train.sh CONFIG 8                   # DDP through torchrun
"""
import argparse
import sys

from custom_pose.errors import CheckpointError, InputError, ModelConfigError
from custom_pose.utils import cli

PROG = 'train.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Train a top-down pose model (custom_pose / mmpose 1.x)')
    cli.add_runner_arguments(
        parser,
        config_help='train config file path',
        work_dir_help='directory for logs and checkpoints',
        cfg_options_example='train_dataloader.batch_size=32 '
        'model.backbone.init_cfg=None',
        launcher_help='job launcher (tools/dist_train.sh uses pytorch)')
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
        '--resume-weights-only',
        metavar='CHECKPOINT',
        help='start from the weights of this checkpoint (e.g. a best '
        'checkpoint, which holds no optimizer state): a fresh optimizer and '
        'learning-rate schedule from epoch 1')
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
    cli.set_local_rank(args)
    given = [flag for flag, value in (
        ('--resume', args.resume), ('--resume-from', args.resume_from),
        ('--resume-weights-only', args.resume_weights_only)) if value]
    if len(given) > 1:
        parser.error(f'give one of {", ".join(given)}, not several')
    return args


def select_devices(args) -> None:
    """Apply --gpus/--gpu-ids before CUDA is initialised."""
    if args.gpus is None and args.gpu_ids is None:
        return
    import torch
    if not torch.cuda.is_available():
        raise InputError('--gpus/--gpu-ids given but no CUDA GPU is '
                         'available; leave them out to train on the CPU')
    if args.gpus is not None and args.gpus > 1 or (
            args.gpu_ids is not None and len(args.gpu_ids) > 1):
        n = args.gpus or len(args.gpu_ids)
        ids = ','.join(map(str, args.gpu_ids or range(n)))
        raise InputError(
            f'one process trains on one GPU; for {n} GPUs run '
            f'CUDA_VISIBLE_DEVICES={ids} bash tools/dist_train.sh '
            f'{args.config} {n}')
    if args.gpu_ids:
        if args.gpu_ids[0] >= torch.cuda.device_count():
            raise InputError(f'--gpu-ids {args.gpu_ids[0]}: only '
                             f'{torch.cuda.device_count()} GPU(s) visible')
        torch.cuda.set_device(args.gpu_ids[0])


def merge_args(cfg, args):
    """Fold the command line into the config."""
    from mmengine.config import ConfigDict

    resume = args.resume or args.resume_from
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume:
        cfg.resume = True
        cfg.load_from = resume
    elif args.resume_weights_only:
        cfg.resume = False
        cfg.load_from = args.resume_weights_only

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
            raise ModelConfigError('--auto-scale-lr needs auto_scale_lr = '
                                   'dict(base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True

    if args.seed is not None or args.deterministic:
        randomness = cfg.get('randomness', ConfigDict())
        if args.seed is not None:
            randomness.seed = args.seed
        if args.deterministic:
            randomness.deterministic = True
        cfg.randomness = randomness
    return cfg


@cli.one_line_errors(PROG)
def main(argv=None) -> int:
    args = parse_args(argv)
    cli.check_input_file(args.config, 'config file')
    resume = args.resume or args.resume_from
    if resume and resume != 'auto':
        cli.check_input_file(resume, '--resume checkpoint')
    if args.resume_weights_only:
        cli.check_input_file(args.resume_weights_only,
                             '--resume-weights-only checkpoint')
    select_devices(args)

    import torch
    from mmengine.logging import print_log

    from custom_pose.engine.runner import (OptimizerStateMissingError,
                                           OutsideLastCheckpointError,
                                           build_runner, check_datasets,
                                           configure_run, run_training)

    cfg = merge_args(cli.load_config(args.config, args.cfg_options), args)
    configure_run(cfg, args.config, args.work_dir, args.launcher)
    cli.check_output_dir(cfg.work_dir, '--work-dir' if args.work_dir else
                         'work_dir (of the config)')
    check_datasets(cfg, ('train_dataloader', 'val_dataloader'))
    runner = build_runner(cfg, args.config)
    if not torch.cuda.is_available():
        print_log(
            f'No CUDA GPU found: training on the CPU '
            f'({torch.get_num_threads()} threads).',
            logger='current')
    if args.resume_weights_only:
        print_log(
            f'--resume-weights-only: the weights of '
            f'{args.resume_weights_only} only; the optimizer and the '
            'learning-rate schedule start afresh at epoch 1',
            logger='current')
    try:
        run_training(runner)
    except OptimizerStateMissingError as exc:
        raise CheckpointError(
            f'{exc.reason}. Resume from an epoch_N.pth checkpoint, or start '
            f'from its weights with --resume-weights-only {exc.path}') from None
    except OutsideLastCheckpointError as exc:
        raise CheckpointError(
            f'{exc.reason}. Give the checkpoint to resume from with --resume '
            'PATH, or leave --resume out to train from the beginning') from None
    return 0


if __name__ == '__main__':
    sys.exit(main())
