#!/usr/bin/env python
"""Benchmark custom_pose's models against mmpose's built-in equivalents.

One run measures, on the same machine and inputs, both sides with the same
input size, batch composition, flip-test setting and thread count (their
iterations interleaved), and prints the ratios (ours / mmpose):

1. ``train``: training-step throughput (images/s) of CustomPoseResNet-50/101
   + CustomPoseDeconvHead against mmpose's ResNet + HeatmapHead, and of the
   8-stack CustomPoseHourglass against mmpose's HourglassNet + CPMHead of
   about the same FLOPs;
2. ``infer``: inference latency and throughput at batch 1 and 32, with and
   without flip test;
3. ``data``: training data pipeline samples/s with 0, 1 and 2 workers;
4. ``video``: the video demo (whole frame as the box) against mmpose's
   per-frame ``inference_topdown`` + visualizer + ``cv2.VideoWriter``;
5. ``flops``: parameters and FLOPs next to the published figures;
6. ``train-e2e`` (only when named): mmengine's Runner training N iterations
   of mmpose's stock setup, our stock config and our ``_gpuaug`` config:
   images/s, data_time share, GPU busy share, one profiled step each, and
   the per-sample cost of the two input paths.

With ``--fast-paths`` ours also runs on the faster numeric paths (BN folding,
channels-last, bf16 autocast on CPU / fp16 on CUDA); each such row reports
its check against fp32 (keypoints within 1 px mean in model-input pixels).
Writes ``benchmark.json`` and ``benchmark.md`` into ``--out-dir`` and prints
the Markdown tables. ``--update-docs`` (or ``--update-readme``) also puts the
tables into ``docs/benchmark.md`` (between ``<!-- benchmark:start -->`` and
``<!-- benchmark:end -->``) and a short summary into ``README.md`` (between
``<!-- benchmark-summary:start -->`` and ``<!-- benchmark-summary:end -->``);
with ``--from-json`` it does so from a saved report, without measuring.

Examples::

    python tools/analysis_tools/benchmark.py --fast-paths
    python tools/analysis_tools/benchmark.py --sections train,infer \\
        --models res50 --iters 5 --threads 2 --fast-paths
    python tools/analysis_tools/benchmark.py --device cuda --fast-paths \\
        --cudnn-benchmark
    python tools/analysis_tools/benchmark.py --quick   # seconds: a smoke run
    python tools/analysis_tools/benchmark.py --sections train-e2e \
        --device cuda --models res50 --e2e-batch 64 --e2e-workers 12 --e2e-amp
    python tools/analysis_tools/benchmark.py --update-docs \\
        --from-json work_dirs/benchmark/benchmark.json
"""
import argparse
import os.path as osp
import shlex
import sys
from pathlib import Path
from typing import List, Optional, Tuple

REPO_ROOT = Path(__file__).resolve().parents[2]


def _csv(value: str) -> Tuple[str, ...]:
    items = tuple(v.strip() for v in value.split(',') if v.strip())
    if not items:
        raise argparse.ArgumentTypeError('expected a comma-separated list')
    return items


def _int_csv(value: str) -> Tuple[int, ...]:
    try:
        items = tuple(int(v) for v in _csv(value))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected comma-separated integers, got {value!r}') from None
    if any(v < 0 for v in items):
        raise argparse.ArgumentTypeError(f'negative value in {value!r}')
    return items


def _size(value: str) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in value.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected WIDTHxHEIGHT, got {value!r}') from None
    return w, h


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark custom_pose models against mmpose built-ins '
        '(training, inference, data pipeline, video demo, FLOPs).')
    parser.add_argument(
        '--sections', type=_csv, default=None,
        help='comma-separated sections to run, by name (default: '
        'train,infer,data,video,flops; train-e2e runs only when named)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--iters', type=int, default=None,
        help='timed iterations per measurement (default 3; at least: short '
        'calls get more, up to --min-time seconds)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed iterations first (default 1)')
    parser.add_argument(
        '--threads', type=int, default=None,
        help='torch threads for both sides (default: torch\'s default)')
    parser.add_argument(
        '--fast-paths', action='store_true',
        help='also run the fast numeric paths (BN folding, channels-last, '
        'bf16 autocast on CPU / fp16 AMP on CUDA), each with its check '
        'against fp32')
    parser.add_argument(
        '--compile', action='store_true',
        help='also run a torch.compile path (slow to compile on CPU)')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    parser.add_argument(
        '--config-dir', default=str(REPO_ROOT / 'configs'),
        help='the configs folder (default: this checkout\'s)')
    parser.add_argument(
        '--data-root', default=None,
        help='where the synthetic dataset is generated (once) and read '
        '(default: OUT_DIR/synthetic_data)')
    parser.add_argument(
        '--quick', action='store_true',
        help='tiny settings (1 iteration, small batches, the quickstart '
        'model): checks that everything runs, the timings mean little')
    parser.add_argument(
        '--models', type=_csv, default=None,
        help='models to run (default per section), from: res50, res101, '
        'res152, hourglass8, hourglass2, hrnet_w32, res18_128')
    parser.add_argument('--train-variants', type=_csv, default=None,
                        help='numeric paths of the train section, e.g. '
                        'fp32,fp32+cl,bf16+cl')
    parser.add_argument('--infer-variants', type=_csv, default=None,
                        help='numeric paths of the infer section, e.g. '
                        'fp32,fp32+fuse,bf16+fuse+cl')
    parser.add_argument('--train-batch', type=int, default=None,
                        help='default 8')
    parser.add_argument('--infer-batches', type=_int_csv, default=None,
                        help='default 1,32')
    parser.add_argument('--data-workers', type=_int_csv, default=None,
                        help='default 0,1,2')
    parser.add_argument('--data-batch', type=int, default=None,
                        help='default 16')
    parser.add_argument('--data-batches', type=int, default=None,
                        help='timed batches per number of workers '
                        '(default 8)')
    parser.add_argument('--data-images', type=int, default=None,
                        help='images of the synthetic dataset (default 64)')
    parser.add_argument('--video-frames', type=int, default=None,
                        help='default 64')
    parser.add_argument('--video-size', type=_size, default=None,
                        help='clip WIDTHxHEIGHT, even numbers (default '
                        '640x480)')
    parser.add_argument('--video-repeats', type=int, default=None,
                        help='default 3')
    parser.add_argument('--e2e-iters', type=int, default=None,
                        help='train-e2e: timed iterations per path '
                        '(default 20)')
    parser.add_argument('--e2e-warmup', type=int, default=None,
                        help='train-e2e: untimed iterations first, >= 1 '
                        '(default 5)')
    parser.add_argument('--e2e-batch', type=int, default=None,
                        help='train-e2e: batch size (default 64)')
    parser.add_argument('--e2e-workers', type=int, default=None,
                        help='train-e2e: data-loader workers (default: '
                        'min(12, cores))')
    parser.add_argument('--e2e-paths', type=_csv, default=None,
                        help='train-e2e: paths, from mmpose, ours, '
                        'ours_gpuaug, ours_gpuaug_nocache, ours_gpuaug_compile '
                        '(default: the first three)')
    parser.add_argument('--e2e-amp', action='store_true',
                        help="train-e2e: mixed precision as each side's "
                        'train.py --amp sets it (ours: bf16 where the GPU has '
                        "it; mmpose's: fp16 AmpOptimWrapper on CUDA)")
    parser.add_argument('--input-path-samples', type=int, default=None,
                        help='train-e2e: samples per path of the '
                        'input-path cost table (default 64; 0: no table)')
    parser.add_argument(
        '--checkpoints', type=_csv, default=None, metavar='NAME=PATH',
        help='trained weights of ours for the inference checks, e.g. '
        'res18_128=work_dirs/quickstart/best.pth (default: the head is '
        'fitted to the check crops)')
    parser.add_argument(
        '--video-checkpoint', default=None,
        help='checkpoint of the video model (e.g. the quickstart\'s trained '
        'one); default: built from the config, its head fitted to the clip')
    parser.add_argument(
        '--cudnn-benchmark', action='store_true',
        help='torch.backends.cudnn.benchmark = True (CUDA)')
    parser.add_argument(
        '--min-time', type=float, default=None,
        help='inference: time each call for at least this many seconds '
        '(default 2)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--wait-quiet', type=float, default=None, metavar='CORES',
        help='before each measurement wait (up to 15 min) until other '
        'processes use fewer than CORES cores (e.g. 0.3); every row records '
        'the load of other processes during its measurement anyway')
    parser.add_argument(
        '--profile', action='store_true',
        help='also record the top operators (torch.profiler) of one call of '
        'ours per train row and per largest-batch infer row')
    parser.add_argument(
        '--update-docs', '--update-readme', dest='update_docs', nargs='?',
        const=str(REPO_ROOT / 'README.md'), default=None, metavar='README',
        help='also put the Markdown tables between the lines "<!-- '
        'benchmark:start -->" and "<!-- benchmark:end -->" of --docs-file '
        'and a short summary between "<!-- benchmark-summary:start -->" and '
        '"<!-- benchmark-summary:end -->" of README (default: this '
        'checkout\'s README.md)')
    parser.add_argument(
        '--docs-file', default=None,
        help='the page of the tables (default: docs/benchmark.md beside '
        'README)')
    parser.add_argument(
        '--from-json', default=None, metavar='JSON',
        help='measure nothing: render the Markdown (and with --update-docs '
        'the docs) from this saved benchmark.json')
    args = parser.parse_args(argv)
    for name in ('iters', 'train_batch', 'data_batch', 'data_batches',
                 'data_images', 'video_frames', 'video_repeats', 'threads',
                 'e2e_iters', 'e2e_warmup', 'e2e_batch'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup is not None and args.warmup < 0:
        parser.error('--warmup must be >= 0')
    for name in ('e2e_workers', 'input_path_samples'):
        value = getattr(args, name)
        if value is not None and value < 0:
            parser.error(f'--{name.replace("_", "-")} must be >= 0')
    if args.min_time is not None and args.min_time < 0:
        parser.error('--min-time must be >= 0')
    if args.infer_batches is not None and not all(
            b >= 1 for b in args.infer_batches):
        parser.error('--infer-batches must be >= 1')
    if args.video_size is not None and any(v % 2 for v in args.video_size):
        parser.error('--video-size: width and height must be even')
    if args.checkpoints is not None:
        pairs = [item.partition('=') for item in args.checkpoints]
        bad = [''.join(p) for p in pairs if not (p[0] and p[1] and p[2])]
        if bad:
            parser.error(f'--checkpoints: expected NAME=PATH, got {bad[0]!r}')
        args.checkpoints = {name: path for name, _, path in pairs}
    if args.update_docs and args.docs_file is None:
        args.docs_file = str(
            Path(args.update_docs).parent / 'docs' / 'benchmark.md')
    return args


def _options(args: argparse.Namespace):
    """The benchmark's ``Options`` from the command line."""
    from custom_pose.benchmark import Options
    tunable = ('iters', 'warmup', 'models', 'train_variants',
               'infer_variants', 'train_batch', 'infer_batches',
               'data_workers', 'data_batch', 'data_batches', 'data_images',
               'video_frames', 'video_size', 'video_repeats', 'min_time',
               'e2e_iters', 'e2e_warmup', 'e2e_batch', 'e2e_workers',
               'e2e_paths', 'input_path_samples')
    given = {k: getattr(args, k) for k in tunable
             if getattr(args, k) is not None}
    return Options(
        sections=args.sections,
        device=args.device,
        threads=args.threads,
        fast_paths=args.fast_paths,
        compile=args.compile,
        out_dir=args.out_dir,
        config_dir=args.config_dir,
        data_root=args.data_root or osp.join(args.out_dir, 'synthetic_data'),
        quick=args.quick,
        cudnn_benchmark=args.cudnn_benchmark,
        seed=args.seed,
        profile=args.profile,
        wait_quiet=args.wait_quiet,
        video_checkpoint=args.video_checkpoint,
        checkpoints=args.checkpoints,
        e2e_amp=args.e2e_amp,
        explicit=tuple(given),
        **given)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    prog = osp.basename(__file__)
    from custom_pose.benchmark import (check_docs, load_report,
                                       render_markdown, run_benchmark,
                                       write_docs)
    from custom_pose.errors import CustomPoseError
    from custom_pose.utils.cli import check_output_dir, fail
    try:
        if not args.from_json:  # no report file replaces an input
            ckpts = [c.split('=', 1)[-1] for c in args.checkpoints or ()]
            check_output_dir(
                args.out_dir, '--out-dir',
                [('the configs folder', args.config_dir),
                 ('the video checkpoint', args.video_checkpoint)] +
                [('a checkpoint of --checkpoints', c) for c in ckpts],
                writes=('benchmark.json', 'benchmark.md'))
        if args.update_docs:  # before a run of up to an hour, not after it
            check_docs(args.docs_file, args.update_docs)
        if args.from_json:
            report = load_report(args.from_json)
        else:
            command = ' '.join(
                ['python', 'tools/analysis_tools/benchmark.py'] + [
                    shlex.quote(a)
                    for a in (sys.argv[1:] if argv is None else argv)
                ])
            report = run_benchmark(_options(args), command=command)
        print(render_markdown(report))
        if args.update_docs:
            write_docs(report, args.docs_file, args.update_docs)
            print(f'updated: {args.docs_file} and {args.update_docs}')
    except (ValueError, OSError, CustomPoseError) as exc:
        fail(prog, str(exc))
    if not args.from_json:
        print(f'written: {osp.join(args.out_dir, "benchmark.json")} and '
              f'{osp.join(args.out_dir, "benchmark.md")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
