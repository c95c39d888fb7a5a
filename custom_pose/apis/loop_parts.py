# Copyright (c) custom_pose contributors. All rights reserved.
"""What the two demo loops (:func:`~custom_pose.apis.run_video`,
:func:`~custom_pose.apis.run_live`) share: loading a pose model for a
backend (:func:`load_pose_estimator`), the reader / writer / window of a
loop (:func:`video_io`), the batch that fits in memory
(:func:`fit_batch_size`, :func:`available_memory`: from :mod:`.memory`),
the first frames that decide the box mode (:func:`decide_from_first_frames`),
and the output of tracked frames (:class:`TrackedFrameOutput`).
"""
import contextlib
from typing import (Any, Callable, Iterator, List, Optional, Sequence,
                    Tuple)

import numpy as np

from custom_pose.errors import CustomPoseError, InputError, ModelConfigError
from .loading import init_pose_model
from .memory import available_memory, fit_batch_size
from .topdown import TopdownBatchInferencer
from .video import ThreadedFrameReader, VideoSource
from .video_output import Display, VideoSink
from .visualize import PoseDrawer, draw_tracked_instances

__all__ = [
    'BACKENDS', 'load_pose_estimator', 'video_io', 'available_memory',
    'fit_batch_size', 'first_packets', 'decide_from_first_frames',
    'TrackedFrameOutput'
]

#: ``--backend`` values: PyTorch, or an exported ONNX model run by
#: onnxruntime (``--onnx``).
BACKENDS = ('pytorch', 'onnxruntime')

Warn = Optional[Callable[[str], None]]


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
                        thickness: int = 1,
                        backend: str = 'pytorch',
                        onnx: Optional[str] = None
                        ) -> Tuple[TopdownBatchInferencer, PoseDrawer]:
    """A pose model loaded strictly, its batch inferencer and a drawer in
    its dataset's colours.

    With ``backend='pytorch'`` the model is prepared for inference
    (:func:`~custom_pose.models.utils.prepare_for_inference`: BN folded,
    channels-last, autocast as asked). With ``'onnxruntime'`` the network
    call of the inferencer runs the exported ``onnx`` file instead
    (:class:`~custom_pose.deploy.OnnxHeatmapModel`); the checkpoint still
    gives the dataset meta, and cropping, flip test, decoding and drawing
    stay the same.

    Raises:
        ModelConfigError, CheckpointError: A config or checkpoint that does
            not load, or metainfo that does not fit the model.
        OnnxModelError, KeypointMismatchError: An ONNX file that does not
            load or predicts another number of keypoints.
        InputError: An unknown backend, or onnxruntime without ``onnx``.
    """
    if backend not in BACKENDS:
        raise InputError(f'--backend {backend!r}: use one of '
                         f'{", ".join(BACKENDS)}')
    if (backend == 'onnxruntime') != (onnx is not None):
        raise InputError('--backend onnxruntime and --onnx MODEL.onnx go '
                         'together')
    model = init_pose_model(config, checkpoint, device)
    try:
        if backend == 'pytorch':
            from custom_pose.models.utils import prepare_for_inference
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
    if backend == 'onnxruntime':
        from custom_pose.deploy import OnnxHeatmapModel
        inferencer.use_heatmap_fn(
            OnnxHeatmapModel(onnx, inferencer.num_keypoints,
                             inferencer.input_size, device=device,
                             config_name=config))
    return inferencer, drawer


@contextlib.contextmanager
def video_io(source: VideoSource,
             out_video: Optional[str],
             show: bool,
             window_name: str,
             warn: Warn,
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


def first_packets(reader: ThreadedFrameReader, count: int) -> List[Any]:
    """Up to ``count`` frame packets of ``reader`` (fewer where the source
    ends first)."""
    packets: List[Any] = []
    while len(packets) < count:
        packet = reader.get()
        if packet is None:
            break
        packets.append(packet)
    return packets


def decide_from_first_frames(
        reader: ThreadedFrameReader, tracking: Any, pose_fn: Callable,
        detector: bool = False,
        on_box_mode: Optional[Callable[[Any], None]] = None
) -> Tuple[Any, List[Any]]:
    """``tracking`` (:class:`~custom_pose.tracking.TrackingOptions`) with
    ``box_mode='auto'`` decided from the reader's first frames
    (:meth:`~custom_pose.tracking.TrackingOptions.decide`; ``on_box_mode``
    gets the decision), and those frame packets, which the loop estimates
    before the frames it reads after them.

    Returns:
        tuple: The decided options and the packets read (none where
        nothing was left to decide, or a detector gives the start boxes).
    """
    first: List[Any] = []
    if tracking.needs_frames(detector):
        first = first_packets(reader, tracking.auto_frames)
    if tracking.mode is None:
        tracking = tracking.decide(pose_fn, [p.frame for p in first],
                                   detector=detector)
        if on_box_mode is not None:
            on_box_mode(tracking.box_decision)
    return tracking, first


class TrackedFrameOutput:
    """Draw each frame's tracked poses, write the frame, keep its JSON
    record and show it.

    Args:
        drawer (PoseDrawer): Draws keypoints and skeletons.
        sink (VideoSink, optional): The output video.
        display (Display): The window (a no-op without one).
        records (bool): Keep a record per frame (for the predictions JSON).
        boxes (callable): ``instances -> bool``: draw their boxes and ids.
    """

    def __init__(self, drawer: PoseDrawer, sink: Optional[VideoSink],
                 display: Display, records: bool,
                 boxes: Callable[[Sequence], bool]) -> None:
        self.drawer = drawer
        self.sink = sink
        self.display = display
        self.records: Optional[List[dict]] = [] if records else None
        self.boxes = boxes
        self.frames = 0
        self.quit_requested = False

    def __call__(self, released: Sequence[Tuple[Any, Sequence]]) -> bool:
        """Output frames released by a smoother: ``((frame index, frame),
        instances)`` each; True once q/Esc was pressed in the window."""
        for (index, frame), instances in released:
            self.draw(index, frame, instances)
            if self.emit(frame):
                return True
        return False

    def draw(self, index: int, frame: np.ndarray,
             instances: Sequence) -> None:
        """Draw a frame's tracked poses (in place) and keep its record."""
        draw_tracked_instances(frame, instances, self.drawer,
                               boxes=self.boxes(instances))
        if self.records is not None:
            self.records.append(
                dict(frame_id=int(index),
                     instances=[i.to_dict() for i in instances]))
        self.frames += 1

    def emit(self, frame: np.ndarray) -> bool:
        """Write and show a drawn frame; True once q/Esc was pressed."""
        if self.sink is not None:
            self.sink.write(frame)
        if self.display.show(frame):
            self.quit_requested = True
        return self.quit_requested
