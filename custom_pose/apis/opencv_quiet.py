# Copyright (c) custom_pose contributors. All rights reserved.
"""Keeping OpenCV and the native libraries under it (FFmpeg, V4L2) quiet
while :mod:`custom_pose.apis.video` opens and probes a source:
:func:`silence_opencv_log` and :func:`quiet_native_stderr`.

Re-exported by :mod:`custom_pose.apis.video`.
"""
import contextlib
import os
import sys
from typing import Any, Iterator

import cv2

__all__ = ['silence_opencv_log', 'quiet_native_stderr']


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


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
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
