# Copyright (c) custom_pose contributors. All rights reserved.
"""What :func:`~custom_pose.apis.run_live` measures and returns: the
latency of each stage of a frame (:class:`StageTimer`) and the run's
statistics with the demo's closing summary (:class:`LiveRunStats`)."""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ['STAGES', 'StageTimer', 'LiveRunStats']

#: The timed stages of a frame (``track``: box propagation, track ids and
#: smoothing).
STAGES = ('capture', 'det', 'pose', 'track', 'draw')


class StageTimer:
    """Per-stage latencies: the last value (for the overlay) and the sum
    (for the summary), in seconds."""

    def __init__(self, stages: Sequence[str]) -> None:
        self.last: Dict[str, float] = {s: 0.0 for s in stages}
        self.total: Dict[str, float] = {s: 0.0 for s in stages}
        self.count = 0

    def add(self, values: Dict[str, float]) -> None:
        for key, value in values.items():
            self.last[key] = value
            self.total[key] += value
        self.count += 1

    def mean_ms(self, stage: str) -> float:
        return 1000.0 * self.total[stage] / max(self.count, 1)


@dataclass
class LiveRunStats:
    """What :func:`run_live` did.

    Attributes:
        source (str): The camera or file.
        frames (int): Frames processed.
        dropped (int): Camera frames dropped because a newer one arrived.
        seconds (float): Wall time of the frame loop.
        fps (float): ``frames / seconds``.
        device (str): The device the models ran on.
        stopped_by (str): ``'end of video'``, ``'camera stopped'``,
            ``'q/Esc'`` or ``'Ctrl-C'``.
        detections (Counter): Boxes above the threshold sent to a pose
            model, per class name.
        pose_instances (dict): Instances estimated, per pose model
            (``'animal'``, ``'human'``).
        mean_latency_ms (dict): Mean milliseconds per stage (:data:`STAGES`).
        bbox_thr (float): The detection threshold used.
        out_video (str, optional): The video written.
        frames_written (int): Frames in it.
        size (tuple): ``(width, height)`` of the frames.
        source_fps (float): The source's frame rate (also the output's).
        out_json (str, optional): The predictions written.
        decode_report (str, optional): Frames of a file that did not
            decode, when there were any.
        box_mode (str, optional): The box mode of the animal poses,
            ``'start'`` or ``'track'``.
        box_decision (dict, optional): What ``box_mode='auto'`` chose and
            why.
    """
    source: str
    frames: int
    dropped: int
    seconds: float
    fps: float
    device: str
    stopped_by: str
    detections: Counter = field(default_factory=Counter)
    pose_instances: Dict[str, int] = field(default_factory=dict)
    mean_latency_ms: Dict[str, float] = field(default_factory=dict)
    bbox_thr: float = 0.5
    out_video: Optional[str] = None
    frames_written: int = 0
    size: Tuple[int, int] = (0, 0)
    source_fps: float = 0.0
    out_json: Optional[str] = None
    decode_report: Optional[str] = None
    box_mode: Optional[str] = None
    box_decision: Optional[Dict[str, Any]] = None

    def summary_lines(self, prog: str) -> List[str]:
        """The demo's closing summary."""
        dets = ', '.join(f'{k}={v}' for k, v in sorted(
            self.detections.items()))
        poses = ', '.join(f'{k}={v}' for k, v in self.pose_instances.items())
        lines = [
            f'{prog}: stopped by {self.stopped_by}',
            f'frames: {self.frames} (dropped {self.dropped}) in '
            f'{self.seconds:.1f} s, mean FPS {self.fps:.2f}',
            f'detections (bbox_thr {self.bbox_thr:g}): {dets or "none"}',
            f'pose instances: {poses}',
            'mean latency: ' + ', '.join(
                f'{s} {v:.1f} ms' for s, v in self.mean_latency_ms.items()),
        ]
        if self.decode_report is not None:
            lines.append(f'input: {self.decode_report}')
        if self.out_video is not None:
            lines.append(
                f'output: {self.out_video} ({self.frames_written} frames, '
                f'{self.size[0]}x{self.size[1]} @ {self.source_fps:g} fps)')
        if self.out_json is not None:
            lines.append(f'predictions: {self.out_json}')
        return lines
