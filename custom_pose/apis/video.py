# Copyright (c) custom_pose contributors. All rights reserved.
"""Video input/output for the demos: opening and probing sources, a capture
thread, a video writer and a display that degrades gracefully without a
screen.

Everything here needs only OpenCV and numpy.
"""
import contextlib
import os
import os.path as osp
import queue
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import (Any, Callable, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple, Union)

import cv2
import numpy as np

from custom_pose.errors import CustomPoseError

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


class FramePacket(NamedTuple):
    """A frame handed over by :class:`ThreadedFrameReader`.

    Attributes:
        index (int): 0-based index of the frame in the source (counting the
            dropped and the undecodable ones).
        frame (np.ndarray): BGR image (H, W, 3), uint8, owned by the reader
            of the packet.
        read_time (float): Seconds the capture (``VideoCapture.read``) took.
        timestamp (float): ``time.perf_counter()`` when the frame was read.
    """
    index: int
    frame: np.ndarray
    read_time: float
    timestamp: float


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what native libraries (FFmpeg, V4L2) print on file
    descriptor 2 while probing, so a bad input gives only our message.

    OpenCV's own log is turned down with :func:`silence_opencv_log`; FFmpeg
    prints (e.g. ``moov atom not found``) straight to the descriptor.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor (embedded use)
        yield
        return
    try:
        with open(os.devnull, 'wb') as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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


def silence_opencv_log(cv: Any = cv2) -> bool:
    """Turn OpenCV's own log off (our messages say what went wrong).

    OpenCV 5 has only ``cv2.utils.logging.setLogLevel`` (some 4.x builds
    too); 4.x has ``cv2.setLogLevel``. Uses whichever exists.

    Args:
        cv: The ``cv2`` module.

    Returns:
        bool: Whether a log-level function was found.
    """
    logging = getattr(getattr(cv, 'utils', None), 'logging', None)
    set_level = getattr(logging, 'setLogLevel', None)
    if set_level is not None:
        set_level(getattr(logging, 'LOG_LEVEL_SILENT', 0))
        return True
    set_level = getattr(cv, 'setLogLevel', None)
    if set_level is not None:
        set_level(0)
        return True
    return False


def _open(target: Union[str, int]) -> Tuple[cv2.VideoCapture,
                                            Optional[np.ndarray]]:
    """Open ``target`` quietly and decode one frame (``None`` if none)."""
    silence_opencv_log()
    with _quiet_native_stderr():
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


class ThreadedFrameReader:
    """Read frames from a :class:`VideoSource` in a background thread.

    Two policies:

    - ``drop_stale=True`` (live cameras): only the newest frame is kept; a
      frame the consumer has not taken when the next one arrives is dropped
      (counted in :attr:`dropped`). A slow model never stalls the camera and
      never sees old frames.
    - ``drop_stale=False`` (files): every frame is delivered, in order,
      through a queue of at most ``max_queue`` frames; the reader waits when
      it is full, so memory stays bounded.

    Iterate over the reader (or call :meth:`get`) to receive
    :class:`FramePacket` objects; iteration ends with the source. Use it as
    a context manager (or call :meth:`stop`) to end the thread and release
    the source.

    Args:
        source (VideoSource): An opened source; the reader owns it.
        drop_stale (bool): The policy above.
        max_queue (int): Queue size for ``drop_stale=False``. Defaults to 8.
        max_frames (int, optional): Stop after this many frames.
    """

    _END = object()

    def __init__(self,
                 source: VideoSource,
                 drop_stale: bool,
                 max_queue: int = 8,
                 max_frames: Optional[int] = None) -> None:
        if max_queue < 1:
            raise ValueError(f'`max_queue` must be >= 1, got {max_queue}')
        self.source = source
        self.drop_stale = drop_stale
        self.max_frames = max_frames
        self.dropped = 0
        self.frames_read = 0
        self.error: Optional[BaseException] = None
        self._queue: 'queue.Queue' = queue.Queue(
            maxsize=1 if drop_stale else max_queue)
        self._ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name='frame-reader', daemon=True)
        self._thread.start()

    # producer ---------------------------------------------------------
    def _put_latest(self, item) -> None:
        """Put ``item`` in the single slot, dropping what it held."""
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    old = self._queue.get_nowait()
                except queue.Empty:
                    continue
                if old is not self._END:
                    self.dropped += 1

    def _put_blocking(self, item) -> bool:
        """Wait for room; False if stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and \
                        self.frames_read >= self.max_frames:
                    break
                start = time.perf_counter()
                item = self.source.read_indexed()
                now = time.perf_counter()
                if item is None:
                    break
                packet = FramePacket(item[0], item[1], now - start, now)
                self.frames_read += 1
                if self.drop_stale:
                    self._put_latest(packet)
                elif not self._put_blocking(packet):
                    break
        except Exception as exc:  # handed to the consumer by get()
            self.error = exc
        finally:
            if self.drop_stale:
                self._put_latest(self._END)
            else:
                self._put_blocking(self._END)

    # consumer ---------------------------------------------------------
    def get(self, timeout: Optional[float] = None) -> Optional[FramePacket]:
        """The next packet, or ``None`` at the end of the source.

        Waits in short slices so that Ctrl-C reaches the main thread.

        Raises:
            queue.Empty: If ``timeout`` seconds pass without a frame.
            RuntimeError: If the capture thread failed.
        """
        if self._ended:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                item = self._queue.get(timeout=0.05)
                break
            except queue.Empty:
                if deadline is not None and time.monotonic() > deadline:
                    raise
        if item is self._END:
            self._ended = True
            if self.error is not None:
                raise RuntimeError(
                    f'frame capture failed: {self.error}') from self.error
            return None
        return item

    def __iter__(self) -> Iterator[FramePacket]:
        while True:
            packet = self.get()
            if packet is None:
                return
            yield packet

    @property
    def queued(self) -> int:
        """Frames waiting in the queue."""
        return self._queue.qsize()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread and release the source. Idempotent.

        A capture stuck in ``read`` for more than ``timeout`` seconds is
        left to the (daemon) thread and not released.
        """
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():  # a producer may wait for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)
            if time.monotonic() > deadline:
                return
        self.source.release()

    def __enter__(self) -> 'ThreadedFrameReader':
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class VideoSink:
    """Write BGR frames to a video file with OpenCV (FourCC ``mp4v``).

    Creates the parent directory. Every frame must have the size given at
    construction. Use as a context manager, or call :meth:`close`, to
    finalise the file.

    Args:
        path (str): Output file (``.mp4``).
        fps (float): Frame rate.
        size (tuple[int, int]): Frame ``(width, height)``.
        fourcc (str): Four-character codec code. Defaults to ``'mp4v'``.

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
        parent = osp.dirname(osp.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc),
                                       float(fps), self.size)
        if not self._writer.isOpened():
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

    def close(self) -> None:
        """Finalise the file. Idempotent."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> 'VideoSink':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


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
