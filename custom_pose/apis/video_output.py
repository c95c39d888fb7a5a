# Copyright (c) custom_pose contributors. All rights reserved.
"""Video output for the demos: a writer whose file is whole or absent
(:class:`VideoSink`) and a display that degrades gracefully without a
screen (:class:`Display`). Needs only OpenCV and numpy."""
import os
import os.path as osp
import sys
import warnings
from typing import Callable, Optional, Tuple

import cv2
import numpy as np

from custom_pose.utils.atomic_io import (TEMP_SUFFIX, commit_temp_path,
                                         discard_temp_path, reserve_temp_path)
from .opencv_quiet import quiet_native_stderr, silence_opencv_log
from .video import VideoSourceError

__all__ = ['DEFAULT_FOURCC', 'VideoSink', 'Display', 'display_available']

#: FourCC of the videos the demos write (MPEG-4 part 2, plays everywhere
#: and needs no extra codec in OpenCV's FFmpeg build).
DEFAULT_FOURCC = 'mp4v'


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
