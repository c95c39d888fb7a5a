"""The video clip: one animal walking, turning round and walking back.

:func:`make_clip` writes the video (``clip.mp4``) and its per-frame ground
truth (``clip_keypoints.json``, see :mod:`.formats`). The rig of every frame
is built with :func:`~.rig.build_rig`, placed with :func:`~.rig.transform_rig`
and painted with :func:`~.render.compose` over one static background, so
other clips (another trajectory, several animals) are put together from the
same pieces and :func:`open_video_writer`.
"""
import math
import os
import os.path as osp
from typing import Optional, Tuple

import cv2
import numpy as np

from .animal import CATEGORY_IDS, random_color, sample_animal_spec
from .formats import write_clip_keypoints
from .render import (add_blur_and_noise, annotate_rig, check_size, compose,
                     paint_occluder, render_background)
from .rig import build_rig, rig_extent, transform_rig


def _clip_yaws(num_frames: int) -> np.ndarray:
    """Body yaw per clip frame: walk right (with a small wobble), turn
    through the head-on view (yaw 0 -> -pi) and walk left."""
    t = np.linspace(0.0, 1.0, num_frames)
    wobble = 0.25 * np.sin(2 * np.pi * 2 * t)
    s = np.clip((t - 0.45) / 0.25, 0.0, 1.0)
    turn = s * s * (3 - 2 * s)  # smoothstep 0 -> 1
    return -np.pi * turn + wobble * (1.0 - 4 * turn * (1 - turn))


def open_video_writer(path: str, fps: int,
                      size: Tuple[int, int]) -> cv2.VideoWriter:
    """Open an MPEG-4 part 2 (FourCC ``mp4v``) writer for BGR frames.

    Args:
        path (str): Output file.
        fps (int): Frame rate.
        size (tuple[int, int]): Frame (width, height); both even.

    Returns:
        cv2.VideoWriter: The opened writer; release it when done.
    """
    fourcc = cv2.VideoWriter_fourcc(*'mp4v')
    writer = cv2.VideoWriter(path, fourcc, float(fps), size)
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter could not open {path} '
                           'with the mp4v codec')
    return writer


def make_clip(out_dir: str,
              seed: int = 0,
              num_frames: int = 64,
              fps: int = 25,
              image_size: Tuple[int, int] = (256, 256),
              category: Optional[str] = None,
              occluder: bool = True,
              video_name: str = 'clip.mp4',
              keypoints_name: str = 'clip_keypoints.json') -> dict:
    """Write a clip of one animal walking, turning round and walking back.

    The camera is fixed, the background static; the animal walks right (with
    a small yaw wobble), turns through a head-on view and walks left, with
    a walking cycle of 16 frames. An optional post stands in the foreground
    on the left of the path, so that keypoints of the animal's rear are
    occluded (``v=0``) in some frames.

    Files: ``<out_dir>/<video_name>`` (MPEG-4 part 2, FourCC ``mp4v``) and
    ``<out_dir>/<keypoints_name>``: ``{"video", "fps", "width", "height",
    "num_frames", "category_id", "keypoints" (names), "skeleton", "frames":
    [{"frame_id", "bbox", "keypoints": [[x, y, v] x 20], "num_keypoints"}]}``.

    Args:
        out_dir (str): Output directory (created if missing).
        seed (int): Random seed.
        num_frames (int): Number of frames (>= 2).
        fps (int): Frame rate.
        image_size (tuple[int, int]): Frame (width, height); both even.
        category (str, optional): Animal category. Defaults to a random one.
        occluder (bool): Draw the foreground post. Defaults to True.
        video_name (str): File name of the video.
        keypoints_name (str): File name of the ground-truth JSON.

    Returns:
        dict: ``video``, ``keypoints_file``, ``num_frames``, ``fps``,
        ``width``, ``height``, ``category``.
    """
    w, h = check_size(image_size, 'image_size')
    if w % 2 or h % 2:
        raise ValueError(f'image_size: clip width and height must be even '
                         f'for the mp4v codec, got {image_size!r}')
    num_frames = int(num_frames)
    if num_frames < 2:
        raise ValueError(f'num_frames: must be >= 2, got {num_frames}')
    fps = int(fps)
    if fps < 1:
        raise ValueError(f'fps: must be >= 1, got {fps}')
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([int(seed), 1])
    spec = sample_animal_spec(rng, category=category)
    spec.yaw = 0.0
    spec.head_turn = 0.2
    spec.gait_amp = 0.35
    spec.leg_jitter = np.zeros((4, 2))
    spec.elevation = 0.25
    background = render_background(rng, w, h)
    yaws = _clip_yaws(num_frames)
    tail_angle = spec.tail_angle
    step = 0.6 / 16.0  # stride of 0.6 body lengths per 16-frame cycle
    base_rigs, offsets = [], []
    x = 0.0
    for i in range(num_frames):
        cycle = 2 * np.pi * i / 16.0
        spec.yaw = float(yaws[i])
        spec.gait_phase = cycle
        # head slightly turned towards the camera, continuous over the turn
        spec.head_turn = 0.2 * math.cos(spec.yaw)
        spec.tail_angle = tail_angle + 0.1 * math.sin(cycle)
        base_rigs.append(build_rig(spec))
        offsets.append(x)
        x += step * math.cos(spec.yaw)
    # fit the whole trajectory in the frame
    all_lo, all_hi = [], []
    eye = np.eye(2)
    for rig, ox in zip(base_rigs, offsets):
        lo, hi = rig_extent(rig, eye)
        all_lo.append(lo + [ox, 0.0])
        all_hi.append(hi + [ox, 0.0])
    lo = np.min(all_lo, axis=0)
    hi = np.max(all_hi, axis=0)
    scale = 0.94 * min(w / (hi - lo)[0], h / (hi - lo)[1])
    margin = (np.array([w, h]) - scale * (hi - lo)) / 2.0
    post = None
    if occluder:
        # on the left of the path: the rear of the animal passes behind it
        px = margin[0] + scale * (0.2 * (hi - lo)[0])
        pw = max(2.0, 0.02 * w)
        post = np.array([[px - pw, -2.0], [px + pw, -2.0],
                         [px + pw * 1.3, h + 2.0], [px - pw * 1.3, h + 2.0]])
        post_col = random_color(rng)
    video_path = osp.join(out_dir, video_name)
    writer = open_video_writer(video_path, fps, (w, h))
    frames = []
    try:
        for i, (rig, ox) in enumerate(zip(base_rigs, offsets)):
            trans = margin - scale * lo + np.array([scale * ox, 0.0])
            transform_rig(rig, scale * eye, trans)
            img = background.copy()
            res = compose(rng, img, [(spec, rig)], 0.0, False)
            img = res.image
            if post is not None:
                paint_occluder(img, res.label_map, post, post_col)
                ann, _ = annotate_rig(rig, res.label_map, 0, spec.category)
            else:
                ann = res.annotations[0]
            img = add_blur_and_noise(rng, img)
            writer.write(img)
            frames.append(
                dict(
                    frame_id=i,
                    bbox=ann['bbox'],
                    keypoints=ann['keypoints'],
                    num_keypoints=ann['num_keypoints']))
    finally:
        writer.release()
    kpt_path = osp.join(out_dir, keypoints_name)
    write_clip_keypoints(kpt_path, video_name, fps, (w, h),
                         CATEGORY_IDS[spec.category], frames)
    return dict(
        video=video_path,
        keypoints_file=kpt_path,
        num_frames=num_frames,
        fps=fps,
        width=w,
        height=h,
        category=spec.category)

