# Copyright (c) custom_pose contributors. All rights reserved.
"""Fast OpenCV drawing of top-down pose results on BGR video frames.

The colours and the skeleton come from an mmpose ``dataset_meta`` (as
``mmpose.datasets.datasets.utils.parse_pose_metainfo`` returns it:
``keypoint_colors`` (K, 3) and ``skeleton_link_colors`` (L, 3) in RGB,
``skeleton_links`` as pairs of keypoint indices). The drawing rules follow
mmpose's ``PoseLocalVisualizer``: a keypoint is drawn when its score is at
least ``kpt_thr``, a link when both ends are and both lie inside the image.
Frames are drawn on in place, with no colour conversion: colours are turned
into BGR once.
"""
import math
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from custom_pose.errors import InputError

__all__ = [
    'PoseDrawer', 'draw_bboxes', 'draw_text_panel', 'track_color',
    'draw_tracked_instances'
]

Color = Tuple[int, int, int]

#: BGR colours used where the metainfo has none.
DEFAULT_KEYPOINT_COLOR: Color = (0, 255, 0)
DEFAULT_LINK_COLOR: Color = (255, 128, 0)
#: The largest keypoint radius and link thickness, pixels (OpenCV refuses
#: thicknesses above 32767).
MAX_DRAW_SIZE = 1000


def _bgr_colors(colors, count: int, default: Color,
                field: str) -> List[Color]:
    """``count`` BGR int tuples from an RGB (count, 3) array-like."""
    if colors is None or len(colors) == 0:
        return [default] * count
    arr = np.asarray(colors, dtype=np.float64).reshape(-1, 3)
    if len(arr) == 1:
        arr = np.repeat(arr, count, axis=0)
    if len(arr) != count:
        raise ValueError(f'dataset_meta[{field!r}] has {len(arr)} colours '
                         f'for {count} items')
    arr = np.clip(np.round(arr), 0, 255).astype(int)[:, ::-1]
    return [tuple(int(c) for c in row) for row in arr]


class PoseDrawer:
    """Draw keypoints and skeletons with a dataset's colours.

    Args:
        dataset_meta (dict, optional): mmpose dataset metainfo with
            ``keypoint_colors``, ``skeleton_links`` and
            ``skeleton_link_colors`` (any may be missing: then default
            colours / no skeleton).
        num_keypoints (int): K, the number of keypoints the model predicts.
        radius (int): Keypoint radius in pixels (0 to
            :data:`MAX_DRAW_SIZE`). Defaults to 4.
        thickness (int): Link thickness in pixels (1 to
            :data:`MAX_DRAW_SIZE`). Defaults to 1.
        kpt_thr (float): Minimum score of a drawn keypoint. Defaults to 0.3.

    Raises:
        ValueError: If the metainfo's colours or links do not fit K.
    """

    def __init__(self,
                 dataset_meta: Optional[dict],
                 num_keypoints: int,
                 radius: int = 4,
                 thickness: int = 1,
                 kpt_thr: float = 0.3) -> None:
        meta = dataset_meta or {}
        if not (0 <= radius <= MAX_DRAW_SIZE and
                1 <= thickness <= MAX_DRAW_SIZE) or \
                not math.isfinite(float(kpt_thr)):
            raise InputError(
                f'radius must be in [0, {MAX_DRAW_SIZE}], thickness in [1, '
                f'{MAX_DRAW_SIZE}] (pixels) and kpt_thr a finite number, got '
                f'radius={radius}, thickness={thickness}, kpt_thr={kpt_thr}')
        self.num_keypoints = int(num_keypoints)
        self.radius = int(radius)
        self.thickness = int(thickness)
        self.kpt_thr = float(kpt_thr)
        self.keypoint_colors = _bgr_colors(
            meta.get('keypoint_colors'), self.num_keypoints,
            DEFAULT_KEYPOINT_COLOR, 'keypoint_colors')
        links = np.asarray(meta.get('skeleton_links') or [],
                           dtype=np.int64).reshape(-1, 2)
        if links.size and (links.min() < 0
                           or links.max() >= self.num_keypoints):
            raise ValueError(
                f"dataset_meta['skeleton_links'] refers to keypoint "
                f'{int(links.max())} but the model has {self.num_keypoints} '
                'keypoints')
        self.links = links
        link_colors = _bgr_colors(
            meta.get('skeleton_link_colors'), len(links), DEFAULT_LINK_COLOR,
            'skeleton_link_colors') if len(links) else []
        # links grouped by colour: one cv2.polylines call per colour
        self._link_groups: List[Tuple[Color, np.ndarray]] = []
        for color in dict.fromkeys(link_colors):
            idx = np.array(
                [i for i, c in enumerate(link_colors) if c == color])
            self._link_groups.append((color, idx))

    def draw(self, img: np.ndarray, keypoints: np.ndarray,
             scores: np.ndarray) -> np.ndarray:
        """Draw instances on ``img`` in place.

        Args:
            img (np.ndarray): BGR image (H, W, 3), uint8, drawn on.
            keypoints (np.ndarray): (N, K, 2) keypoints in image pixels.
            scores (np.ndarray): (N, K) keypoint scores.

        Returns:
            np.ndarray: ``img``.
        """
        keypoints = np.asarray(keypoints, dtype=np.float32).reshape(
            -1, self.num_keypoints, 2)
        scores = np.asarray(scores, dtype=np.float32).reshape(
            -1, self.num_keypoints)
        if len(keypoints) == 0:
            return img
        h, w = img.shape[:2]
        pts = np.round(keypoints).astype(np.int32)  # (N, K, 2)
        shown = scores >= self.kpt_thr  # (N, K)
        inside = ((pts[..., 0] > 0) & (pts[..., 0] < w) & (pts[..., 1] > 0)
                  & (pts[..., 1] < h))

        if len(self.links):
            a, b = self.links[:, 0], self.links[:, 1]
            ok = shown[:, a] & shown[:, b] & inside[:, a] & inside[:, b]
            segments = np.stack([pts[:, a], pts[:, b]], axis=2)  # (N,L,2,2)
            for color, idx in self._link_groups:
                sel = segments[:, idx][ok[:, idx]]
                if len(sel):
                    cv2.polylines(img, list(sel), False, color,
                                  self.thickness, cv2.LINE_AA)

        if self.radius > 0:
            for n, k in zip(*np.nonzero(shown)):
                x, y = pts[n, k]
                cv2.circle(img, (int(x), int(y)), self.radius,
                           self.keypoint_colors[k], -1, cv2.LINE_AA)
        return img


def draw_bboxes(img: np.ndarray,
                bboxes: np.ndarray,
                labels: Sequence[str],
                color: Color = (0, 200, 255),
                thickness: int = 1) -> np.ndarray:
    """Draw (N, 4) ``xyxy`` boxes with a text label each, in place."""
    for box, label in zip(np.asarray(bboxes).reshape(-1, 4), labels):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thickness)
        if label:
            cv2.putText(img, label, (x1 + 2, max(y1 - 4, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return img


def draw_text_panel(img: np.ndarray,
                    lines: Sequence[str],
                    origin: Tuple[int, int] = (4, 4),
                    scale: float = 0.4,
                    color: Color = (255, 255, 255)) -> np.ndarray:
    """Write ``lines`` top-left on a darkened panel, in place.

    Only the panel's region is blended, so the cost does not grow with the
    frame size.
    """
    if not lines:
        return img
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(t, font, scale, 1)[0] for t in lines]
    line_h = max(s[1] for s in sizes) + 6
    x0, y0 = origin
    h, w = img.shape[:2]
    x1 = min(w, x0 + max(s[0] for s in sizes) + 8)
    y1 = min(h, y0 + line_h * len(lines) + 4)
    if x1 > x0 and y1 > y0:
        roi = img[y0:y1, x0:x1]
        roi[:] = (roi.astype(np.uint16) * 2 // 5).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(img, text, (x0 + 4, y0 + (i + 1) * line_h - 2), font,
                    scale, color, 1, cv2.LINE_AA)
    return img


#: BGR colours of track ids (Tableau 10), by ``track_id % 10``.
TRACK_COLORS: Tuple[Color, ...] = (
    (180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214),
    (189, 103, 148), (75, 86, 140), (194, 119, 227), (127, 127, 127),
    (34, 189, 188), (207, 190, 23))


def track_color(track_id: int) -> Color:
    """The colour of a track id (grey for ``-1``, untracked)."""
    return (160, 160, 160) if track_id < 0 else \
        TRACK_COLORS[track_id % len(TRACK_COLORS)]


def draw_tracked_instances(img: np.ndarray,
                           instances: Sequence,
                           drawer: PoseDrawer,
                           boxes: bool = True) -> np.ndarray:
    """Draw poses that carry track ids, in place: each instance's
    (smoothed) keypoints and skeleton and, with ``boxes``, its box in its
    track's colour labelled ``id <track id>``.

    Args:
        img (np.ndarray): BGR image (H, W, 3), uint8.
        instances (Sequence[PoseInstance]): ``bbox``, ``track_id``,
            ``keypoints`` and ``keypoint_scores`` of each pose.
        drawer (PoseDrawer): Draws the keypoints and skeleton.
        boxes (bool): Draw the boxes and ids.
    """
    if not len(instances):
        return img
    drawer.draw(img, np.stack([i.keypoints for i in instances]),
                np.stack([i.keypoint_scores for i in instances]))
    if boxes:
        font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.55
        for inst in instances:
            color = track_color(inst.track_id)
            draw_bboxes(img, inst.bbox[None], [''], color=color, thickness=2)
            if inst.track_id < 0:
                continue
            label = f'id {inst.track_id}'
            (tw, th), _ = cv2.getTextSize(label, font, scale, 1)
            x1 = int(round(float(inst.bbox[0])))
            y1 = max(int(round(float(inst.bbox[1]))), th + 6)
            cv2.rectangle(img, (x1, y1 - th - 6), (x1 + tw + 6, y1), color,
                          -1)
            cv2.putText(img, label, (x1 + 3, y1 - 4), font, scale,
                        (255, 255, 255), 1, cv2.LINE_AA)
    return img
