# Copyright (c) custom_pose contributors. All rights reserved.
"""Video input for the demos: opening and probing sources.

This module holds the sources (:class:`VideoSource`, :func:`open_video_file`,
:func:`open_camera`, :func:`read_video_frames`, ...). The writer
(:class:`~custom_pose.apis.video_output.VideoSink`) and the display
(:class:`~custom_pose.apis.video_output.Display`) live in
:mod:`custom_pose.apis.video_output`, the capture thread
(:class:`ThreadedFrameReader`, :class:`FramePacket`) in
:mod:`custom_pose.apis.frame_reader`, and the log silencing used while
probing (:func:`silence_opencv_log`) in :mod:`custom_pose.apis.opencv_quiet`;
the last two are re-exported here.

Everything here needs only OpenCV and numpy.
"""
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from custom_pose.errors import CustomPoseError
from .frame_reader import FramePacket, ThreadedFrameReader
from .opencv_quiet import quiet_native_stderr, silence_opencv_log

__all__ = [
    'VideoSourceError', 'VideoInfo', 'VideoSource', 'FramePacket',
    'open_video_file', 'open_camera', 'open_video_source', 'parse_camera_id',
    'ThreadedFrameReader', 'silence_opencv_log', 'describe_frame_ranges',
    'read_video_frames'
]

#: Frame rate used when a source does not report one (many webcams).
FALLBACK_FPS = 30.0
#: Failed reads in a row after which a video file is taken to have ended
#: (a garbled stretch of a file fails once per undecodable frame).
MAX_FAILED_READS = 256


class VideoSourceError(CustomPoseError, ValueError):
    """A video file or camera that cannot be opened or read."""


@dataclass(frozen=True)
class VideoInfo:
    """Properties of an opened video source.

    Attributes:
        fps (float): Frames per second (``FALLBACK_FPS`` where the source
            reports none).
        width (int): Frame width in pixels.
        height (int): Frame height in pixels.
        num_frames (int, optional): Frame count the container reports (may
            be approximate), ``None`` for cameras or unknown.
        is_camera (bool): Whether the source is a live camera.
        name (str): The file path, or ``camera <id>``.
    """
    fps: float
    width: int
    height: int
    num_frames: Optional[int]
    is_camera: bool
    name: str

    @property
    def size(self) -> Tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height


def _probe(cap: cv2.VideoCapture, frame: np.ndarray, name: str,
           is_camera: bool) -> VideoInfo:
    """Properties of an opened capture; the size is the first frame's."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = FALLBACK_FPS
    num_frames = None
    if not is_camera:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        num_frames = count if count > 0 else None
    return VideoInfo(
        fps=float(fps),
        width=int(frame.shape[1]),
        height=int(frame.shape[0]),
        num_frames=num_frames,
        is_camera=is_camera,
        name=name)


def describe_frame_ranges(indices: Sequence[int]) -> str:
    """``[21, 22, 23, 27]`` -> ``'21-23, 27'``."""
    parts: List[str] = []
    last = 0  # read only once ``parts`` holds a range
    for index in sorted(set(int(i) for i in indices)):
        if parts and index == last + 1:
            parts[-1] = f'{parts[-1].split("-")[0]}-{index}'
        else:
            parts.append(str(index))
        last = index
    return ', '.join(parts)


class VideoSource:
    """An opened video file or camera whose first frame has been decoded.

    :meth:`read` returns that first frame again before the rest, so nothing
    is lost to probing and no seek is needed. :meth:`read_indexed` also
    gives each frame's index in the source: a file's frames are numbered by
    their time stamps, so a frame that does not decode (a garbled stretch
    of the file) leaves a gap instead of renumbering the frames after it;
    reading goes on past such frames (up to :data:`MAX_FAILED_READS` failed
    reads in a row) and :attr:`undecodable` lists them.

    Attributes:
        cap (cv2.VideoCapture): The capture.
        info (VideoInfo): Its properties.
        frames_decoded (int): Frames :meth:`read_indexed` returned.
        undecodable (list[int]): Indices of the file's frames that did not
            decode (gaps, and the frames the container counts after the
            last one that decoded when reading failed there).
    """

    def __init__(self, cap: cv2.VideoCapture, info: VideoInfo,
                 first_frame: np.ndarray) -> None:
        self.cap = cap
        self.info = info
        self._pending: Optional[np.ndarray] = first_frame
        self._first_index = self._position(-1)
        self._last_index = -1
        self.frames_decoded = 0
        self.undecodable: List[int] = []

    def _position(self, previous: int) -> int:
        """Index of the frame just decoded: from its time stamp for a file
        (``previous + 1`` where the stamp is missing or does not advance),
        the count for a camera."""
        if self.info.is_camera:
            return previous + 1
        msec = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        if not np.isfinite(msec) or msec < 0:
            return previous + 1
        index = int(round(msec * self.info.fps / 1000.0))
        return index if index > previous else previous + 1

    def read(self) -> Tuple[bool, Optional[np.ndarray]]:
        """``(ok, frame)`` like ``cv2.VideoCapture.read``."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return True, frame
        return self.cap.read()

    def read_indexed(self) -> Optional[Tuple[int, np.ndarray]]:
        """The next frame that decodes and its index in the source, or
        ``None`` at the end."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            index = self._first_index
        else:
            failed = 0
            while True:
                ok, frame = self.cap.read()
                if ok and frame is not None:
                    break
                failed += 1
                count = self.info.num_frames
                if self.info.is_camera or failed >= MAX_FAILED_READS or (
                        count is not None
                        and self._last_index + failed >= count):
                    if failed > 1 and count is not None:
                        # reading failed before the frames the file counts
                        self.undecodable += range(self._last_index + 1,
                                                  count)
                    return None
            index = self._position(self._last_index)
        self.undecodable += range(self._last_index + 1, index)
        self._last_index = index
        self.frames_decoded += 1
        return index, frame

    def decode_report(self) -> Optional[str]:
        """``'57 of 64 frames decoded (frames 21-27 undecodable)'``, or
        ``None`` when no frame was left out."""
        if not self.undecodable:
            return None
        total = self.frames_decoded + len(self.undecodable)
        return (f'{self.frames_decoded} of {total} frames decoded (frames '
                f'{describe_frame_ranges(self.undecodable)} undecodable)')

    def release(self) -> None:
        """Release the capture."""
        self._pending = None
        self.cap.release()


def _open(target: Union[str, int]) -> Tuple[cv2.VideoCapture,
                                            Optional[np.ndarray]]:
    """Open ``target`` quietly and decode one frame (``None`` if none)."""
    silence_opencv_log()
    with quiet_native_stderr():
        cap = cv2.VideoCapture(target)
        frame = None
        if cap.isOpened():
            ok, frame = cap.read()
            if not ok:
                frame = None
    if frame is not None and (frame.ndim != 3 or frame.shape[2] != 3):
        frame = None
    if frame is None:
        cap.release()
    return cap, frame


def open_video_file(path: str) -> VideoSource:
    """Open a video file and check that a first frame decodes.

    Args:
        path (str): Video file.

    Returns:
        VideoSource: The opened file.

    Raises:
        VideoSourceError: If the file is missing, is not a file, or holds no
            frame OpenCV/FFmpeg can decode.
    """
    if not osp.exists(path):
        raise VideoSourceError(f'video file not found: {path}')
    if not osp.isfile(path):
        raise VideoSourceError(f'video path is not a file: {path}')
    cap, frame = _open(path)
    if frame is None:
        raise VideoSourceError(
            f'cannot read video {path}: no decodable video stream '
            '(not a video file OpenCV/FFmpeg can read, or empty)')
    return VideoSource(cap, _probe(cap, frame, path, is_camera=False), frame)


def read_video_frames(path: str,
                      max_frames: Optional[int] = None) -> List[np.ndarray]:
    """The frames of a video file, BGR (H, W, 3) uint8.

    Args:
        path (str): Video file.
        max_frames (int, optional): Stop after this many frames (default:
            read to the end).

    Raises:
        VideoSourceError: As :func:`open_video_file`.
    """
    source = open_video_file(path)
    frames = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = source.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        source.release()
    return frames


def open_camera(cam_id: int) -> VideoSource:
    """Open a camera by index and check that it delivers a frame.

    Raises:
        VideoSourceError: If there is no such camera or it gives no frame.
    """
    cap, frame = _open(cam_id)
    if frame is None:
        raise VideoSourceError(
            f'cannot open camera {cam_id}: no such camera, or it is busy or '
            'gives no frames (pass a video file to --cam-id to run without '
            'a camera)')
    return VideoSource(
        cap, _probe(cap, frame, f'camera {cam_id}', is_camera=True), frame)


def parse_camera_id(source: Union[str, int]) -> Optional[int]:
    """The camera index in ``source`` (``'0'``, ``2``), ``None`` for a
    file path."""
    if isinstance(source, int):
        return source
    text = str(source).strip()
    if text.isdigit():
        return int(text)
    return None


def open_video_source(source: Union[str, int]) -> VideoSource:
    """Open a camera (an integer id such as ``0`` or ``'0'``) or a video
    file (any other string).

    Raises:
        VideoSourceError: If it cannot be opened or read.
    """
    cam_id = parse_camera_id(source)
    if cam_id is not None:
        return open_camera(cam_id)
    return open_video_file(str(source))
