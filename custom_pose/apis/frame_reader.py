# Copyright (c) custom_pose contributors. All rights reserved.
"""The capture thread of the demos: :class:`ThreadedFrameReader`, which
reads a :class:`~custom_pose.apis.video.VideoSource` in the background, and
the :class:`FramePacket` it hands over.

Re-exported by :mod:`custom_pose.apis.video`; this module does not import
it at run time (the source is only a type hint here).
"""
import queue
import threading
import time
from typing import TYPE_CHECKING, Iterator, NamedTuple, Optional

import numpy as np

if TYPE_CHECKING:
    from .video import VideoSource

__all__ = ['FramePacket', 'ThreadedFrameReader']


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
                 source: 'VideoSource',
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
