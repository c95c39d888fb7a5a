# Copyright (c) custom_pose contributors. All rights reserved.
"""Top-down pose estimation on every frame of a video without a detector:
the loop of ``demo/top_down_video_demo_full_frame_without_det.py`` as a
function.

:func:`run_video` decodes frames in a background thread and estimates one
pose per frame: in the whole frame (or the ROI), many frames per forward
pass (:class:`~custom_pose.apis.TopdownBatchInferencer`), or in the box of
the previous frame's pose (:class:`~custom_pose.tracking.VideoPoseTracker`);
with ``box_mode='auto'`` (the demo's default) the first frames decide which
(:func:`~custom_pose.tracking.decide_box_mode`). Poses get track ids and,
as asked, temporal smoothing; the loop draws them, writes the video and a
predictions JSON, and returns its statistics (:class:`VideoRunStats`), so
the demo and the benchmark run the same code.
"""
import itertools
import os.path as osp
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from custom_pose.errors import InputError
from custom_pose.evaluation.metrics.keypoint_utils import keypoint_names
from .loading import check_device
from .loop_parts import (TrackedFrameOutput, decide_from_first_frames,
                         fit_batch_size, load_pose_estimator, video_io)
from .predictions_file import PredictionsFile, partial_path
from .video import open_video_file

__all__ = [
    'VideoRunStats', 'PredictionsFile', 'partial_path', 'video_outputs',
    'run_video'
]


def video_outputs(video_path: str, out_video_root: Optional[str],
                  save_predictions: bool = False) -> List[str]:
    """The files :func:`run_video` writes: ``vis_<video stem>.mp4`` in
    ``out_video_root`` and, with ``save_predictions``, ``vis_<video
    stem>.json`` and (while it runs) ``vis_<video stem>.partial.json``
    (none without ``out_video_root``)."""
    if not out_video_root:
        return []
    stem = osp.splitext(osp.basename(video_path))[0]
    base = osp.join(out_video_root, f'vis_{stem}')
    if not save_predictions:
        return [base + '.mp4']
    return [base + '.mp4', base + '.json', partial_path(base + '.json')]


@dataclass
class VideoRunStats:
    """What :func:`run_video` did.

    Attributes:
        frames_read (int): Frames decoded from the video.
        frames_done (int): Frames estimated (and drawn, written).
        seconds (float): Wall time of the frame loop.
        fps (float): ``frames_done / seconds``.
        device (str): The device the model ran on.
        interrupted (bool): Ctrl-C stopped the loop (the outputs hold the
            frames done so far).
        quit_requested (bool): q/Esc closed the window.
        out_video (str, optional): The video written (``None`` when no
            frame was: no file is left).
        out_json (str, optional): The predictions written.
        backend (str): ``'pytorch'`` or ``'onnxruntime'``.
        batch_size (int): Frames per forward pass used (see
            :func:`~custom_pose.apis.loop_parts.fit_batch_size`).
        undecodable (list[int]): Frames of the video that did not decode
            (``frame_id`` in the JSON is the frame's index in the video, so
            the frames after them keep their numbers).
        decode_report (str, optional): ``'57 of 64 frames decoded (frames
            21-27 undecodable)'`` when frames were left out.
        stage_ms (dict): Mean milliseconds per frame of ``propagation``,
            ``pose``, ``tracking`` and ``smoothing``.
        box_mode (str, optional): The box mode used, ``'start'`` or
            ``'track'`` (``None`` when stopped before ``'auto'`` decided).
        box_decision (dict, optional): What ``box_mode='auto'`` chose and
            why (:class:`~custom_pose.tracking.BoxModeDecision`).
    """
    frames_read: int
    frames_done: int
    seconds: float
    fps: float
    device: str
    interrupted: bool = False
    quit_requested: bool = False
    out_video: Optional[str] = None
    out_json: Optional[str] = None
    backend: str = 'pytorch'
    batch_size: int = 1
    undecodable: List[int] = field(default_factory=list)
    decode_report: Optional[str] = None
    stage_ms: Dict[str, float] = field(default_factory=dict)
    box_mode: Optional[str] = None
    box_decision: Optional[Dict[str, Any]] = None


def run_video(config: str,
              checkpoint: str,
              video_path: str,
              *,
              out_video_root: Optional[str] = None,
              save_predictions: bool = False,
              device: Optional[str] = None,
              batch_size: int = 16,
              show: bool = False,
              kpt_thr: float = 0.3,
              radius: int = 4,
              thickness: int = 1,
              fuse_conv_bn: bool = True,
              channels_last: bool = True,
              amp: bool = False,
              progress: bool = True,
              window_name: Optional[str] = None,
              warn: Optional[Callable[[str], None]] = None,
              tracking=None,
              backend: str = 'pytorch',
              onnx: Optional[str] = None,
              on_box_mode: Optional[Callable[[Any], None]] = None
              ) -> VideoRunStats:
    """Estimate, draw and write every frame of a video.

    The video is opened first (a bad video fails before a model loads),
    then the model; frames are decoded in a background thread. With
    ``tracking.box_mode='auto'`` (the demo's default) the first
    ``tracking.auto_frames`` frames decide the mode
    (:meth:`~custom_pose.tracking.TrackingOptions.decide`), and are then
    estimated in it like the others. In ``'start'`` mode the box is the
    same in every frame (the whole frame, or ``tracking.roi``) and frames go
    through the model ``batch_size`` at a time; in ``'track'`` mode, frame
    by frame. Ctrl-C in the frame loop finalises what was written and
    returns with ``interrupted=True``.

    The outputs are whole or absent: the video is written to a temporary
    file beside it and renamed when finalised (removed on an error, see
    :class:`~custom_pose.apis.VideoSink`); the JSON is written at the end,
    and while the loop runs the frames done so far go to
    ``vis_<video stem>.partial.json`` (:class:`PredictionsFile`), which a
    killed run leaves behind.

    Args:
        config (str): Pose model config.
        checkpoint (str): Its checkpoint (local file).
        video_path (str): Input video.
        out_video_root (str, optional): Folder for ``vis_<video stem>.mp4``
            (and the JSON); nothing is written without it.
        save_predictions (bool): Also write ``vis_<video stem>.json``
            (needs ``out_video_root``).
        device (str, optional): Defaults to CUDA if available, else CPU.
        batch_size (int): Frames per forward pass (lowered to what fits in
            a quarter of the available memory, with a warning).
        show (bool): Show frames in a window (q/Esc stops); ignored with a
            warning where there is no display.
        kpt_thr (float): Keypoint score threshold for drawing.
        radius (int): Keypoint radius in pixels.
        thickness (int): Skeleton link thickness in pixels.
        fuse_conv_bn (bool): Fold BN into the convs (fp32).
        channels_last (bool): Channels-last weights and activations (fp32).
        amp (bool): bf16 (CPU) / fp16 (CUDA) autocast.
        progress (bool): A progress bar on stderr.
        window_name (str, optional): Title of the window.
        warn (callable, optional): Called with a warning (e.g. no display).
        tracking (TrackingOptions, optional): Boxes, track ids and
            smoothing (:class:`custom_pose.tracking.TrackingOptions`; the
            demo's default is ``box_mode='auto'``); ``None``: the whole
            frame in every frame (``box_mode='start'``), no smoothing.
        backend (str): ``'pytorch'`` or ``'onnxruntime'`` (with ``onnx``).
        onnx (str, optional): The exported model for ``'onnxruntime'``.
        on_box_mode (callable, optional): Called once with the
            :class:`~custom_pose.tracking.BoxModeDecision` of
            ``box_mode='auto'`` (what it chose and why).

    Returns:
        VideoRunStats: Frames, time, frames/s, device, outputs.

    Raises:
        VideoSourceError: A video that cannot be read or written.
        InputError: A bad device, backend or ROI.
        ModelConfigError, CheckpointError, OnnxModelError: A model that does
            not load.
    """
    from custom_pose.tracking import TrackingOptions
    tracking = tracking if tracking is not None else TrackingOptions(
        box_mode='start')
    if save_predictions and not out_video_root:
        raise InputError('save_predictions needs out_video_root')
    if batch_size < 1:
        raise InputError(f'batch_size must be >= 1, got {batch_size}')
    source = open_video_file(video_path)
    try:
        info = source.info
        tracking.check(info.size)
        device = check_device(device)
        if device.startswith('cuda') and backend == 'pytorch':
            import torch
            torch.backends.cudnn.benchmark = True  # fixed batch, input size
        inferencer, drawer = load_pose_estimator(
            config, checkpoint, device, batch_size=batch_size,
            fuse_conv_bn=fuse_conv_bn, channels_last=channels_last, amp=amp,
            kpt_thr=kpt_thr, radius=radius, thickness=thickness,
            backend=backend, onnx=onnx)
        # what a frame takes, measured on the model, caps the batch
        batch_size, batch_note = fit_batch_size(
            batch_size, info.size, inferencer=inferencer)
        if batch_note and warn is not None:
            warn(batch_note)
    except BaseException:
        source.release()
        raise
    meta = inferencer.model.dataset_meta
    smoother = tracking.smoother(info.fps)
    outputs = video_outputs(video_path, out_video_root, save_predictions)
    out_video, out_json = (outputs + [None, None])[:2]
    predictions = None if out_json is None else PredictionsFile(
        out_json, video_path, config, checkpoint, source,
        keypoint_names(meta, inferencer.num_keypoints), backend=backend,
        onnx=onnx)

    interrupted = False
    smooth_s = 0.0
    video = None
    start = time.perf_counter()
    with video_io(source, out_video, show,
                  window_name or osp.basename(video_path), warn,
                  drop_stale=False, max_queue=2 * batch_size) as (reader,
                                                                   sink,
                                                                   display):
        output = TrackedFrameOutput(
            drawer, sink, display, out_json is not None,
            boxes=lambda insts: any(i.bbox_source != 'full_frame'
                                    for i in insts))
        from tqdm import tqdm
        bar = None
        try:
            tracking, first = decide_from_first_frames(
                reader, tracking, inferencer.infer_bboxes,
                on_box_mode=on_box_mode)
            bar = tqdm(total=info.num_frames, unit='frame',
                       desc='pose estimation', file=sys.stderr,
                       dynamic_ncols=True, disable=not progress)
            fixed = tracking.fixed_box(info.size)
            video = tracking.video_tracker(inferencer.infer_bboxes, meta)
            step = batch_size if fixed is not None else 1

            def estimate(batch: List[Any]) -> None:
                nonlocal smooth_s
                if fixed is not None:  # one box for all: many frames a pass
                    box, box_source = fixed
                    t0 = time.perf_counter()
                    kpts, scores = inferencer.infer_frames(
                        [p.frame for p in batch],
                        None if box_source == 'full_frame' else box)
                    # what video(frame) times itself on the other path
                    video.seconds['pose'] += time.perf_counter() - t0
                    estimated = [
                        video.record(p.frame, box[None], [box_source],
                                     k[None], s[None])
                        for p, k, s in zip(batch, kpts, scores)
                    ]
                else:
                    estimated = [video(p.frame) for p in batch]
                t0 = time.perf_counter()
                released = []
                for p, instances in zip(batch, estimated):
                    released += smoother.push(instances, (p.index, p.frame))
                smooth_s += time.perf_counter() - t0
                bar.update(len(batch))
                output(released)
                if predictions is not None:
                    predictions.update(output.records, tracking)

            batch = []
            for packet in itertools.chain(first, iter(reader.get, None)):
                batch.append(packet)
                if len(batch) == step:
                    estimate(batch)
                    batch = []
                    if output.quit_requested:
                        break
            if batch and not output.quit_requested:
                estimate(batch)
            if not output.quit_requested:
                t0 = time.perf_counter()
                released = smoother.flush()
                smooth_s += time.perf_counter() - t0
                output(released)
        except KeyboardInterrupt:
            interrupted = True  # the video and JSON keep the frames done
        except BaseException:
            if sink is not None:
                sink.abort()  # no partial video at out_video
            raise
        finally:
            if bar is not None:
                bar.close()
    elapsed = time.perf_counter() - start
    stage_ms = video.mean_ms() if video is not None else {}
    stage_ms['smoothing'] = 1000.0 * smooth_s / max(
        1, video.num_frames if video is not None else 0)
    if predictions is not None:
        predictions.save(output.records, tracking)
    return VideoRunStats(
        frames_read=reader.frames_read,
        frames_done=output.frames,
        seconds=elapsed,
        fps=output.frames / elapsed if elapsed > 0 else 0.0,
        device=device,
        interrupted=interrupted,
        quit_requested=output.quit_requested,
        out_video=out_video if sink is not None and sink.committed else None,
        out_json=out_json,
        backend=backend,
        batch_size=batch_size,
        undecodable=list(source.undecodable),
        decode_report=source.decode_report(),
        stage_ms=stage_ms,
        box_mode=tracking.mode,
        box_decision=tracking.decision_dict())
