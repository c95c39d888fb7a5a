"""The video clips: one animal walking, turning round and walking back
(:func:`make_clip`), and small animals walking across an arena, two of them
crossing (:func:`make_arena_clip`).

Each clip writes the video and its per-frame ground truth (see
:mod:`.formats`). The rig of every frame is built with
:func:`~.rig.build_rig`, placed with :func:`~.rig.transform_rig` and painted
with :func:`~.render.compose` over one static background, so other clips
(another trajectory, more animals) are put together from the same pieces and
:func:`open_video_writer`.
"""
import math
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .animal import (CATEGORY_IDS, AnimalSpec, check_categories,
                     random_color, sample_animal_spec)
from .formats import write_arena_keypoints, write_clip_keypoints
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


def _check_clip_args(image_size: Tuple[int, int], num_frames: int,
                     fps: int) -> Tuple[int, int, int, int]:
    """``(w, h, num_frames, fps)`` as ints, else ``ValueError``."""
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
    return w, h, num_frames, fps


def _walking_spec(spec: AnimalSpec) -> AnimalSpec:
    """``spec`` set up to walk in profile: a clear gait, no leg jitter,
    the same camera elevation in every frame (changed in place)."""
    spec.yaw = 0.0
    spec.head_turn = 0.2
    spec.gait_amp = 0.35
    spec.leg_jitter = np.zeros((4, 2))
    spec.elevation = 0.25
    return spec


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
    w, h, num_frames, fps = _check_clip_args(image_size, num_frames, fps)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([int(seed), 1])
    spec = _walking_spec(sample_animal_spec(rng, category=category))
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



#: Width of each arena animal (in profile) as a fraction of the frame width.
ARENA_WIDTH_FRACTION = (0.17, 0.22)


def _arena_paths(num_frames: int, w: int, h: int,
                 widths: Sequence[float]) -> List[dict]:
    """Where each arena animal is in each frame: ``first_frame``, the
    centre of its box ``center`` (T, 2) and its body ``yaw`` (T, ).

    Animal 0 walks from the left edge to the right edge over the whole clip;
    animal 1 enters at the right edge a third of the way in, a little lower
    (nearer the camera), and walks left, faster, so their paths cross about
    two thirds of the way in.
    """
    s = np.linspace(0.0, 1.0, num_frames)
    wobble = 0.2 * np.sin(2 * np.pi * 2 * s)
    margin = 0.03 * w + 0.5 * widths[0]
    x0 = margin + (w - 2 * margin) * s
    y0 = h * (0.42 + 0.06 * np.sin(2 * np.pi * s))
    paths = [dict(first_frame=0, center=np.stack([x0, y0], axis=1),
                  yaw=wobble)]
    if len(widths) > 1:
        first = num_frames // 3
        speed = 1.25 * (w - 2 * margin) / max(num_frames - 1, 1)
        x1 = w + 0.1 * widths[1] - speed * (np.arange(num_frames) - first)
        y1 = h * (0.47 + 0.04 * np.sin(2 * np.pi * s + 1.0))
        paths.append(dict(first_frame=first, center=np.stack([x1, y1],
                                                              axis=1),
                          yaw=np.pi - wobble))
    return paths


def make_arena_clip(out_dir: str,
                    seed: int = 0,
                    num_frames: int = 96,
                    fps: int = 25,
                    image_size: Tuple[int, int] = (640, 480),
                    categories: Optional[Sequence[str]] = None,
                    num_animals: int = 2,
                    video_name: str = 'arena_clip.mp4',
                    keypoints_name: str = 'arena_clip_keypoints.json'
                    ) -> dict:
    """Write a clip of small animals walking across a large arena.

    Each animal is :data:`ARENA_WIDTH_FRACTION` (17-22 %) of the frame width
    in profile, the box a top-down model misses when it is given the whole
    frame. Animal (track) 0 walks from the left to the right edge over the
    whole clip; with ``num_animals=2``, animal 1 enters at the right edge a
    third of the way in (partly outside the frame) and walks left, a little
    nearer the camera, so the two cross (animal 1 in front) about two thirds
    of the way in. The camera is fixed, the background static; each frame
    gets its own random blur and sensor noise.

    Files: ``<out_dir>/<video_name>`` (MPEG-4 part 2, FourCC ``mp4v``) and
    ``<out_dir>/<keypoints_name>`` with the ground truth of every animal in
    every frame, with track ids (layout in :mod:`.formats`; read it back
    with :func:`~.formats.read_arena_keypoints`).

    Args:
        out_dir (str): Output directory (created if missing).
        seed (int): Random seed (the clip uses ``default_rng([seed, 2])``).
        num_frames (int): Number of frames (>= 2). Defaults to 96.
        fps (int): Frame rate. Defaults to 25.
        image_size (tuple[int, int]): Frame (width, height); both even.
            Defaults to (640, 480).
        categories (Sequence[str], optional): Categories to draw the animals
            from. Defaults to all five.
        num_animals (int): 1 or 2. Defaults to 2.
        video_name (str): File name of the video.
        keypoints_name (str): File name of the ground-truth JSON.

    Returns:
        dict: ``video``, ``keypoints_file``, ``num_frames``, ``fps``,
        ``width``, ``height``, ``categories`` (per track) and
        ``two_animal_frames`` (how many frames show both animals).
    """
    w, h, num_frames, fps = _check_clip_args(image_size, num_frames, fps)
    if num_animals not in (1, 2):
        raise ValueError(f'num_animals: must be 1 or 2, got {num_animals!r}')
    names = check_categories(categories)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([int(seed), 2])
    background = render_background(rng, w, h)
    eye = np.eye(2)
    walkers = []
    for _ in range(num_animals):
        spec = _walking_spec(sample_animal_spec(rng, categories=names))
        lo, hi = rig_extent(build_rig(spec), eye)
        scale = rng.uniform(*ARENA_WIDTH_FRACTION) * w / (hi - lo)[0]
        walkers.append(dict(spec=spec, scale=scale,
                            tail_angle=spec.tail_angle,
                            width=scale * (hi - lo)[0]))
    paths = _arena_paths(num_frames, w, h, [a['width'] for a in walkers])
    video_path = osp.join(out_dir, video_name)
    writer = open_video_writer(video_path, fps, (w, h))
    frames = []
    try:
        for i in range(num_frames):
            placed = []  # (track id, spec, rig)
            for track_id, (walker, path) in enumerate(zip(walkers, paths)):
                if i < path['first_frame']:
                    continue
                spec, scale = walker['spec'], walker['scale']
                # a stride of 0.6 body lengths per walking cycle
                done = np.linalg.norm(path['center'][i] -
                                      path['center'][path['first_frame']])
                cycle = 2 * np.pi * done / (0.6 * scale)
                spec.yaw = float(path['yaw'][i])
                spec.gait_phase = cycle
                spec.head_turn = 0.2 * math.cos(spec.yaw)
                spec.tail_angle = walker['tail_angle'] + 0.1 * math.sin(cycle)
                rig = build_rig(spec)
                lo, hi = rig_extent(rig, eye)
                # the body's midpoint (withers-tailbase) follows the path
                anchor = rig.kpts[[18, 19]].mean(axis=0)
                if 'offset' not in walker:  # box centre from the body
                    walker['offset'] = (lo + hi) / 2 - anchor
                transform_rig(rig, scale * eye, path['center'][i] - scale *
                              (anchor + walker['offset']))
                placed.append((track_id, spec, rig))
            # animals lower in the frame are nearer: drawn last
            placed.sort(key=lambda p: float(p[2].kpts[:, 1].max()))
            res = compose(rng, background.copy(),
                          [(spec, rig) for _, spec, rig in placed], 0.0,
                          False)
            writer.write(add_blur_and_noise(rng, res.image))
            instances = [
                dict(track_id=track_id, category_id=ann['category_id'],
                     bbox=ann['bbox'], keypoints=ann['keypoints'],
                     num_keypoints=ann['num_keypoints'])
                for (track_id, _, _), ann in zip(placed, res.annotations)
            ]
            frames.append(dict(
                frame_id=i,
                instances=sorted(instances, key=lambda a: a['track_id'])))
    finally:
        writer.release()
    kpt_path = osp.join(out_dir, keypoints_name)
    animals = [
        dict(track_id=k, category_id=CATEGORY_IDS[a['spec'].category],
             first_frame=int(p['first_frame']))
        for k, (a, p) in enumerate(zip(walkers, paths))
    ]
    write_arena_keypoints(kpt_path, video_name, fps, (w, h), animals, frames)
    return dict(
        video=video_path,
        keypoints_file=kpt_path,
        num_frames=num_frames,
        fps=fps,
        width=w,
        height=h,
        categories=[a['spec'].category for a in walkers],
        two_animal_frames=sum(len(f['instances']) == 2 for f in frames))
