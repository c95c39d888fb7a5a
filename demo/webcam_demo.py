# Copyright (c) custom_pose contributors. All rights reserved.
"""Live animal (and human) pose estimation: detector + top-down pose models.

An mmdet 3.x detector (by default mmdet's own YOLOv3, Darknet-53 at 320x320,
whose config ships inside the installed mmdet package) finds objects in each
frame; boxes of the COCO animal classes (bird, cat, dog, horse, sheep, cow,
elephant, bear, zebra, giraffe; ``--det-cat-ids``) go to the animal pose
model, ``person`` boxes (``--human-cat-ids``) to the human pose model when
one is given. All boxes of a frame that go to one pose model are estimated
in one batch.

Animal poses get track ids (drawn with their boxes; ``--out-json`` writes
them). ``--box-mode track`` (also ``--track-box``) estimates each animal in
the box of its previous pose and runs the detector only when a pose is lost
(``--redetect-interval N``: also every N frames, for animals that enter);
``--roi X1,Y1,X2,Y2`` starts from that box instead of the detector (then no
detector checkpoint is needed), and the default ``--box-mode auto`` then
decides from the first frames, as the video demo does, whether the box
follows the animal or stays the ROI (printed, and kept in the JSON); with
the detector, ``auto`` is the detector's boxes in every frame. ``--smooth
oneeuro`` smooths the keypoints without delay (``savgol`` / ``gaussian``
only for video files). ``--backend onnxruntime --onnx model.onnx`` runs an
exported animal model. Details: ``docs/tracking_and_onnx.md``.

Capture runs in its own thread. From a camera only the newest frame is
kept, so a slow model never stalls the camera and never works on stale
frames (the dropped frames are counted). From a video file (``--cam-id
clip.mp4``) every frame is processed in order, so the output has the
input's frame count; the capture thread then waits on a small queue, so
nothing piles up in memory.

Each shown and written frame carries an overlay (top left) with the FPS and
the latency of each stage: capture (frame decode; ``age`` is how long the
frame waited), detection, pose, tracking (box propagation, track ids,
smoothing) and drawing. A frame without detections is
shown and written unchanged apart from that overlay; ``--no-overlay``
leaves it entirely unchanged. The output video has the input's size and
frame rate.

Stop with q or Esc in the window (``--show``) or Ctrl-C; the output video
is finalised either way (it is written under a temporary name beside
``--out-video-file`` and renamed when finished, or removed after an error;
``--out-json`` is written at the end, and the frames done so far every 100
frames or 5 seconds to its ``.partial.json``; no output may be an input),
and a summary (frames, mean FPS, detections per class, mean stage
latencies) is printed. It is also printed when a video file ends.

Nothing is downloaded: the checkpoints are required local files. The loop
is :func:`custom_pose.apis.run_live`.

Example (no camera needed)::

    python demo/webcam_demo.py \\
        --det_checkpoint yolov3_d53_320_273e_coco-421362b6.pth \\
        --animal_pose_config configs/animal/custom_res50_animalpose_256x256.py \\
        --animal_pose_checkpoint work_dirs/.../best_coco_AP_epoch_10.pth \\
        --cam-id data/animalpose_synthetic/clip.mp4 --out-video-file out.mp4

Exit status: 0 (also after q/Esc or Ctrl-C), 1 for a bad input (missing
file, no camera, unreadable video, incompatible checkpoint, ...; one
``<prog>: error: ...`` line), 2 for bad arguments.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from custom_pose.apis.live_loop import ANIMAL_CLASSES
from custom_pose.apis.video import parse_camera_id
from custom_pose.errors import InputError
from custom_pose.utils import cli

PROG = osp.basename(__file__)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description='Detector + top-down pose estimation on a '
        'camera or a video file, with animal and (optionally) human pose '
        'models.')
    parser.add_argument(
        '--det_config', '--det-config', default=None,
        help='mmdet 3.x detector config (default: the YOLOv3 Darknet-53 '
        '320 config inside the installed mmdet package)')
    parser.add_argument(
        '--det_checkpoint', '--det-checkpoint', default=None,
        help='detector checkpoint (local file); may be left out with --roi '
        'and no human model')
    parser.add_argument(
        '--animal_pose_config', '--animal-pose-config', required=True,
        help='animal pose model config')
    parser.add_argument(
        '--animal_pose_checkpoint', '--animal-pose-checkpoint', required=True,
        help='animal pose model checkpoint (local file)')
    parser.add_argument(
        '--human_pose_config', '--human-pose-config', default=None,
        help='human pose model config (optional)')
    parser.add_argument(
        '--human_pose_checkpoint', '--human-pose-checkpoint', default=None,
        help='human pose model checkpoint (with --human_pose_config)')
    parser.add_argument(
        '--cam-id', '--cam_id', default='0',
        help='camera index, or a video file to run without a camera')
    parser.add_argument(
        '--det-cat-ids', '--det_cat_ids', nargs='+', default=None,
        help='detector classes for the animal model: 0-based label indices '
        'or class names (default: the COCO animals ' +
        ' '.join(ANIMAL_CLASSES) + ')')
    parser.add_argument(
        '--human-cat-ids', '--human_cat_ids', nargs='+', default=None,
        help='detector classes for the human model (default: person)')
    parser.add_argument(
        '--bbox-thr', '--bbox_thr', type=float, default=0.5,
        help='detection score threshold')
    cli.add_drawing_arguments(parser)
    parser.add_argument(
        '--out-video-file', '--out_video_file', default=None,
        help='write the shown frames to this video file')
    parser.add_argument(
        '--out-json', default=None,
        help='write the animal poses of every frame (track id, box and its '
        'source, raw and smoothed keypoints) to this JSON file, in the '
        'layout of the video demo\'s predictions')
    cli.add_device_argument(parser)
    parser.add_argument(
        '--no-overlay', '--no_overlay', action='store_true',
        help='do not draw the FPS/latency overlay')
    cli.add_inference_path_arguments(
        parser, 'pose models (as in '
        'demo/top_down_video_demo_full_frame_without_det.py)')
    cli.add_tracking_arguments(parser, detector=True)
    cli.add_backend_arguments(parser)
    args = parser.parse_args(argv)
    if (args.human_pose_config is None) != (args.human_pose_checkpoint is
                                            None):
        parser.error('--human_pose_config and --human_pose_checkpoint go '
                     'together')
    if not 0.0 <= args.bbox_thr <= 1.0:
        parser.error(f'--bbox-thr must be in [0, 1], got {args.bbox_thr}')
    cli.check_drawing_arguments(parser, args)
    if args.det_checkpoint is None and (args.roi is None
                                        or args.human_pose_config):
        parser.error('--det-checkpoint is required (it may be left out only '
                     'with --roi and no human model)')
    cli.check_backend_arguments(parser, args)
    args.tracking = cli.tracking_options(
        parser, args, camera=parse_camera_id(args.cam_id) is not None)
    return args


def _check_paths(args: argparse.Namespace) -> None:
    """Files first, so a typo fails before any model loads."""
    for what, path in (('detector config', args.det_config),
                       ('detector checkpoint', args.det_checkpoint),
                       ('animal pose config', args.animal_pose_config),
                       ('animal pose checkpoint', args.animal_pose_checkpoint),
                       ('human pose config', args.human_pose_config),
                       ('human pose checkpoint', args.human_pose_checkpoint),
                       ('ONNX model', args.onnx)):
        if path is not None:
            cli.check_input_file(path, f'{what} file')
    if parse_camera_id(args.cam_id) is None:
        cam = str(args.cam_id).strip()
        if not osp.exists(cam):
            raise InputError(f'--cam-id {cam}: neither a camera index nor '
                             'an existing video file')
        cli.check_input_file(cam, 'video file')
    # no output may be an input (writing it would destroy the input) or
    # the other output
    inputs = [args.det_config, args.det_checkpoint, args.animal_pose_config,
              args.animal_pose_checkpoint, args.human_pose_config,
              args.human_pose_checkpoint, args.onnx]
    if parse_camera_id(args.cam_id) is None:
        inputs.append(str(args.cam_id).strip())
    if args.out_video_file:
        cli.check_output_file(args.out_video_file, '--out-video-file',
                              inputs)
    if args.out_json:
        from custom_pose.apis.predictions_file import partial_path
        for path in (args.out_json, partial_path(args.out_json)):
            cli.check_output_file(path, '--out-json', inputs)
            if args.out_video_file and osp.abspath(path) == osp.abspath(
                    args.out_video_file):
                raise InputError(f'--out-json {path} is also '
                                 '--out-video-file: give two different files')


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    _check_paths(args)

    from custom_pose.apis import run_live

    def started(line: str) -> None:
        sys.stderr.write(f'{PROG}: {line}\n')
        sys.stderr.flush()

    stats = run_live(
        args.cam_id, args.det_checkpoint, args.animal_pose_config,
        args.animal_pose_checkpoint, det_config=args.det_config,
        human_config=args.human_pose_config,
        human_checkpoint=args.human_pose_checkpoint,
        det_cat_ids=args.det_cat_ids, human_cat_ids=args.human_cat_ids,
        bbox_thr=args.bbox_thr, kpt_thr=args.kpt_thr, radius=args.radius,
        thickness=args.thickness, out_video=args.out_video_file,
        out_json=args.out_json, tracking=args.tracking,
        backend=args.backend, onnx=args.onnx,
        device=args.device, show=args.show, overlay=not args.no_overlay,
        fuse_conv_bn=args.fuse_conv_bn, channels_last=args.channels_last,
        amp=args.amp, window_name=f'{PROG}: {args.cam_id}',
        warn=lambda msg: sys.stderr.write(f'{PROG}: warning: {msg}\n'),
        started=started,
        on_box_mode=lambda decision: cli.print_box_mode(PROG, decision,
                                                        detector=True))
    print('\n'.join(stats.summary_lines(PROG)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
