# Copyright (c) custom_pose contributors. All rights reserved.
"""Video input/output for the demos: opening and probing sources, a capture
thread, a video writer and a display that degrades gracefully without a
screen.

This module holds the sources (:class:`VideoSource`, :func:`open_video_file`,
:func:`open_camera`, :func:`read_video_frames`, ...), the writer
(:class:`VideoSink`) and the display (:class:`Display`). The capture thread
(:class:`ThreadedFrameReader`, :class:`FramePacket`) lives in
:mod:`custom_pose.apis.frame_reader`, and the log silencing used while
probing (:func:`silence_opencv_log`) in :mod:`custom_pose.apis.opencv_quiet`;
both are re-exported here.

Everything here needs only OpenCV and numpy.
"""
import os
import os.path as osp
import sys
import warnings
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from custom_pose.errors import CustomPoseError
from custom_pose.utils.atomic_io import (TEMP_SUFFIX, commit_temp_path,
                                         discard_temp_path, reserve_temp_path)
from .frame_reader import FramePacket, ThreadedFrameReader
from .opencv_quiet import quiet_native_stderr, silence_opencv_log

__all__ = [
    'VideoSourceError', 'VideoInfo', 'VideoSource', 'FramePacket',
    'open_video_file', 'open_camera', 'open_video_source', 'parse_camera_id',
    'ThreadedFrameReader', 'VideoSink', 'Display', 'display_available',
    'silence_opencv_log', 'describe_frame_ranges', 'read_video_frames'
]

#: FourCC of the videos the demos write (MPEG-4 part 2, plays everywhere
#: and needs no extra codec in OpenCV's FFmpeg build).
DEFAULT_FOURCC = 'mp4v'
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


class VideoSink:
    """Write BGR frames to a video file with OpenCV (FourCC ``mp4v``), whole
    or not at all.

    The frames go to a temporary file beside ``path``
    (``.<name>.<random>.tmp<ext>``: the extension stays last, so OpenCV
    picks the container by it); :meth:`close` finalises it, checks that it
    reads back with every frame (a full disk or a file-size limit leaves a
    file OpenCV cannot open, and OpenCV's writer does not report it) and
    renames it to ``path``. :meth:`abort` (and leaving the ``with`` block on
    an error other than Ctrl-C) removes it, leaving ``path`` as it was.
    Creates the parent directory. Every frame must have the size given at
    construction.

    Args:
        path (str): Output file (``.mp4``).
        fps (float): Frame rate.
        size (tuple[int, int]): Frame ``(width, height)``.
        fourcc (str): Four-character codec code. Defaults to ``'mp4v'``.

    Attributes:
        temp_path (str, optional): The file being written, until
            :meth:`close` or :meth:`abort`.
        committed (bool): :meth:`close` wrote ``path`` (``False`` for a
            video without frames: no file is written).

    Raises:
        VideoSourceError: If OpenCV cannot open the file for writing.
    """

    def __init__(self,
                 path: str,
                 fps: float,
                 size: Tuple[int, int],
                 fourcc: str = DEFAULT_FOURCC) -> None:
        self.path = path
        self.size = (int(size[0]), int(size[1]))
        self.frames_written = 0
        self.committed = False
        ext = osp.splitext(path)[1]
        self.temp_path: Optional[str] = reserve_temp_path(
            path, suffix=TEMP_SUFFIX + ext)
        self._writer = cv2.VideoWriter(
            self.temp_path, cv2.VideoWriter_fourcc(*fourcc), float(fps),
            self.size)
        if not self._writer.isOpened():
            self.abort()
            raise VideoSourceError(
                f'cannot write video {path} (FourCC {fourcc!r}, '
                f'{self.size[0]}x{self.size[1]} at {fps:g} fps)')

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR frame (H, W, 3) uint8."""
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise ValueError(
                f'frame of size {frame.shape[1]}x{frame.shape[0]} does not '
                f'match the video size {self.size[0]}x{self.size[1]}')
        self._writer.write(frame)
        self.frames_written += 1

    def _reads_back(self) -> bool:
        """Whether the finalised temporary file opens and holds every
        frame written (where the container reports a count)."""
        silence_opencv_log()
        with quiet_native_stderr():
            cap = cv2.VideoCapture(self.temp_path)
            try:
                if not cap.isOpened():
                    return False
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
                return count <= 0 or count == self.frames_written
            finally:
                cap.release()

    def close(self) -> None:
        """Finalise the file and rename it to :attr:`path` (no file for a
        video without frames). Idempotent.

        Raises:
            VideoSourceError: The file written does not read back (a full
                disk, a file-size limit); it is removed.
        """
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self.frames_written == 0:
            self.abort()
            return
        if not self._reads_back():
            self.abort()
            raise VideoSourceError(
                f'cannot write video {self.path}: the {self.frames_written} '
                'frames written do not read back (a full disk or a file-size '
                'limit?); no video was written')
        commit_temp_path(self.temp_path, self.path)
        self.temp_path = None
        self.committed = True

    def abort(self) -> None:
        """Stop writing and remove the temporary file; :attr:`path` is left
        as it was. Idempotent."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        discard_temp_path(self.temp_path)
        self.temp_path = None

    def __enter__(self) -> 'VideoSink':
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()  # Ctrl-C: the frames so far make a whole video
        else:
            self.abort()


def display_available() -> bool:
    """Whether a window can be opened: on Linux/BSD an X11 or Wayland
    display must be set (OpenCV's Qt backend aborts the process without
    one); elsewhere assume yes."""
    if sys.platform.startswith(('linux', 'freebsd', 'openbsd')):
        return bool(os.environ.get('DISPLAY')
                    or os.environ.get('WAYLAND_DISPLAY'))
    return True


class Display:
    """An OpenCV window that turns itself off where there is no display.

    ``enabled=False`` makes every call a no-op. Where no display exists, or
    the first ``imshow`` fails, it warns once (``UserWarning``) and
    disables itself; the caller carries on.

    Args:
        window_name (str): Window title.
        enabled (bool): Whether to show anything (the demos' ``--show``).
        warn (callable, optional): Called once with the reason when the
            display is turned off; defaults to ``warnings.warn``.
    """

    #: Keys that quit: ``q``, ``Q`` and Esc.
    QUIT_KEYS = (ord('q'), ord('Q'), 27)

    def __init__(self,
                 window_name: str,
                 enabled: bool,
                 warn: Optional[Callable[[str], None]] = None) -> None:
        self.window_name = window_name
        self.enabled = enabled
        self._warn = warn
        self._opened = False
        if enabled and not display_available():
            self._disable('no display found (DISPLAY/WAYLAND_DISPLAY are not '
                          'set); --show is ignored, processing goes on')

    def _disable(self, reason: str) -> None:
        self.enabled = False
        if self._warn is not None:
            self._warn(reason)
        else:
            warnings.warn(reason, UserWarning, stacklevel=3)

    def show(self, frame: np.ndarray, wait_ms: int = 1) -> bool:
        """Show ``frame``; return True when the user asked to quit (q/Esc
        or closed the window)."""
        if not self.enabled:
            return False
        try:
            cv2.imshow(self.window_name, frame)
            self._opened = True
            key = cv2.waitKey(wait_ms) & 0xFF
            if key in self.QUIT_KEYS:
                return True
            return cv2.getWindowProperty(self.window_name,
                                         cv2.WND_PROP_VISIBLE) < 1
        except cv2.error as exc:
            self._disable(f'cannot show frames ({str(exc).strip()}); '
                          '--show is ignored, processing goes on')
            return False

    def close(self) -> None:
        """Close the window if one was opened."""
        if self._opened:
            try:
                cv2.destroyWindow(self.window_name)
                cv2.waitKey(1)
            except cv2.error:
                pass
            self._opened = False
