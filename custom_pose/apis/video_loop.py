# Copyright (c) custom_pose contributors. All rights reserved.
"""Top-down pose estimation on every frame of a video, the whole frame being
the box (no detector): the loop of
``demo/top_down_video_demo_full_frame_without_det.py`` as a function.

:func:`run_video` decodes frames in a background thread, runs them through
the model in batches (:class:`~custom_pose.apis.TopdownBatchInferencer`),
draws keypoints and skeleton, writes the video and a predictions JSON, and
returns its statistics (:class:`VideoRunStats`), so the demo and the
benchmark run the same code. :func:`load_pose_estimator` and
:func:`video_io` are shared with the detector demo's loop
(:mod:`custom_pose.apis.live_loop`).
"""
import contextlib
import json
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

from custom_pose.errors import CustomPoseError, InputError, ModelConfigError
from .loading import check_device, init_pose_model
from .topdown import TopdownBatchInferencer
from .video import (Display, ThreadedFrameReader, VideoSink, VideoSource,
                    open_video_file)
from .visualize import PoseDrawer

__all__ = [
    'VideoRunStats', 'run_video', 'load_pose_estimator', 'video_io',
    'write_predictions'
]


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
        out_video (str, optional): The video written.
        out_json (str, optional): The predictions written.
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


def load_pose_estimator(config: str,
                        checkpoint: str,
                        device: str,
                        *,
                        batch_size: Optional[int] = None,
                        fuse_conv_bn: bool = True,
                        channels_last: bool = True,
                        amp: bool = False,
                        kpt_thr: float = 0.3,
                        radius: int = 4,
                        thickness: int = 1
                        ) -> Tuple[TopdownBatchInferencer, PoseDrawer]:
    """A pose model loaded strictly, prepared for inference
    (:func:`~custom_pose.models.utils.prepare_for_inference`: BN folded,
    channels-last, autocast as asked), its batch inferencer and a drawer in
    its dataset's colours.

    Raises:
        ModelConfigError, CheckpointError: A config or checkpoint that does
            not load, or metainfo that does not fit the model.
    """
    from custom_pose.models.utils import prepare_for_inference
    model = init_pose_model(config, checkpoint, device)
    try:
        prepare_for_inference(
            model, fuse_bn=fuse_conv_bn, channels_last=channels_last,
            amp=amp, inplace=True)
        inferencer = TopdownBatchInferencer(model, batch_size=batch_size)
        drawer = PoseDrawer(
            model.dataset_meta, inferencer.num_keypoints, radius=radius,
            thickness=thickness, kpt_thr=kpt_thr)
    except CustomPoseError:
        raise
    except ValueError as exc:  # e.g. colours that do not fit the model
        raise ModelConfigError(f'{config}: {exc}') from None
    return inferencer, drawer


@contextlib.contextmanager
def video_io(source: VideoSource,
             out_video: Optional[str],
             show: bool,
             window_name: str,
             warn: Optional[Callable[[str], None]],
             drop_stale: bool,
             max_queue: int = 8
             ) -> Iterator[Tuple[ThreadedFrameReader, Optional[VideoSink],
                                 Display]]:
    """The frame reader, the writer (if ``out_video``) and the window of a
    demo loop; all closed (the video finalised) on the way out, also after
    Ctrl-C. Owns ``source`` (released on every path)."""
    try:
        sink = VideoSink(out_video, source.info.fps, source.info.size) \
            if out_video else None
    except BaseException:
        source.release()
        raise
    display = Display(window_name, show, warn=warn)
    reader = ThreadedFrameReader(
        source, drop_stale=drop_stale, max_queue=max_queue)
    try:
        yield reader, sink, display
    finally:
        reader.stop()
        display.close()
        if sink is not None:
            sink.close()


def write_predictions(path: str, video: str, config: str, checkpoint: str,
                      source: VideoSource, keypoint_names: List[str],
                      frames: List[dict]) -> None:
    """The predictions JSON of :func:`run_video` (see the demo's docstring
    for its layout)."""
    info = source.info
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(
            dict(
                video=osp.abspath(video),
                config=osp.abspath(config),
                checkpoint=osp.abspath(checkpoint),
                fps=info.fps,
                width=info.width,
                height=info.height,
                num_frames=len(frames),
                num_keypoints=len(keypoint_names),
                keypoint_names=keypoint_names,
                bbox_format='xyxy',
                frames=frames), f)


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
              warn: Optional[Callable[[str], None]] = None) -> VideoRunStats:
    """Estimate, draw and write every frame of a video (the whole frame is
    the box).

    The video is opened first (a bad video fails before a model loads),
    then the model; frames are decoded in a background thread and go
    through the model ``batch_size`` at a time. Ctrl-C in the frame loop
    finalises what was written and returns with ``interrupted=True``.

    Args:
        config (str): Pose model config.
        checkpoint (str): Its checkpoint (local file).
        video_path (str): Input video.
        out_video_root (str, optional): Folder for ``vis_<video stem>.mp4``
            (and the JSON); nothing is written without it.
        save_predictions (bool): Also write ``vis_<video stem>.json`` with
            per-frame keypoints (K, 2) and scores (K) (needs
            ``out_video_root``).
        device (str, optional): Defaults to CUDA if available, else CPU.
        batch_size (int): Frames per forward pass.
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

    Returns:
        VideoRunStats: Frames, time, frames/s, device, outputs.

    Raises:
        VideoSourceError: A video that cannot be read or written.
        InputError: A bad device.
        ModelConfigError, CheckpointError: A model that does not load.
    """
    if save_predictions and not out_video_root:
        raise InputError('save_predictions needs out_video_root')
    source = open_video_file(video_path)
    try:
        device = check_device(device)
        if device.startswith('cuda'):
            import torch
            torch.backends.cudnn.benchmark = True  # fixed batch, input size
        inferencer, drawer = load_pose_estimator(
            config, checkpoint, device, batch_size=batch_size,
            fuse_conv_bn=fuse_conv_bn, channels_last=channels_last, amp=amp,
            kpt_thr=kpt_thr, radius=radius, thickness=thickness)
    except BaseException:
        source.release()
        raise
    info = source.info
    stem = osp.splitext(osp.basename(video_path))[0]
    out_video = out_json = None
    if out_video_root:
        out_video = osp.join(out_video_root, f'vis_{stem}.mp4')
        if save_predictions:
            out_json = osp.join(out_video_root, f'vis_{stem}.json')

    records: List[dict] = []
    num_done = 0
    interrupted = quit_requested = False
    start = time.perf_counter()
    with video_io(source, out_video, show,
                  window_name or osp.basename(video_path), warn,
                  drop_stale=False, max_queue=2 * batch_size) as (reader,
                                                                   sink,
                                                                   display):
        from tqdm import tqdm
        bar = tqdm(total=info.num_frames, unit='frame',
                   desc='pose estimation', file=sys.stderr,
                   dynamic_ncols=True, disable=not progress)
        try:
            batch = []
            end_of_video = False
            while not (end_of_video or quit_requested):
                packet = reader.get()
                if packet is None:
                    end_of_video = True
                else:
                    batch.append(packet.frame)
                if not batch or (len(batch) < batch_size
                                 and not end_of_video):
                    continue
                keypoints, scores = inferencer.infer_frames(batch)
                for frame, kpts, kpt_scores in zip(batch, keypoints, scores):
                    drawer.draw(frame, kpts[None], kpt_scores[None])
                    if sink is not None:
                        sink.write(frame)
                    if out_json is not None:
                        records.append(
                            dict(
                                frame_id=num_done,
                                bbox=[0, 0, info.width, info.height],
                                keypoints=kpts.tolist(),
                                keypoint_scores=kpt_scores.tolist()))
                    num_done += 1
                    if display.show(frame):
                        quit_requested = True
                        break
                bar.update(len(batch))
                batch = []
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    elapsed = time.perf_counter() - start
    if out_json is not None:
        meta = inferencer.model.dataset_meta
        names = [
            meta.get('keypoint_id2name', {}).get(i, str(i))
            for i in range(inferencer.num_keypoints)
        ]
        write_predictions(out_json, video_path, config, checkpoint, source,
                          names, records)
    return VideoRunStats(
        frames_read=reader.frames_read,
        frames_done=num_done,
        seconds=elapsed,
        fps=num_done / elapsed if elapsed > 0 else 0.0,
        device=device,
        interrupted=interrupted,
        quit_requested=quit_requested,
        out_video=out_video,
        out_json=out_json)
