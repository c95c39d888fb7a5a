#!/usr/bin/env python
"""Keypoint error of each box mode of the video demo on labelled frames.

The labelled images of one video (a DeepLabCut project's ``labeled-data``,
a SLEAP or COCO file; one animal each), in file-name order, are written as
a video; ``demo/top_down_video_demo_full_frame_without_det.py``'s loop
(:func:`custom_pose.apis.run_video`) runs on it once per ``--box-mode``,
and the predictions are compared with the labels: mean and median error in
pixels, per keypoint, and frames/s. ``auto`` says what it chose.

Example (a model trained on the project)::

    python tools/analysis_tools/box_mode_error.py CONFIG CKPT \\
        --labels /path/to/dlc-project --work-dir work_dirs/box_modes
"""
import argparse
import json
import os.path as osp
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from custom_pose.errors import InputError  # noqa: E402
from custom_pose.utils import cli  # noqa: E402
from custom_pose.utils.atomic_io import write_json_atomic  # noqa: E402

PROG = 'box_mode_error.py'
MODES = dict(auto='auto', **{'full-frame': 'start'}, track='track')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='pose config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--labels', required=True,
        help='DeepLabCut project (or CollectedData file), SLEAP .slp or '
        'COCO .json whose images are frames of one video')
    parser.add_argument('--work-dir', default='work_dirs/box_mode_error',
                        help='for the video and the predictions (default: '
                        '%(default)s)')
    parser.add_argument('--modes', nargs='+', choices=list(MODES),
                        default=list(MODES), help='box modes to run')
    parser.add_argument('--size', type=int, nargs=2, metavar=('W', 'H'),
                        help='only the images of this size (default: the '
                        'most common size)')
    parser.add_argument('--fps', type=float, default=10.0,
                        help='frame rate of the video written')
    parser.add_argument('--out-json', help='also write the figures here')
    cli.add_device_argument(parser)
    cli.add_overwrite_argument(parser)
    return parser.parse_args(argv)


def labelled_frames(path: str, size: Optional[List[int]]):
    """Image paths (file-name order), keypoint names, keypoints (T, K, 2)
    and labelled (T, K) of the first animal of each image of one size."""
    from custom_pose.datasets.formats import read_keypoints
    annots = read_keypoints(path)
    first: Dict[int, Any] = {}
    for inst in annots.instances:
        first.setdefault(inst.image_id, inst)
    images = sorted((i for i in annots.images if i.id in first),
                    key=lambda i: i.file_name)
    sizes = Counter((i.width, i.height) for i in images)
    want = tuple(size) if size else sizes.most_common(1)[0][0]
    images = [i for i in images if (i.width, i.height) == want]
    if len(images) < 2:
        raise InputError(f'{path}: fewer than 2 labelled images of '
                         f'{want[0]}x{want[1]} (sizes: {dict(sizes)})')
    kpts = np.stack([first[i.id].keypoints for i in images])
    labelled = np.stack([first[i.id].labelled for i in images])
    return [i.path for i in images], list(annots.keypoint_names), kpts, \
        labelled


def write_video(paths: List[str], out: str, fps: float) -> None:
    """The images as an ``mp4v`` video (they all have one size)."""
    import cv2
    from custom_pose.apis import VideoSink
    first = cv2.imread(paths[0])
    with VideoSink(out, fps, first.shape[1::-1]) as sink:
        for p in paths:
            sink.write(cv2.imread(p))


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    for what, path in (('config', args.config),
                       ('checkpoint', args.checkpoint)):
        cli.check_input_file(path, f'{what} file')
    inputs = [('the checkpoint', args.checkpoint), ('the labels',
                                                     args.labels)]
    inputs += cli.config_inputs(args.config)
    cli.check_outputs(
        [('--work-dir', args.work_dir, cli.Folder(('labelled_frames.mp4', ))),
         ('--out-json', args.out_json, cli.JSON_REPORT)],
        inputs, overwrite=args.overwrite)
    from custom_pose.apis import run_video
    from custom_pose.tracking import TrackingOptions
    from custom_pose.tracking.evaluation import keypoint_errors
    paths, names, truth, labelled = labelled_frames(args.labels, args.size)
    video = osp.join(args.work_dir, 'labelled_frames.mp4')
    write_video(paths, video, args.fps)
    print(f'{PROG}: {len(paths)} labelled frames -> {video}')
    rows = {}
    for mode in args.modes:
        stats = run_video(
            args.config, args.checkpoint, video, device=args.device,
            out_video_root=osp.join(args.work_dir, mode),
            save_predictions=True, progress=False,
            tracking=TrackingOptions(box_mode=MODES[mode]))
        with open(stats.out_json) as f:
            data = json.load(f)
        if data['keypoint_names'] != names:
            raise InputError(
                f'the model predicts {data["keypoint_names"]}, the labels '
                f'have {names}: give the model trained on them')
        pred = np.array([fr['instances'][0]['keypoints_raw']
                         for fr in data['frames']])
        err = keypoint_errors(pred, truth, labelled)
        per = {n: float(np.mean(keypoint_errors(pred[:, k], truth[:, k],
                                                labelled[:, k])))
               for k, n in enumerate(names) if labelled[:, k].any()}
        rows[mode] = dict(
            chose=stats.box_mode, decision=stats.box_decision,
            mean_px=float(err.mean()), median_px=float(np.median(err)),
            per_keypoint_px=per, fps=stats.fps)
    head = ' | '.join(names)
    print(f'| box mode | used | mean px | median px | {head} | frames/s |')
    print('|---' * (len(names) + 5) + '|')
    for mode, r in rows.items():
        used = 'full-frame' if r['chose'] == 'start' else r['chose']
        per = ' | '.join(f'{r["per_keypoint_px"].get(n, np.nan):.1f}'
                         for n in names)
        print(f'| {mode} | {used} | {r["mean_px"]:.1f} | '
              f'{r["median_px"]:.1f} | {per} | {r["fps"]:.1f} |')
    if 'auto' in rows and rows['auto']['decision']:
        print(f'{PROG}: auto: {rows["auto"]["decision"]["reason"]}')
    if args.out_json:
        write_json_atomic(args.out_json, dict(
            frames=len(paths), keypoint_names=names, modes=rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
