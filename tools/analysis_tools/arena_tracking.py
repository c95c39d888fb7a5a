#!/usr/bin/env python
"""Box propagation, track ids and smoothing of a pose model on the synthetic
arena clips, against their ground truth
(:func:`custom_pose.tracking.measure_arena_tracking`).

Writes the clips to ``--work-dir`` (reused when present) and prints the
figures as Markdown tables: keypoint error with the whole frame as the box
against ``--track-box``, identity switches of two crossing animals, and the
error, jitter and per-frame cost of each smoother on the predictions with
noise added.

Example (the quickstart model; ``make data`` + ``tools/train.py``)::

    python tools/analysis_tools/arena_tracking.py \\
        configs/animal/custom_res18_quickstart_synthetic_128x128.py \\
        work_dirs/custom_res18_quickstart_synthetic_128x128/epoch_8.pth \\
        --work-dir work_dirs/arena --out-json work_dirs/arena/result.json
"""
import argparse
import sys
from pathlib import Path
from typing import List, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from custom_pose.errors import CustomPoseError  # noqa: E402
from custom_pose.utils import cli  # noqa: E402
from custom_pose.utils.atomic_io import (atomic_write,  # noqa: E402
                                         write_json_atomic)

PROG = 'arena_tracking.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='pose config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', default='work_dirs/arena',
                        help='where the arena clips are written '
                        '(default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the clips and the noise')
    parser.add_argument('--frames', type=int, default=96,
                        help='frames per clip (default: %(default)s)')
    parser.add_argument('--size', type=int, nargs=2, default=(640, 480),
                        metavar=('W', 'H'), help='frame size (default: 640 '
                        '480)')
    parser.add_argument('--noise-px', type=float, default=3.0,
                        help='Gaussian noise added to every predicted '
                        'keypoint before smoothing, image pixels '
                        '(default: %(default)s)')
    parser.add_argument('--redetect-interval', type=int, default=8,
                        help='frames between the stand-in detector runs on '
                        'the two-animal clip (default: %(default)s)')
    parser.add_argument('--out-json', help='also write the figures here')
    parser.add_argument('--render', metavar='IMAGE',
                        help='also write a frame of the two-animal clip with '
                        'its poses and track ids (e.g. a .png)')
    parser.add_argument('--render-frame', type=int, default=88,
                        help='the frame --render draws (default: '
                        '%(default)s)')
    cli.add_device_argument(parser)
    cli.add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if args.render and not 0 <= args.render_frame < args.frames:
        parser.error(f'--render-frame {args.render_frame} is not in the '
                     f'clip ({args.frames} frames)')
    return args


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cli.check_input_file(args.config, 'pose config file')
    cli.check_input_file(args.checkpoint, 'checkpoint file')
    inputs = [('the checkpoint', args.checkpoint)]
    inputs += cli.config_inputs(args.config)
    cli.check_outputs([('--work-dir', args.work_dir, cli.Folder()),
                       ('--out-json', args.out_json, cli.JSON_REPORT),
                       ('--render', args.render, cli.IMAGE)],
                      inputs, overwrite=args.overwrite)

    from custom_pose.apis import (PoseDrawer, TopdownBatchInferencer,
                                  draw_tracked_instances, init_pose_model)
    from custom_pose.evaluation.metrics.keypoint_utils import keypoint_names
    from custom_pose.tracking import (measure_arena_tracking,
                                      render_arena_frame, render_arena_report)
    model = init_pose_model(args.config, args.checkpoint, device=args.device)
    meta = model.dataset_meta
    names = keypoint_names(meta, meta['num_keypoints'])
    result = measure_arena_tracking(
        TopdownBatchInferencer(model).infer_bboxes, names, args.work_dir,
        sigmas=meta.get('sigmas'), seed=args.seed, num_frames=args.frames,
        image_size=tuple(args.size), noise_px=args.noise_px,
        redetect_interval=args.redetect_interval,
        keep_instances=bool(args.render),
        log=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.render:
        drawer = PoseDrawer(meta, meta['num_keypoints'])
        image = render_arena_frame(
            result, args.render_frame,
            lambda img, inst: draw_tracked_instances(img, inst, drawer))
        write_image(args.render, image)
        del result['two_animal_instances'], result['two_animal_video']
    print('\n'.join(render_arena_report(result)))
    if args.out_json:
        write_json_atomic(args.out_json, result, default=float)
    return 0


def write_image(path: str, image) -> None:
    """Write ``image`` (H, W, 3) uint8 BGR to ``path`` all-or-nothing, in
    the format of its suffix."""
    import cv2
    ok, data = cv2.imencode(Path(path).suffix or '.png', image)
    if not ok:
        raise CustomPoseError(f'could not encode an image for {path}: give '
                              'a .png or .jpg file')
    with atomic_write(path, 'wb') as f:
        f.write(data.tobytes())


if __name__ == '__main__':
    sys.exit(main())
