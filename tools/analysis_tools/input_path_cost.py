#!/usr/bin/env python
"""Per-sample CPU cost of mmpose's CPU training pipeline against the
load-only pipeline of a ``_gpuaug`` config, and the cost of the device-side
augmentation (see ``custom_pose.utils.input_path_cost``).

Example (synthetic images of Animal-Pose's typical size, 500x375)::

    python tools/analysis_tools/input_path_cost.py --generate 64 --image-size 500 375
"""
import argparse
import os.path as osp
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from custom_pose.utils import cli  # noqa: E402
from custom_pose.utils.atomic_io import write_json_atomic  # noqa: E402

PROG = 'input_path_cost.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    parser.add_argument(
        '--stock-config',
        default=str(REPO_ROOT / 'configs/animal/custom_res50_animalpose_256x256.py'))
    parser.add_argument(
        '--gpuaug-config',
        default=str(REPO_ROOT /
                    'configs/animal/custom_res50_animalpose_256x256_gpuaug.py'))
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument('--data-root', help='Animal-Pose data (original format)')
    data.add_argument('--generate', type=int, metavar='N',
                      help='time on N synthetic images made in a temp dir')
    parser.add_argument('--image-size', type=int, nargs=2, default=(500, 375),
                        metavar=('W', 'H'), help='with --generate')
    parser.add_argument('--num-samples', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', help='write the figures as JSON here')
    cli.add_overwrite_argument(parser)
    return parser.parse_args(argv)


@cli.one_line_errors(PROG)
def main(argv=None):
    args = parse_args(argv)
    from custom_pose.utils.cli import fail
    from custom_pose.utils.input_path_cost import measure_input_path_cost
    for path in (args.stock_config, args.gpuaug_config):
        if not osp.isfile(path):
            fail(PROG, f'config file not found: {path}')
    cli.check_outputs(
        [('--out', args.out, cli.JSON_REPORT)],
        [('the stock config', args.stock_config),
         ('the gpuaug config', args.gpuaug_config),
         ('the data root', args.data_root)], overwrite=args.overwrite)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if args.generate:
            from custom_pose.datasets.synthetic import \
                generate_synthetic_animalpose
            data_root = tmp
            generate_synthetic_animalpose(
                tmp, num_images=args.generate, seed=0,
                image_size=tuple(args.image_size), with_clip=False)
        elif not osp.isdir(data_root):
            fail(PROG, f'data root not found: {data_root}')
        results = measure_input_path_cost(
            args.stock_config, args.gpuaug_config, data_root,
            num_samples=args.num_samples, batch_size=args.batch_size,
            device=args.device, threads=args.threads)
    setup = results.pop('setup')
    print(f"images {setup['image_shape']} -> input {setup['input_size']}, "
          f"{setup['num_samples']} samples, {setup['threads']} thread(s), "
          f"device augmentation on {setup['device']} "
          f"(batch {setup['batch_size']})")
    print(f"{'path':<16}{'samples/s':>12}{'ms/sample':>12}")
    for name, row in results.items():
        print(f"{name:<16}{row['samples_per_s']:>12.1f}"
              f"{row['ms_per_sample']:>12.2f}")
    if args.out:
        write_json_atomic(args.out, dict(results, setup=setup), indent=2)


if __name__ == '__main__':
    sys.exit(main())
