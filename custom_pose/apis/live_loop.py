# Copyright (c) custom_pose contributors. All rights reserved.
"""Detector + top-down pose models on a camera or a video file: the loop of
``demo/webcam_demo.py`` as a function.

:func:`run_live` finds objects in each frame with an mmdet detector, sends
the boxes of the animal classes to the animal pose model and ``person``
boxes to the human pose model (when one is given), each model estimating
all its boxes of a frame in one batch, draws everything with an overlay of
the FPS and the latency of each stage, and returns its statistics
(:class:`LiveRunStats`). By default the detector's boxes go to the animal
model in every frame; in ``'track'`` box mode the animal boxes come from
the previous frame's poses and the detector runs only when a pose is lost.
A ROI replaces the detector as the start box, and then the default
``'auto'`` box mode decides from the first frames between the ROI in every
frame and the propagated box. Animal poses get track ids and, as asked,
smoothing (:class:`~custom_pose.tracking.TrackingOptions`).

Capture runs in its own thread. From a camera only the newest frame is
kept, so a slow model never stalls the camera and never works on stale
frames (the dropped frames are counted). From a video file every frame is
processed in order.
"""
import itertools
import time
from collections import Counter, deque
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from custom_pose.errors import InputError
from custom_pose.evaluation.metrics.keypoint_utils import keypoint_names
from .detector import DetectorInferencer, init_detector_model
from .live_stats import STAGES, LiveRunStats, StageTimer
from .loading import check_device
from .loop_parts import (TrackedFrameOutput, decide_from_first_frames,
                         load_pose_estimator, video_io)
from .predictions_file import PredictionsFile
from .video import open_video_source
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


def run_live(source: str,
             det_checkpoint: Optional[str],
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
             out_json: Optional[str] = None,
             device: Optional[str] = None,
             show: bool = False,
             overlay: bool = True,
             fuse_conv_bn: bool = True,
             channels_last: bool = True,
             amp: bool = False,
             tracking=None,
             backend: str = 'pytorch',
             onnx: Optional[str] = None,
             window_name: Optional[str] = None,
             warn: Optional[Callable[[str], None]] = None,
             started: Optional[Callable[[str], None]] = None,
             on_box_mode: Optional[Callable[[Any], None]] = None
             ) -> LiveRunStats:
    """Detect, estimate and draw every frame of a camera or a video file
    until it ends, q/Esc in the window or Ctrl-C (the output is finalised
    either way).

    The animal poses go through a :class:`~custom_pose.tracking.
    VideoPoseTracker` built from ``tracking``: by default the detector's
    boxes in every frame; with ``tracking.box_mode='track'`` the previous
    poses' boxes, the detector running only when a pose is lost (or every
    ``tracking.redetect_interval`` frames); with ``tracking.roi`` that box
    instead of the detector, and ``box_mode='auto'`` decides from the
    first ``tracking.auto_frames`` frames whether it follows the animal
    (:meth:`~custom_pose.tracking.TrackingOptions.decide`). They get track
    ids and, as asked, smoothing.

    Args:
        source (str): A camera index (``'0'``) or a video file.
        det_checkpoint (str, optional): Detector checkpoint (local file);
            ``None`` only with ``tracking.roi`` and no human model.
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
        out_video (str, optional): Write the shown frames to this file
            (whole or not at all: see :class:`~custom_pose.apis.VideoSink`).
        out_json (str, optional): Write the animal poses of every frame
            (track id, box and its source, raw and smoothed keypoints) to
            this file, in the layout of the video demo's predictions; the
            frames so far also go to its ``.partial.json`` while the loop
            runs (:class:`~custom_pose.apis.predictions_file.PredictionsFile`).
        device (str, optional): Defaults to CUDA if available, else CPU.
        show (bool): Show the frames in a window.
        overlay (bool): Draw the FPS/latency overlay.
        fuse_conv_bn, channels_last, amp (bool): The pose models' numeric
            path (see :func:`load_pose_estimator`).
        tracking (TrackingOptions, optional): Boxes, track ids, smoothing
            of the animal poses (``None``: the start box, the detector's
            boxes or the ROI, in every frame, no smoothing).
        backend (str): ``'pytorch'`` or ``'onnxruntime'`` (the animal model
            from ``onnx``).
        onnx (str, optional): The exported animal model.
        window_name (str, optional): Title of the window.
        warn (callable, optional): Called with a warning (e.g. no display).
        started (callable, optional): Called with a line saying what runs
            where, when the frame loop starts.
        on_box_mode (callable, optional): Called once with the
            :class:`~custom_pose.tracking.BoxModeDecision` of
            ``box_mode='auto'`` (what it chose and why).

    Raises:
        VideoSourceError: No camera, an unreadable video, an unwritable
            output.
        InputError: A bad device, class, ROI or option combination.
        ModelConfigError, CheckpointError, OnnxModelError: A model that
            does not load.
    """
    from custom_pose.tracking import OFFLINE_METHODS, TrackingOptions
    tracking = tracking if tracking is not None else TrackingOptions(
        box_mode='start')
    if (human_config is None) != (human_checkpoint is None):
        raise InputError('a human pose config and checkpoint go together')
    if det_checkpoint is None and (tracking.roi is None
                                   or human_config is not None):
        raise InputError('a detector checkpoint is needed (without one, '
                         'give --roi and no human model)')
    # the source first: no camera -> fail before loading any model
    video = open_video_source(source)
    try:
        info = video.info
        if info.is_camera and tracking.smooth in OFFLINE_METHODS:
            raise InputError(f'--smooth {tracking.smooth} needs future '
                             'frames: use oneeuro with a camera')
        tracking.check(info.size)
        device = check_device(device)
        detector, classes = None, []
        animal_ids: List[int] = []
        if det_checkpoint is not None:
            detector = DetectorInferencer(
                init_detector_model(det_config, det_checkpoint, device))
            classes = detector.classes
            animal_ids = resolve_categories(det_cat_ids, ANIMAL_CLASSES,
                                            classes, '--det-cat-ids')
        animal, drawer = load_pose_estimator(
            animal_config, animal_checkpoint, device,
            fuse_conv_bn=fuse_conv_bn, channels_last=channels_last, amp=amp,
            kpt_thr=kpt_thr, radius=radius, thickness=thickness,
            backend=backend, onnx=onnx)
        human = None
        if human_config is not None:
            human_ids = resolve_categories(human_cat_ids, HUMAN_CLASSES,
                                           classes, '--human-cat-ids')
            both = set(animal_ids) & set(human_ids)
            if both:
                raise InputError(
                    'classes routed to both pose models: ' +
                    ', '.join(str(classes[i]) for i in sorted(both)))
            human = (np.array(human_ids), *load_pose_estimator(
                human_config, human_checkpoint, device,
                fuse_conv_bn=fuse_conv_bn, channels_last=channels_last,
                amp=amp, kpt_thr=kpt_thr, radius=radius,
                thickness=thickness))
    except BaseException:
        video.release()
        raise

    timer = StageTimer(STAGES)
    overlay_scale = max(0.3, min(0.7, info.width / 1280))
    det_counts: Counter = Counter()
    pose_counts: Counter = Counter(animal=0, **({'human': 0} if human
                                                else {}))
    recent: deque = deque(maxlen=30)  # end times of the last frames, FPS
    frame_det: Dict[str, Any] = {}  # the detector's result for one frame

    def detect(frame: np.ndarray):
        if frame_det.get('frame') is not frame:
            t = time.perf_counter()
            frame_det.update(frame=frame, result=detector(frame),
                             seconds=time.perf_counter() - t)
        return frame_det['result']

    def animal_boxes(frame: np.ndarray) -> np.ndarray:
        bboxes, scores, labels = detect(frame)
        sel = (scores >= bbox_thr) & np.isin(labels, animal_ids)
        det_counts.update(str(classes[i]) for i in labels[sel])
        return bboxes[sel]

    smoother = tracking.smoother(info.fps)
    predictions = None if out_json is None else PredictionsFile(
        out_json, info.name, animal_config, animal_checkpoint, video,
        keypoint_names(animal.model.dataset_meta, animal.num_keypoints),
        backend=backend, onnx=onnx)
    num_frames = 0
    stopped_by = 'camera stopped' if info.is_camera else 'end of video'
    with video_io(video, out_video, show, window_name or info.name, warn,
                  drop_stale=info.is_camera) as (reader, sink, display):
        output = TrackedFrameOutput(drawer, sink, display,
                                    out_json is not None, boxes=lambda i: True)
        if started is not None:
            stop_keys = 'Ctrl-C' + (' or q/Esc in the window'
                                    if display.enabled else '')
            started(f'running on {info.name} ({info.width}x{info.height} @ '
                    f'{info.fps:g} fps) on {device}; {stop_keys} stops')
        start = time.perf_counter()

        def emit(released) -> bool:
            """Draw, write and show the frames the smoother released."""
            for payload, instances in released:
                packet, frame, humans, times, t0 = payload
                t = time.perf_counter()
                output.draw(packet.index, frame, instances)
                for boxes, names, kpts, kpt_scores, human_drawer in humans:
                    draw_bboxes(frame, boxes, names)
                    human_drawer.draw(frame, kpts, kpt_scores)
                times['draw'] = time.perf_counter() - t
                timer.add(times)
                recent.append(time.perf_counter())
                if overlay:
                    _draw_overlay(frame, packet, reader, info.is_camera,
                                  timer, recent, t0, overlay_scale)
                # the window shows the frame as it is written: poses,
                # humans and overlay
                if output.emit(frame):
                    return True
            return False

        try:
            quit_requested = False
            tracking, first = decide_from_first_frames(
                reader, tracking, animal.infer_bboxes,
                detector=detector is not None, on_box_mode=on_box_mode)
            tracker = tracking.video_tracker(
                animal.infer_bboxes, animal.model.dataset_meta,
                detector=animal_boxes if detector is not None else None)
            for packet in itertools.chain(first, reader):
                frame = packet.frame
                t0 = time.perf_counter()
                frame_det.clear()
                before = tracker.seconds['propagation'] + \
                    tracker.seconds['tracking']
                instances = tracker(frame)
                t_tracked = time.perf_counter()
                # the detector, where the tracker ran it
                det_tracker = frame_det.get('seconds', 0.0)
                humans = []
                if human is not None:
                    bboxes, scores, labels = detect(frame)
                    sel = (scores >= bbox_thr) & np.isin(labels, human[0])
                    if sel.any():
                        kpts, kpt_scores = human[1].infer_bboxes(
                            frame, bboxes[sel])
                        names = [str(classes[i]) for i in labels[sel]]
                        humans.append((bboxes[sel], names, kpts, kpt_scores,
                                       human[2]))
                        pose_counts['human'] += int(sel.sum())
                        det_counts.update(names)
                t1 = time.perf_counter()
                pose_counts['animal'] += len(instances)
                times: Dict[str, float] = dict(capture=packet.read_time)
                # the frame travels with its poses through the smoother
                released = smoother.push(
                    instances, (packet, frame, humans, times, t0),
                    packet.timestamp if info.is_camera else None)
                t2 = time.perf_counter()
                # the tracker's propagation time includes the detector's
                # where it ran it; else the human branch ran it
                det_s = frame_det.get('seconds', 0.0)
                steps = tracker.seconds['propagation'] + \
                    tracker.seconds['tracking'] - before
                times.update(
                    det=det_s,
                    pose=(t_tracked - t0 - steps) +
                    (t1 - t_tracked - (det_s - det_tracker)),
                    track=steps - det_tracker + (t2 - t1))
                num_frames += 1
                if emit(released):
                    stopped_by = 'q/Esc'
                    quit_requested = True
                    break
                if predictions is not None:  # frames so far, now and then
                    predictions.update(output.records, tracking)
            if not quit_requested:
                emit(smoother.flush())
        except KeyboardInterrupt:
            stopped_by = 'Ctrl-C'  # the video and JSON keep the frames done
        except BaseException:
            if sink is not None:
                sink.abort()  # no partial video at out_video
            raise
    elapsed = time.perf_counter() - start
    if predictions is not None:
        predictions.save(output.records, tracking)
    return LiveRunStats(
        source=info.name,
        frames=num_frames,
        dropped=reader.dropped,
        seconds=elapsed,
        fps=num_frames / elapsed if elapsed > 0 else 0.0,
        device=device,
        stopped_by=stopped_by,
        detections=det_counts,
        pose_instances=dict(pose_counts),
        mean_latency_ms={s: timer.mean_ms(s) for s in STAGES},
        bbox_thr=bbox_thr,
        out_video=out_video if sink is not None and sink.committed else None,
        frames_written=sink.frames_written if sink is not None else 0,
        size=info.size,
        source_fps=info.fps,
        out_json=out_json,
        decode_report=video.decode_report(),
        box_mode=tracking.mode,
        box_decision=tracking.decision_dict())


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
        f"track {last['track']:.1f} | draw {last['draw']:.1f} ms",
    ]
    draw_text_panel(frame, lines, scale=scale)
