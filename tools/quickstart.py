#!/usr/bin/env python
"""Quickstart on the embedded synthetic data (``make demo``).

1. generate the synthetic Animal-Pose dataset (original format), if absent;
2. evaluate the untrained model (COCO AP, PCK);
3. train the quickstart config on the CPU (or GPU when present);
4. evaluate the trained model;
5. render the demo video of the synthetic clip with the trained model.

Everything lands in ``work_dirs/quickstart/``; a summary table and
``summary.json`` close the run. Each step runs the user-facing command
(tools/train.py, tools/test.py, the video demo), so this is also an end-to-end
check of them.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from custom_pose.apis import save_untrained_checkpoint
from custom_pose.utils import cli
from custom_pose.utils.atomic_io import write_json_atomic

PROG = 'quickstart.py'
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs/animal/custom_res18_quickstart_synthetic_128x128.py')
DEMO = osp.join(ROOT, 'demo/top_down_video_demo_full_frame_without_det.py')


def run(step: str, cmd: list) -> None:
    print(f'\n==> {step}\n    {" ".join(cmd)}', flush=True)
    code = subprocess.run(cmd, cwd=ROOT).returncode
    if code:
        cli.fail(PROG, f'step {step.strip()} failed (exit status {code}); '
                 'its message is above', code)


@cli.one_line_errors(PROG)
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default='data/animalpose_synthetic')
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument('--num-images', type=int, default=1500)
    parser.add_argument('--image-size', type=int, default=160)
    parser.add_argument('--epochs', type=int, default=None,
                        help='override train_cfg.max_epochs')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    start = time.time()
    py = sys.executable
    data_root = osp.join(ROOT, args.data_root)
    work_dir = osp.join(ROOT, args.work_dir)
    cli.check_output_dir(work_dir, '--work-dir',
                         [('the data root', data_root), ('the config', CONFIG)])
    os.makedirs(work_dir, exist_ok=True)
    common = ['--cfg-options', f'data_root={data_root}']

    if osp.isfile(osp.join(data_root, 'keypoints.json')):
        print(f'==> 1/5 synthetic dataset already in {data_root}')
    else:
        run('1/5 generate the synthetic dataset',
            [py, 'tools/make_synthetic_animalpose.py', '--out-dir', data_root,
             '--num-images', str(args.num_images), '--seed', str(args.seed),
             '--image-size', str(args.image_size), str(args.image_size)])

    # 2. the untrained model, initialised exactly as training starts
    untrained = osp.join(work_dir, 'untrained.pth')
    print('\n==> 2/5 evaluate the untrained model', flush=True)
    save_untrained_checkpoint(CONFIG, untrained, seed=args.seed)
    run('    tools/test.py (untrained)',
        [py, 'tools/test.py', CONFIG, untrained, '--work-dir',
         osp.join(work_dir, 'test_untrained'), '--metrics-out',
         osp.join(work_dir, 'metrics_untrained.json')] + common)

    train_cmd = [py, 'tools/train.py', CONFIG, '--work-dir', work_dir,
                 '--seed', str(args.seed)] + common
    if args.epochs is not None:
        train_cmd.append(f'train_cfg.max_epochs={args.epochs}')
    t0 = time.time()
    run('3/5 train', train_cmd)
    train_seconds = time.time() - t0

    best = _best_checkpoint(work_dir)
    run('4/5 evaluate the trained model',
        [py, 'tools/test.py', CONFIG, best, '--work-dir',
         osp.join(work_dir, 'test_trained'), '--metrics-out',
         osp.join(work_dir, 'metrics_trained.json')] + common)

    run('5/5 render the demo video',
        [py, DEMO, CONFIG, best, '--video-path',
         osp.join(data_root, 'clip.mp4'), '--out-video-root', work_dir,
         '--device', 'cpu', '--save-predictions'])

    with open(osp.join(work_dir, 'metrics_untrained.json')) as f:
        before = json.load(f)
    with open(osp.join(work_dir, 'metrics_trained.json')) as f:
        after = json.load(f)
    summary = dict(
        config=osp.relpath(CONFIG, ROOT),
        checkpoint=osp.relpath(best, ROOT),
        video=osp.relpath(osp.join(work_dir, 'vis_clip.mp4'), ROOT),
        untrained=before,
        trained=after,
        train_seconds=round(train_seconds, 1),
        total_seconds=round(time.time() - start, 1))
    write_json_atomic(osp.join(work_dir, 'summary.json'), summary)

    keys = [k for k in ('coco/AP', 'coco/AR', 'PCK@0.05', 'PCK@0.1',
                        'PCK@0.2', 'EPE') if k in after]
    print('\n==> quickstart summary (val split of the synthetic data)')
    print(f'    {"metric":14s} {"untrained":>10s} {"trained":>10s}')
    for k in keys:
        print(f'    {k:14s} {before.get(k, float("nan")):10.4f} {after[k]:10.4f}')
    print(f'    training {train_seconds / 60:.1f} min, total '
          f'{summary["total_seconds"] / 60:.1f} min')
    print(f'    demo video: {summary["video"]}')


def _best_checkpoint(work_dir: str) -> str:
    bests = sorted(f for f in os.listdir(work_dir) if f.startswith('best_'))
    if bests:
        return osp.join(work_dir, bests[-1])
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


if __name__ == '__main__':
    main()
