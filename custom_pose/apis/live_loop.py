# Copyright (c) custom_pose contributors. All rights reserved.
"""Detector + top-down pose models on a camera or a video file: the loop of
``demo/webcam_demo.py`` as a function.

:func:`run_live` finds objects in each frame with an mmdet detector, sends
the boxes of the animal classes to the animal pose model and ``person``
boxes to the human pose model (when one is given), each model estimating
all its boxes of a frame in one batch, draws everything with an overlay of
the FPS and the latency of each stage, and returns its statistics
(:class:`LiveRunStats`).

Capture runs in its own thread. From a camera only the newest frame is
kept, so a slow model never stalls the camera and never works on stale
frames (the dropped frames are counted). From a video file every frame is
processed in order.
"""
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from custom_pose.errors import InputError
from .detector import DetectorInferencer, init_detector_model
from .loading import check_device
from .video import open_video_source
from .video_loop import load_pose_estimator, video_io
from .visualize import draw_bboxes, draw_text_panel

__all__ = [
    'ANIMAL_CLASSES', 'HUMAN_CLASSES', 'STAGES', 'StageTimer',
    'LiveRunStats', 'resolve_categories', 'run_live'
]

#: COCO classes routed to the animal model by default.
ANIMAL_CLASSES = ('bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant',
                  'bear', 'zebra', 'giraffe')
#: COCO classes routed to the human model by default.
HUMAN_CLASSES = ('person', )
#: The timed stages of a frame.
STAGES = ('capture', 'det', 'pose', 'draw')


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
        InputError: For an unknown name or an index out of range.
    """
    lookup = {str(c).lower(): i for i, c in enumerate(classes)}
    if specs is None:
        ids = [lookup[n] for n in defaults if n in lookup]
        if not ids:
            raise InputError(
                f'{option}: the detector has none of the default classes '
                f'{list(defaults)}; give {option} explicitly')
        return ids
    ids = []
    for spec in specs:
        spec = str(spec).strip()
        if spec.isdigit():
            idx = int(spec)
            if idx >= len(classes):
                raise InputError(f'{option} {idx}: the detector has '
                                 f'{len(classes)} classes (0..'
                                 f'{len(classes) - 1})')
        elif spec.lower() in lookup:
            idx = lookup[spec.lower()]
        else:
            raise InputError(f'{option} {spec!r}: not a class of the '
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


@dataclass
class LiveRunStats:
    """What :func:`run_live` did.

    Attributes:
        source (str): The camera or file.
        frames (int): Frames processed.
        dropped (int): Camera frames dropped because a newer one arrived.
        seconds (float): Wall time of the frame loop.
        fps (float): ``frames / seconds``.
        device (str): The device the models ran on.
        stopped_by (str): ``'end of video'``, ``'camera stopped'``,
            ``'q/Esc'`` or ``'Ctrl-C'``.
        detections (Counter): Boxes above the threshold sent to a pose
            model, per class name.
        pose_instances (dict): Instances estimated, per pose model
            (``'animal'``, ``'human'``).
        mean_latency_ms (dict): Mean milliseconds per stage (:data:`STAGES`).
        bbox_thr (float): The detection threshold used.
        out_video (str, optional): The video written.
        frames_written (int): Frames in it.
        size (tuple): ``(width, height)`` of the frames.
        source_fps (float): The source's frame rate (also the output's).
    """
    source: str
    frames: int
    dropped: int
    seconds: float
    fps: float
    device: str
    stopped_by: str
    detections: Counter = field(default_factory=Counter)
    pose_instances: Dict[str, int] = field(default_factory=dict)
    mean_latency_ms: Dict[str, float] = field(default_factory=dict)
    bbox_thr: float = 0.5
    out_video: Optional[str] = None
    frames_written: int = 0
    size: Tuple[int, int] = (0, 0)
    source_fps: float = 0.0

    def summary_lines(self, prog: str) -> List[str]:
        """The demo's closing summary."""
        dets = ', '.join(f'{k}={v}' for k, v in sorted(
            self.detections.items()))
        poses = ', '.join(f'{k}={v}' for k, v in self.pose_instances.items())
        lines = [
            f'{prog}: stopped by {self.stopped_by}',
            f'frames: {self.frames} (dropped {self.dropped}) in '
            f'{self.seconds:.1f} s, mean FPS {self.fps:.2f}',
            f'detections (bbox_thr {self.bbox_thr:g}): {dets or "none"}',
            f'pose instances: {poses}',
            'mean latency: ' + ', '.join(
                f'{s} {v:.1f} ms' for s, v in self.mean_latency_ms.items()),
        ]
        if self.out_video is not None:
            lines.append(
                f'output: {self.out_video} ({self.frames_written} frames, '
                f'{self.size[0]}x{self.size[1]} @ {self.source_fps:g} fps)')
        return lines


def run_live(source: str,
             det_checkpoint: str,
             animal_config: str,
             animal_checkpoint: str,
             *,
             det_config: Optional[str] = None,
             human_config: Optional[str] = None,
             human_checkpoint: Optional[str] = None,
             det_cat_ids: Optional[Sequence[str]] = None,
             human_cat_ids: Optional[Sequence[str]] = None,
             bbox_thr: float = 0.5,
             kpt_thr: float = 0.3,
             radius: int = 4,
             thickness: int = 1,
             out_video: Optional[str] = None,
             device: Optional[str] = None,
             show: bool = False,
             overlay: bool = True,
             fuse_conv_bn: bool = True,
             channels_last: bool = True,
             amp: bool = False,
             window_name: Optional[str] = None,
             warn: Optional[Callable[[str], None]] = None,
             started: Optional[Callable[[str], None]] = None
             ) -> LiveRunStats:
    """Detect, estimate and draw every frame of a camera or a video file
    until it ends, q/Esc in the window or Ctrl-C (the output is finalised
    either way).

    Args:
        source (str): A camera index (``'0'``) or a video file.
        det_checkpoint (str): Detector checkpoint (local file).
        animal_config (str): Animal pose model config.
        animal_checkpoint (str): Its checkpoint.
        det_config (str, optional): mmdet 3.x detector config; ``None`` for
            mmdet's bundled YOLOv3 Darknet-53 320.
        human_config (str, optional): Human pose model config.
        human_checkpoint (str, optional): Its checkpoint.
        det_cat_ids (Sequence[str], optional): Classes for the animal model
            (indices or names); default :data:`ANIMAL_CLASSES`.
        human_cat_ids (Sequence[str], optional): Classes for the human
            model; default :data:`HUMAN_CLASSES`.
        bbox_thr (float): Detection score threshold.
        kpt_thr (float): Keypoint score threshold for drawing.
        radius (int): Keypoint radius in pixels.
        thickness (int): Skeleton link thickness in pixels.
        out_video (str, optional): Write the shown frames to this file.
        device (str, optional): Defaults to CUDA if available, else CPU.
        show (bool): Show the frames in a window.
        overlay (bool): Draw the FPS/latency overlay.
        fuse_conv_bn, channels_last, amp (bool): The pose models' numeric
            path (see :func:`load_pose_estimator`).
        window_name (str, optional): Title of the window.
        warn (callable, optional): Called with a warning (e.g. no display).
        started (callable, optional): Called with a line saying what runs
            where, when the frame loop starts.

    Raises:
        VideoSourceError: No camera, an unreadable video, an unwritable
            output.
        InputError: A bad device or class.
        ModelConfigError, CheckpointError: A model that does not load.
    """
    if (human_config is None) != (human_checkpoint is None):
        raise InputError('a human pose config and checkpoint go together')
    # the source first: no camera -> fail before loading any model
    video = open_video_source(source)
    try:
        device = check_device(device)
        detector = DetectorInferencer(
            init_detector_model(det_config, det_checkpoint, device))
        classes = detector.classes
        animal_ids = resolve_categories(det_cat_ids, ANIMAL_CLASSES, classes,
                                        '--det-cat-ids')
        models = [('animal', animal_config, animal_checkpoint, animal_ids)]
        if human_config is not None:
            human_ids = resolve_categories(human_cat_ids, HUMAN_CLASSES,
                                           classes, '--human-cat-ids')
            both = set(animal_ids) & set(human_ids)
            if both:
                raise InputError(
                    'classes routed to both pose models: ' +
                    ', '.join(str(classes[i]) for i in sorted(both)))
            models.append(('human', human_config, human_checkpoint,
                           human_ids))
        routes = []  # (kind, label ids, inferencer, drawer)
        for kind, cfg, ckpt, ids in models:
            inferencer, drawer = load_pose_estimator(
                cfg, ckpt, device, fuse_conv_bn=fuse_conv_bn,
                channels_last=channels_last, amp=amp, kpt_thr=kpt_thr,
                radius=radius, thickness=thickness)
            routes.append((kind, np.array(ids), inferencer, drawer))
    except BaseException:
        video.release()
        raise

    info = video.info
    timer = StageTimer(STAGES)
    overlay_scale = max(0.3, min(0.7, info.width / 1280))
    det_counts: Counter = Counter()
    pose_counts: Counter = Counter()
    recent: deque = deque(maxlen=30)  # end times of the last frames, FPS
    num_frames = 0
    stopped_by = 'camera stopped' if info.is_camera else 'end of video'
    with video_io(video, out_video, show, window_name or info.name, warn,
                  drop_stale=info.is_camera) as (reader, sink, display):
        if started is not None:
            stop_keys = 'Ctrl-C' + (' or q/Esc in the window'
                                    if display.enabled else '')
            started(f'running on {info.name} ({info.width}x{info.height} @ '
                    f'{info.fps:g} fps) on {device}; {stop_keys} stops')
        start = time.perf_counter()
        try:
            for packet in reader:
                frame = packet.frame
                t0 = time.perf_counter()
                bboxes, scores, labels = detector(frame)
                t1 = time.perf_counter()
                keep = scores >= bbox_thr
                results = []
                for kind, ids, inferencer, drawer in routes:
                    sel = keep & np.isin(labels, ids)
                    if not sel.any():
                        continue
                    boxes = bboxes[sel]
                    kpts, kpt_scores = inferencer.infer_bboxes(frame, boxes)
                    results.append(
                        (drawer, boxes, labels[sel], kpts, kpt_scores))
                    pose_counts[kind] += len(boxes)
                    det_counts.update(str(classes[i]) for i in labels[sel])
                t2 = time.perf_counter()
                for drawer, boxes, box_labels, kpts, kpt_scores in results:
                    draw_bboxes(frame, boxes,
                                [str(classes[i]) for i in box_labels])
                    drawer.draw(frame, kpts, kpt_scores)
                t3 = time.perf_counter()
                timer.add(
                    dict(capture=packet.read_time, det=t1 - t0,
                         pose=t2 - t1, draw=t3 - t2))
                recent.append(t3)
                if overlay:
                    _draw_overlay(frame, packet, reader, info.is_camera,
                                  timer, recent, t0, overlay_scale)
                if sink is not None:
                    sink.write(frame)
                num_frames += 1
                if display.show(frame):
                    stopped_by = 'q/Esc'
                    break
        except KeyboardInterrupt:
            stopped_by = 'Ctrl-C'
    elapsed = time.perf_counter() - start
    return LiveRunStats(
        source=info.name,
        frames=num_frames,
        dropped=reader.dropped,
        seconds=elapsed,
        fps=num_frames / elapsed if elapsed > 0 else 0.0,
        device=device,
        stopped_by=stopped_by,
        detections=det_counts,
        pose_instances={kind: pose_counts[kind] for kind, *_ in routes},
        mean_latency_ms={s: timer.mean_ms(s) for s in STAGES},
        bbox_thr=bbox_thr,
        out_video=out_video,
        frames_written=sink.frames_written if sink is not None else 0,
        size=info.size,
        source_fps=info.fps)


def _draw_overlay(frame: np.ndarray, packet, reader, is_camera: bool,
                  timer: StageTimer, recent: deque, t0: float,
                  scale: float) -> None:
    """FPS, frame index (and dropped frames) and the stage latencies."""
    fps = ((len(recent) - 1) / (recent[-1] - recent[0])
           if len(recent) > 1 and recent[-1] > recent[0] else 0.)
    last = {k: 1000.0 * v for k, v in timer.last.items()}
    age = 1000.0 * (t0 - packet.timestamp)
    lines = [
        f'FPS {fps:.1f} | frame {packet.index}' +
        (f' | dropped {reader.dropped}' if is_camera else ''),
        f"capture {last['capture']:.1f} ms (age {age:.0f} ms)",
        f"det {last['det']:.1f} | pose {last['pose']:.1f} | "
        f"draw {last['draw']:.1f} ms",
    ]
    draw_text_panel(frame, lines, scale=scale)
