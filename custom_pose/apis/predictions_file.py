# Copyright (c) custom_pose contributors. All rights reserved.
"""The predictions JSON of the demo loops, whole or absent, with the frames
done so far in a readable partial file while a loop runs
(:class:`PredictionsFile`)."""
import json
import math
import os.path as osp
import time
from typing import Any, List, Optional

from custom_pose.utils.atomic_io import discard_temp_path, write_text_atomic

__all__ = ['PredictionsFile', 'partial_path', 'json_text']


def partial_path(path: str) -> str:
    """Where :class:`PredictionsFile` keeps the frames done so far:
    ``vis_clip.json`` -> ``vis_clip.partial.json``."""
    stem, ext = osp.splitext(path)
    return f'{stem}.partial{ext or ".json"}'


def json_text(data: Any) -> str:
    """``data`` as strict JSON: a non-finite float (NaN, infinity, which
    JSON cannot hold) is written as ``null``."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False)


def _finite(data: Any) -> Any:
    """``data`` with every non-finite float replaced by ``None``."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


class PredictionsFile:
    """The predictions JSON of a demo loop (layout in the full-frame demo's
    docstring), whole or absent.

    :meth:`save` writes it at the end, atomically
    (:func:`~custom_pose.utils.atomic_io.write_text_atomic`). While the loop
    runs, :meth:`update` writes the frames done so far, as often as every
    ``every_frames`` frames or ``every_seconds`` seconds, to
    :func:`partial_path` (also atomically, with ``"partial": true``), so a
    run that is killed leaves a readable JSON of its frames; :meth:`save`
    removes it. A write waits at least ten times as long as the last one
    took, so rewriting a long video's predictions costs at most about a
    tenth of the run. Non-finite numbers are written as ``null``.

    Args:
        path (str): The JSON file.
        video, config, checkpoint (str): What the loop ran on.
        source (VideoSource): The source (size, fps, frames decoded).
        keypoint_names (list[str]): The model's keypoints.
        backend (str): ``'pytorch'`` or ``'onnxruntime'``.
        onnx (str, optional): The exported model.
        every_frames (int): Frames between partial writes.
        every_seconds (float): Seconds between partial writes.
    """

    def __init__(self, path: str, video: str, config: str, checkpoint: str,
                 source: Any, keypoint_names: List[str],
                 backend: str = 'pytorch', onnx: Optional[str] = None,
                 every_frames: int = 100, every_seconds: float = 5.0) -> None:
        self.path = path
        self.partial = partial_path(path)
        self.video, self.config, self.checkpoint = video, config, checkpoint
        self.source = source
        self.keypoint_names = list(keypoint_names)
        self.backend, self.onnx = backend, onnx
        self.every_frames, self.every_seconds = every_frames, every_seconds
        self._saved_frames = 0
        self._saved_at = time.monotonic()
        self._write_s = 0.0

    def data(self, frames: List[dict], tracking: Any = None) -> dict:
        """The JSON's content: the source, the model, the backend, the
        tracking options (``tracking.to_dict()``), the frames that did not
        decode and ``frames``, the per-frame instances."""
        info = self.source.info
        return dict(
            video=osp.abspath(self.video) if osp.exists(self.video) else
            self.video,
            config=osp.abspath(self.config),
            checkpoint=osp.abspath(self.checkpoint),
            fps=info.fps,
            width=info.width,
            height=info.height,
            num_frames=len(frames),
            num_keypoints=len(self.keypoint_names),
            keypoint_names=self.keypoint_names,
            bbox_format='xyxy',
            backend=self.backend,
            onnx=osp.abspath(self.onnx) if self.onnx else None,
            tracking=tracking.to_dict() if tracking is not None else None,
            frames_decoded=self.source.frames_decoded,
            undecodable_frames=list(self.source.undecodable),
            frames=frames)

    def update(self, frames: List[dict], tracking: Any = None) -> bool:
        """Write the frames done so far to :attr:`partial` when it is due;
        True when it wrote."""
        now = time.monotonic()
        new = len(frames) - self._saved_frames
        waited = now - self._saved_at
        if new <= 0 or waited < 10 * self._write_s or (
                new < self.every_frames and waited < self.every_seconds):
            return False
        write_text_atomic(self.partial, json_text(
            dict(self.data(frames, tracking), partial=True)))
        self._saved_frames = len(frames)
        self._saved_at = time.monotonic()
        self._write_s = self._saved_at - now
        return True

    def save(self, frames: List[dict], tracking: Any = None) -> str:
        """Write the JSON and remove the partial one.

        Returns:
            str: :attr:`path`.
        """
        write_text_atomic(self.path, json_text(self.data(frames, tracking)))
        discard_temp_path(self.partial)
        return self.path
