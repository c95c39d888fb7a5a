# Copyright (c) custom_pose contributors. All rights reserved.
"""Live animal (and human) pose estimation: detector + top-down pose models.

An mmdet 3.x detector (by default mmdet's own YOLOv3, Darknet-53 at 320x320,
whose config ships inside the installed mmdet package) finds objects in each
frame; boxes of the COCO animal classes (bird, cat, dog, horse, sheep, cow,
elephant, bear, zebra, giraffe; ``--det-cat-ids``) go to the animal pose
model, ``person`` boxes (``--human-cat-ids``) to the human pose model when
one is given. All boxes of a frame that go to one pose model are estimated
in one batch.

Capture runs in its own thread. From a camera only the newest frame is
kept, so a slow model never stalls the camera and never works on stale
frames (the dropped frames are counted). From a video file (``--cam-id
clip.mp4``) every frame is processed in order, so the output has the
input's frame count; the capture thread then waits on a small queue, so
nothing piles up in memory.

Each shown and written frame carries an overlay (top left) with the FPS and
the latency of each stage: capture (frame decode; ``age`` is how long the
frame waited), detection, pose and drawing. A frame without detections is
shown and written unchanged apart from that overlay; ``--no-overlay``
leaves it entirely unchanged. The output video has the input's size and
frame rate.

Stop with q or Esc in the window (``--show``) or Ctrl-C; the output video
is finalised either way, and a summary (frames, mean FPS, detections per
class, mean stage latencies) is printed. It is also printed when a video
file ends.

Nothing is downloaded: the checkpoints are required local files.

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
import time
import warnings
from collections import Counter, deque
from typing import Dict, List, NoReturn, Optional, Sequence

#: COCO classes routed to the animal model by default.
ANIMAL_CLASSES = ('bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant',
                  'bear', 'zebra', 'giraffe')
#: COCO classes routed to the human model by default.
HUMAN_CLASSES = ('person', )
STAGES = ('capture', 'det', 'pose', 'draw')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Detector + top-down pose estimation on a camera or a '
        'video file, with animal and (optionally) human pose models.')
    parser.add_argument(
        '--det_config', '--det-config', default=None,
        help='mmdet 3.x detector config (default: the YOLOv3 Darknet-53 '
        '320 config inside the installed mmdet package)')
    parser.add_argument(
        '--det_checkpoint', '--det-checkpoint', required=True,
        help='detector checkpoint (local file)')
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
    parser.add_argument(
        '--kpt-thr', '--kpt_thr', type=float, default=0.3,
        help='keypoint score threshold for drawing')
    parser.add_argument(
        '--radius', type=int, default=4, help='keypoint radius in pixels')
    parser.add_argument(
        '--thickness', type=int, default=1,
        help='skeleton link thickness in pixels')
    parser.add_argument(
        '--out-video-file', '--out_video_file', default=None,
        help='write the shown frames to this video file')
    parser.add_argument(
        '--device', default=None,
        help='device, e.g. cpu or cuda:0 (default: cuda:0 if available, '
        'else cpu)')
    parser.add_argument(
        '--show', action='store_true',
        help='show the frames in a window (q/Esc quits); ignored with a '
        'warning where there is no display')
    parser.add_argument(
        '--no-overlay', '--no_overlay', action='store_true',
        help='do not draw the FPS/latency overlay')
    for flag, default, what in (
            ('--fuse-conv-bn', True, 'fold BN into the convs (fp32)'),
            ('--channels-last', True, 'channels-last layout (fp32)'),
            ('--amp', False, 'bf16 (CPU) / fp16 (CUDA) autocast')):
        parser.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=default,
            help=f'pose models: {what}, as in '
            'demo/top_down_video_demo_full_frame_without_det.py')
    args = parser.parse_args(argv)
    if (args.human_pose_config is None) != (args.human_pose_checkpoint is
                                            None):
        parser.error('--human_pose_config and --human_pose_checkpoint go '
                     'together')
    for name in ('bbox_thr', 'kpt_thr'):
        value = getattr(args, name)
        if not 0.0 <= value <= 1.0:
            parser.error(f'--{name.replace("_", "-")} must be in [0, 1], '
                         f'got {value}')
    if args.radius < 0 or args.thickness < 1:
        parser.error('--radius must be >= 0 and --thickness >= 1')
    args.prog = parser.prog
    return args


def _fail(prog: str, message: str, code: int = 1) -> NoReturn:
    """One ``<prog>: error: <message>`` line on stderr, then exit."""
    sys.stderr.write(f'{prog}: error: {message}\n')
    sys.exit(code)


def _check_files(args: argparse.Namespace) -> None:
    """Existence checks that need no heavy import, so they fail fast."""
    files = [('detector config', args.det_config),
             ('detector checkpoint', args.det_checkpoint),
             ('animal pose config', args.animal_pose_config),
             ('animal pose checkpoint', args.animal_pose_checkpoint),
             ('human pose config', args.human_pose_config),
             ('human pose checkpoint', args.human_pose_checkpoint)]
    for what, path in files:
        if path is None:
            continue
        if 'checkpoint' in what and '://' in path:
            _fail(args.prog, f'{what} {path}: only local files are accepted '
                  '(nothing is downloaded at run time)')
        if not osp.isfile(path):
            _fail(args.prog, f'{what} file not found: {path}')
    cam = str(args.cam_id).strip()
    if not cam.isdigit() and not osp.isfile(cam):
        _fail(args.prog, f'--cam-id {cam}: neither a camera index nor an '
              'existing video file')


def resolve_categories(specs: Optional[Sequence[str]],
                       defaults: Sequence[str], classes: Sequence[str],
                       option: str) -> List[int]:
    """Label indices for ``--det-cat-ids``-style arguments.

    Args:
        specs (Sequence[str], optional): Indices or class names given by the
            user; ``None`` for ``defaults`` (class names; those the detector
            lacks are skipped).
        defaults (Sequence[str]): Default class names.
        classes (Sequence[str]): The detector's class names.
        option (str): The option, for messages.

    Raises:
        ValueError: For an unknown name or an index out of range.
    """
    lookup = {str(c).lower(): i for i, c in enumerate(classes)}
    if specs is None:
        ids = [lookup[n] for n in defaults if n in lookup]
        if not ids:
            raise ValueError(
                f'{option}: the detector has none of the default classes '
                f'{list(defaults)}; give {option} explicitly')
        return ids
    ids = []
    for spec in specs:
        spec = str(spec).strip()
        if spec.isdigit():
            idx = int(spec)
            if idx >= len(classes):
                raise ValueError(f'{option} {idx}: the detector has '
                                 f'{len(classes)} classes (0..'
                                 f'{len(classes) - 1})')
        elif spec.lower() in lookup:
            idx = lookup[spec.lower()]
        else:
            raise ValueError(f'{option} {spec!r}: not a class of the '
                             f'detector ({", ".join(map(str, classes[:12]))}'
                             ', ...)')
        ids.append(idx)
    return sorted(set(ids))


class StageTimer:
    """Per-stage latencies: the last value (for the overlay) and the sum
    (for the summary), in seconds."""

    def __init__(self, stages: Sequence[str]) -> None:
        self.last: Dict[str, float] = {s: 0.0 for s in stages}
        self.total: Dict[str, float] = {s: 0.0 for s in stages}
        self.count = 0

    def add(self, values: Dict[str, float]) -> None:
        for key, value in values.items():
            self.last[key] = value
            self.total[key] += value
        self.count += 1

    def mean_ms(self, stage: str) -> float:
        return 1000.0 * self.total[stage] / max(self.count, 1)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    prog = args.prog
    _check_files(args)

    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    import numpy as np

    from custom_pose.apis import (CheckpointError, DetectorInferencer,
                                  Display, ModelConfigError, PoseDrawer,
                                  ThreadedFrameReader, TopdownBatchInferencer,
                                  VideoSink, VideoSourceError, check_device,
                                  draw_bboxes, draw_text_panel,
                                  init_detector_model, init_pose_model,
                                  open_video_source)
    from custom_pose.models.utils import prepare_for_inference

    # the source first: no camera -> fail before loading any model
    try:
        source = open_video_source(args.cam_id)
        device = check_device(args.device)
    except (VideoSourceError, ValueError) as exc:
        _fail(prog, str(exc))
    info = source.info

    try:
        detector = DetectorInferencer(
            init_detector_model(args.det_config, args.det_checkpoint, device))
        classes = detector.classes
        animal_ids = resolve_categories(args.det_cat_ids, ANIMAL_CLASSES,
                                        classes, '--det-cat-ids')
        pose_models = [('animal', args.animal_pose_config,
                        args.animal_pose_checkpoint, animal_ids)]
        if args.human_pose_config is not None:
            human_ids = resolve_categories(args.human_cat_ids, HUMAN_CLASSES,
                                           classes, '--human-cat-ids')
            both = set(animal_ids) & set(human_ids)
            if both:
                raise ValueError(
                    'classes routed to both pose models: ' +
                    ', '.join(str(classes[i]) for i in sorted(both)))
            pose_models.append(('human', args.human_pose_config,
                                args.human_pose_checkpoint, human_ids))
        routes = []  # (kind, label ids, inferencer, drawer)
        for kind, cfg, ckpt, ids in pose_models:
            model = prepare_for_inference(
                init_pose_model(cfg, ckpt, device),
                fuse_bn=args.fuse_conv_bn, channels_last=args.channels_last,
                amp=args.amp, inplace=True)
            inferencer = TopdownBatchInferencer(model, batch_size=None)
            drawer = PoseDrawer(model.dataset_meta, inferencer.num_keypoints,
                                radius=args.radius, thickness=args.thickness,
                                kpt_thr=args.kpt_thr)
            routes.append((kind, np.array(ids), inferencer, drawer))
    except (ModelConfigError, CheckpointError, ValueError) as exc:
        source.release()
        _fail(prog, str(exc))

    sink = None
    if args.out_video_file:
        try:
            sink = VideoSink(args.out_video_file, info.fps, info.size)
        except (VideoSourceError, OSError) as exc:
            source.release()
            _fail(prog, str(exc))

    display = Display(
        f'{prog}: {info.name}', args.show,
        warn=lambda msg: sys.stderr.write(f'{prog}: warning: {msg}\n'))
    reader = ThreadedFrameReader(source, drop_stale=info.is_camera)
    timer = StageTimer(STAGES)
    overlay_scale = max(0.3, min(0.7, info.width / 1280))
    det_counts: Counter = Counter()
    pose_counts: Counter = Counter()
    recent = deque(maxlen=30)  # end times of the last frames, for FPS
    num_frames = 0
    stopped_by = 'end of video' if not info.is_camera else 'camera stopped'
    stop_keys = 'Ctrl-C' + (' or q/Esc in the window' if display.enabled
                            else '')
    sys.stderr.write(
        f'{prog}: running on {info.name} ({info.width}x{info.height} @ '
        f'{info.fps:g} fps) on {device}; {stop_keys} stops\n')
    sys.stderr.flush()
    start = time.perf_counter()
    try:
        while True:
            packet = reader.get()
            if packet is None:
                break
            frame = packet.frame
            t0 = time.perf_counter()
            bboxes, scores, labels = detector(frame)
            t1 = time.perf_counter()
            keep = scores >= args.bbox_thr
            results = []
            for kind, ids, inferencer, drawer in routes:
                sel = keep & np.isin(labels, ids)
                if not sel.any():
                    continue
                boxes = bboxes[sel]
                kpts, kpt_scores = inferencer.infer_bboxes(frame, boxes)
                results.append((drawer, boxes, labels[sel], kpts, kpt_scores))
                pose_counts[kind] += len(boxes)
                det_counts.update(str(classes[i]) for i in labels[sel])
            t2 = time.perf_counter()
            for drawer, boxes, box_labels, kpts, kpt_scores in results:
                draw_bboxes(frame, boxes,
                            [str(classes[i]) for i in box_labels])
                drawer.draw(frame, kpts, kpt_scores)
            t3 = time.perf_counter()
            timer.add(
                dict(capture=packet.read_time, det=t1 - t0, pose=t2 - t1,
                     draw=t3 - t2))
            recent.append(t3)
            if not args.no_overlay:
                fps = ((len(recent) - 1) / (recent[-1] - recent[0])
                       if len(recent) > 1 and recent[-1] > recent[0] else 0.)
                last = {k: 1000.0 * v for k, v in timer.last.items()}
                age = 1000.0 * (t0 - packet.timestamp)
                lines = [
                    f'FPS {fps:.1f} | frame {packet.index}' +
                    (f' | dropped {reader.dropped}' if info.is_camera else ''),
                    f"capture {last['capture']:.1f} ms (age {age:.0f} ms)",
                    f"det {last['det']:.1f} | pose {last['pose']:.1f} | "
                    f"draw {last['draw']:.1f} ms",
                ]
                draw_text_panel(frame, lines, scale=overlay_scale)
            if sink is not None:
                sink.write(frame)
            num_frames += 1
            if display.show(frame):
                stopped_by = 'q/Esc'
                break
    except KeyboardInterrupt:
        stopped_by = 'Ctrl-C'
    finally:
        reader.stop()
        display.close()
        if sink is not None:
            sink.close()

    elapsed = time.perf_counter() - start
    fps = num_frames / elapsed if elapsed > 0 else 0.0
    dets = ', '.join(f'{k}={v}' for k, v in sorted(det_counts.items()))
    poses = ', '.join(f'{k}={pose_counts[k]}' for k, *_ in routes)
    print(f'{prog}: stopped by {stopped_by}')
    print(f'frames: {num_frames} (dropped {reader.dropped}) in '
          f'{elapsed:.1f} s, mean FPS {fps:.2f}')
    print(f'detections (bbox_thr {args.bbox_thr:g}): {dets or "none"}')
    print(f'pose instances: {poses}')
    print('mean latency: ' + ', '.join(f'{s} {timer.mean_ms(s):.1f} ms'
                                       for s in STAGES))
    if sink is not None:
        print(f'output: {args.out_video_file} ({sink.frames_written} '
              f'frames, {info.width}x{info.height} @ {info.fps:g} fps)')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # while loading, before the frame loop
        sys.stderr.write(f'{osp.basename(sys.argv[0])}: interrupted\n')
        sys.exit(130)
