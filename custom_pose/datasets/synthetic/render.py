"""Scenes: background clutter, animals, occluders and their ground truth.

:func:`render_scene` places 1..``max_animals`` rigs (:mod:`.rig`) over a
cluttered background, paints their parts back to front by depth and an
integer part-label map alongside, adds occluders and (optionally) blur and
sensor noise. The label map decides keypoint visibility exactly: a keypoint
is visible (``v=1``) when the pixel under it belongs to one of the parts
that own it, and not visible when an occluder, another animal or the
animal's own body covers it, or when it lies outside the image.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .animal import (CATEGORY_IDS, AnimalSpec, random_color, shade,
                     sample_animal_spec)
from .rig import (KPT_OWNERS, PARTS_PER_ANIMAL, Part, Rig, build_rig,
                  rig_extent, transform_rig, unit_circle)

_MAX_ANIMALS = 14
_OCCLUDER_LABEL = 255

_FIX = 16.0  # fixed-point factor for cv2 drawing (shift=4)
_SHIFT = 4


@dataclass
class SceneResult:
    """A rendered image with its ground truth.

    Args:
        image (np.ndarray): BGR image, (H, W, 3) uint8.
        label_map (np.ndarray): Part labels, (H, W) uint8: 0 background,
            255 occluder, ``1 + 16 * k + part`` for animal ``k``.
        annotations (list[dict]): One release-format annotation per animal
            (without ``image_id``), in drawing order.
        keypoints (list[np.ndarray]): Unrounded keypoints per animal,
            (20, 3) as (x, y, v).
        animals (list[dict]): Per-animal render info: ``spec``, ``near_side``
            (``'left'``/``'right'``) and the exact fill colours
            ``near_leg``, ``far_leg``, ``near_paw``, ``far_paw``.
    """
    image: np.ndarray
    label_map: np.ndarray
    annotations: List[dict]
    keypoints: List[np.ndarray]
    animals: List[dict]


# ---------------------------------------------------------------------------
# drawing


def _fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(pts * _FIX).astype(np.int32)


def _fill_textured(img: np.ndarray, pts: np.ndarray, base: Tuple[int, int,
                                                                 int],
                   tex: dict) -> None:
    h, w = img.shape[:2]
    x0 = max(int(math.floor(pts[:, 0].min())) - 1, 0)
    y0 = max(int(math.floor(pts[:, 1].min())) - 1, 0)
    x1 = min(int(math.ceil(pts[:, 0].max())) + 2, w)
    y1 = min(int(math.ceil(pts[:, 1].max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return
    origin = np.array([x0, y0], dtype=np.float64)
    rw, rh = x1 - x0, y1 - y0
    mask = np.zeros((rh, rw), np.uint8)
    cv2.fillPoly(mask, [_fixed(pts - origin)], 255, cv2.LINE_AA, _SHIFT)
    patch = np.empty((rh, rw, 3), np.uint8)
    patch[:] = base
    prng = np.random.default_rng(tex['seed'])
    lin, off = tex['lin'], tex['off'] - origin
    color = tex['color']

    def to_img(uv: np.ndarray) -> np.ndarray:
        return uv @ lin.T + off

    pattern = tex['pattern']
    if pattern == 'spots':
        n = int(prng.integers(6, 16))
        for _ in range(n):
            c = prng.uniform(-0.9, 0.9, size=2)
            r = prng.uniform(0.06, 0.14)
            uv = c[None, :] + r * unit_circle(12).T * np.array([1.0, 1.6])
            cv2.fillPoly(patch, [_fixed(to_img(uv))], color, cv2.LINE_AA,
                         _SHIFT)
    elif pattern == 'patches':
        n = int(prng.integers(3, 7))
        for _ in range(n):
            c = prng.uniform(-0.8, 0.8, size=2)
            radii = prng.uniform(0.15, 0.4, size=10)
            t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
            uv = c[None, :] + np.stack(
                [radii * np.cos(t), 1.6 * radii * np.sin(t)], axis=1)
            cv2.fillPoly(patch, [_fixed(to_img(uv))], color, cv2.LINE_AA,
                         _SHIFT)
    elif pattern == 'stripes':
        n = int(prng.integers(5, 10))
        xs = np.linspace(-1.0, 1.0, n) + prng.uniform(-0.05, 0.05, size=n)
        for x in xs:
            width = prng.uniform(0.04, 0.08)
            slant = prng.uniform(-0.15, 0.15)
            uv = np.array([[x - width, -1.2], [x + width, -1.2],
                           [x + width + slant, 0.3], [x - width + slant, 0.3]])
            cv2.fillPoly(patch, [_fixed(to_img(uv))], color, cv2.LINE_AA,
                         _SHIFT)
    elif pattern == 'wool':
        n = 40
        cs = prng.uniform(-1.0, 1.0, size=(n, 2))
        rr = prng.uniform(0.05, 0.1, size=n)
        for c, r in zip(cs, rr):
            uv = c[None, :] + r * unit_circle(8).T * np.array([1.0, 1.6])
            cv2.polylines(patch, [_fixed(to_img(uv))], True, color, 1,
                          cv2.LINE_AA, _SHIFT)
    if pattern in ('noise', 'wool'):
        noise = prng.normal(0.0, 12.0, size=(rh, rw, 1)).astype(np.float32)
        patch = np.clip(patch.astype(np.float32) + noise, 0,
                        255).astype(np.uint8)
    roi = img[y0:y1, x0:x1]
    alpha = (mask.astype(np.float32) * (1.0 / 255.0))[..., None]
    blended = roi.astype(np.float32) * (1.0 - alpha) + patch.astype(
        np.float32) * alpha
    roi[:] = (blended + 0.5).astype(np.uint8)


def _draw_part(img: np.ndarray, lbl: np.ndarray, part: Part, label: int,
               outline_px: int) -> None:
    fixed = [_fixed(prim.pts) for prim in part.prims]
    for prim, pts in zip(part.prims, fixed):
        if prim.outline:
            cv2.polylines(img, [pts], True, shade(prim.color, 0.45),
                          2 * outline_px, cv2.LINE_AA, _SHIFT)
    for prim, pts in zip(part.prims, fixed):
        if prim.texture is not None:
            _fill_textured(img, prim.pts, prim.color, prim.texture)
        else:
            cv2.fillPoly(img, [pts], prim.color, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(lbl, [pts], label, cv2.LINE_8, _SHIFT)


_GRIDS: Dict[Tuple[int, int], Tuple[np.ndarray, np.ndarray]] = {}


def _grid(w: int, h: int) -> Tuple[np.ndarray, np.ndarray]:
    if (w, h) not in _GRIDS:
        gx = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
        gy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        _GRIDS[(w, h)] = (gx, gy)
    return _GRIDS[(w, h)]


def _random_shape(rng: np.random.Generator, cx: float, cy: float,
                  size: float) -> np.ndarray:
    """A random filled shape (polygon, (N, 2)) around (cx, cy)."""
    kind = int(rng.integers(4))
    ang = rng.uniform(0, np.pi)
    rot = np.array([[math.cos(ang), -math.sin(ang)],
                    [math.sin(ang), math.cos(ang)]])
    if kind == 0:  # rectangle
        hw, hh = size * rng.uniform(0.3, 0.7), size * rng.uniform(0.2, 0.6)
        pts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    elif kind == 1:  # ellipse
        pts = unit_circle(20).T * np.array(
            [size * rng.uniform(0.3, 0.6), size * rng.uniform(0.2, 0.5)])
    elif kind == 2:  # irregular polygon
        n = int(rng.integers(3, 8))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = size * rng.uniform(0.25, 0.6, n)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    else:  # bar (post, branch)
        hw, hh = size * rng.uniform(0.6, 1.0), size * rng.uniform(0.06, 0.15)
        pts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    return pts @ rot.T + np.array([cx, cy])


def render_background(rng: np.random.Generator, w: int,
                      h: int) -> np.ndarray:
    """A cluttered background: a gradient with low-frequency noise, maybe
    a ground plane, and random shapes; BGR, (h, w, 3) uint8."""
    gx, gy = _grid(w, h)
    c1 = rng.uniform(0, 255, size=3).astype(np.float32)
    c2 = rng.uniform(0, 255, size=3).astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    t = gx * math.cos(ang) + gy * math.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c1 + (c2 - c1) * t[..., None]
    low = rng.normal(0.0, 1.0, size=(6, 6, 3)).astype(np.float32)
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) * float(
        rng.uniform(5, 35))
    if rng.random() < 0.4:  # ground plane below a horizon
        horizon = int(h * rng.uniform(0.3, 0.7))
        ground = rng.uniform(0, 255, size=3).astype(np.float32)
        img[horizon:] = 0.35 * img[horizon:] + 0.65 * ground
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 12))):
        size = min(w, h) * rng.uniform(0.05, 0.4)
        pts = _random_shape(rng, rng.uniform(0, w), rng.uniform(0, h), size)
        col = random_color(rng)
        if rng.random() < 0.25:
            cv2.polylines(img, [_fixed(pts)], True, col,
                          int(rng.integers(1, 4)), cv2.LINE_AA, _SHIFT)
        else:
            cv2.fillPoly(img, [_fixed(pts)], col, cv2.LINE_AA, _SHIFT)
    return img


def add_blur_and_noise(rng: np.random.Generator,
                       img: np.ndarray) -> np.ndarray:
    """Randomly blur (p = 0.3) and add Gaussian sensor noise."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (5, 5), rng.uniform(0.4, 1.0))
    sigma = rng.uniform(0.0, 6.0)
    if sigma > 1.0:
        noise = rng.standard_normal(img.shape, dtype=np.float32) * sigma
        img = np.clip(img.astype(np.float32) + noise, 0,
                      255).astype(np.uint8)
    return img


def _place_rig(rng: np.random.Generator, spec: AnimalSpec, img_w: int,
               img_h: int, frac: float, truncate: bool) -> Rig:
    rig = build_rig(spec)
    roll = rng.normal(0.0, 0.15) if rng.random() < 0.8 else rng.uniform(
        -0.6, 0.6)
    rot = np.array([[math.cos(roll), -math.sin(roll)],
                    [math.sin(roll), math.cos(roll)]])
    lo, hi = rig_extent(rig, rot)
    ext = hi - lo
    scale = frac * min(img_w, img_h) / float(max(ext.max(), 1e-6))
    bw, bh = ext * scale
    if truncate:
        side = int(rng.integers(4))
        out = rng.uniform(0.2, 0.5)
        xmin = rng.uniform(0, max(img_w - bw, 0))
        ymin = rng.uniform(0, max(img_h - bh, 0))
        if side == 0:
            xmin = -out * bw
        elif side == 1:
            xmin = img_w - (1.0 - out) * bw
        elif side == 2:
            ymin = -out * bh
        else:
            ymin = img_h - (1.0 - out) * bh
    else:
        xmin = rng.uniform(0, img_w - bw) if bw < img_w else (img_w - bw) / 2
        ymin = rng.uniform(0, img_h - bh) if bh < img_h else (img_h - bh) / 2
    mat = scale * rot
    trans = np.array([xmin, ymin]) - scale * lo
    transform_rig(rig, mat, trans)
    return rig


def paint_occluder(img: np.ndarray, lbl: np.ndarray, pts: np.ndarray,
                   color: Tuple[int, int, int]) -> None:
    """Fill the polygon ``pts`` (N, 2) with ``color`` in the image and with
    the occluder label in the label map, so it hides what lies below."""
    fixed = _fixed(pts)
    cv2.fillPoly(img, [fixed], color, cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(lbl, [fixed], _OCCLUDER_LABEL, cv2.LINE_8, _SHIFT)


def _draw_occluder(rng: np.random.Generator, img: np.ndarray,
                   lbl: np.ndarray, kpts: np.ndarray, size: float) -> None:
    h, w = img.shape[:2]
    inside = np.flatnonzero((kpts[:, 0] >= 0) & (kpts[:, 0] <= w - 1)
                            & (kpts[:, 1] >= 0) & (kpts[:, 1] <= h - 1))
    if inside.size == 0:
        return
    anchor = kpts[inside[int(rng.integers(inside.size))]]
    center = anchor + rng.normal(0.0, 0.1 * size, size=2)
    pts = _random_shape(rng, center[0], center[1],
                        size * rng.uniform(0.25, 0.45))
    paint_occluder(img, lbl, pts, random_color(rng))
    if rng.random() < 0.5:  # a little texture: stripes of a second colour
        tex = random_color(rng)
        n = int(rng.integers(2, 5))
        for k in range(n):
            q = pts[0] + (pts[len(pts) // 2] - pts[0]) * (k + 0.5) / n
            cv2.circle(img, (int(q[0]), int(q[1])), max(1, int(size * 0.04)),
                       tex, -1, cv2.LINE_AA)


def _visibility(kpts: np.ndarray, kpt_ok: np.ndarray, lbl: np.ndarray,
                animal: int) -> np.ndarray:
    """Visibility (20,) int64 of animal ``animal``'s keypoints (20, 2):
    1 where the label map ``lbl`` (H, W) shows a part that owns the point.
    """
    h, w = lbl.shape
    vis = np.zeros(len(kpts), dtype=np.int64)
    base = 1 + PARTS_PER_ANIMAL * animal
    for k, (x, y) in enumerate(kpts):
        if not kpt_ok[k] or not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            continue
        value = int(lbl[int(round(y)), int(round(x))])
        if any(value == base + p for p in KPT_OWNERS[k]):
            vis[k] = 1
    return vis


def _annotation(kpts: np.ndarray, vis: np.ndarray, rig: Rig, w: int, h: int,
                category: str) -> dict:
    """The release-format annotation (without ``image_id``) of a placed
    rig in a (w, h) image: amodal bbox clipped to the image, keypoints
    (20, 2) with visibility ``vis`` (20,), category id."""
    pts = np.concatenate([prim.pts for part in rig.parts
                          for prim in part.prims] + [rig.kpts])
    xmin = float(np.clip(pts[:, 0].min(), 0, w - 1))
    ymin = float(np.clip(pts[:, 1].min(), 0, h - 1))
    xmax = float(np.clip(pts[:, 0].max(), 0, w - 1))
    ymax = float(np.clip(pts[:, 1].max(), 0, h - 1))
    xmax = max(xmax, min(xmin + 1.0, float(w - 1)))
    ymax = max(ymax, min(ymin + 1.0, float(h - 1)))
    if xmax <= xmin:
        xmin = xmax - 1.0
    if ymax <= ymin:
        ymin = ymax - 1.0
    return dict(
        bbox=[round(xmin, 2), round(ymin, 2), round(xmax, 2), round(ymax, 2)],
        keypoints=[[float(x), float(y), int(v)]
                   for (x, y), v in zip(kpts, vis)],
        num_keypoints=int(vis.sum()),
        category_id=CATEGORY_IDS[category])


def annotate_rig(rig: Rig, lbl: np.ndarray, animal: int,
                 category: str) -> Tuple[dict, np.ndarray]:
    """Ground truth of the ``animal``-th painted rig from the label map.

    Args:
        rig (Rig): The placed rig.
        lbl (np.ndarray): The scene's label map, (H, W) uint8.
        animal (int): The rig's index in painting order.
        category (str): The animal's category.

    Returns:
        tuple[dict, np.ndarray]: The release-format annotation (without
        ``image_id``; keypoints rounded to 0.01 px) and the visibility,
        (20,) int64.
    """
    h, w = lbl.shape
    kpts = np.round(rig.kpts, 2)
    vis = _visibility(kpts, rig.kpt_ok, lbl, animal)
    return _annotation(kpts, vis, rig, w, h, category), vis


def compose(rng: np.random.Generator, img: np.ndarray,
            rigs: List[Tuple[AnimalSpec, Rig]], occlusion_prob: float,
            postprocess: bool) -> SceneResult:
    """Draw placed rigs over ``img`` (in order), occluders, ground truth."""
    h, w = img.shape[:2]
    lbl = np.zeros((h, w), np.uint8)
    for k, (spec, rig) in enumerate(rigs):
        ext = np.ptp(rig.kpts, axis=0).max()
        outline_px = 1 if ext < 260 else 2
        for part in sorted(rig.parts, key=lambda p: p.depth):
            _draw_part(img, lbl, part,
                       1 + PARTS_PER_ANIMAL * k + part.part_id, outline_px)
    for spec, rig in rigs:
        if rng.random() < occlusion_prob:
            size = float(np.ptp(rig.kpts, axis=0).max())
            for _ in range(1 if rng.random() < 0.7 else 2):
                _draw_occluder(rng, img, lbl, rig.kpts, size)
    if postprocess:
        img = add_blur_and_noise(rng, img)
    annotations, keypoints, animals = [], [], []
    for k, (spec, rig) in enumerate(rigs):
        ann, vis = annotate_rig(rig, lbl, k, spec.category)
        annotations.append(ann)
        keypoints.append(np.concatenate([rig.kpts, vis[:, None]], axis=1))
        animals.append(
            dict(
                spec=spec,
                near_side='left' if spec.left_side_near else 'right',
                **rig.colors))
    return SceneResult(img, lbl, annotations, keypoints, animals)


def render_scene(rng: np.random.Generator,
                 image_size: Tuple[int, int] = (256, 256),
                 max_animals: int = 1,
                 categories: Optional[Sequence[str]] = None,
                 occlusion_prob: float = 0.3,
                 truncation_prob: float = 0.15,
                 specs: Optional[Sequence[AnimalSpec]] = None,
                 postprocess: bool = True) -> SceneResult:
    """Render one image: background clutter, 1..``max_animals`` animals,
    occluders and (optionally) blur / sensor noise.

    Args:
        rng (np.random.Generator): Source of randomness.
        image_size (tuple[int, int]): Output (width, height).
        max_animals (int): The number of animals is uniform in
            ``[1, max_animals]``. Ignored when ``specs`` is given.
        categories (Sequence[str], optional): Categories to draw from.
        occlusion_prob (float): Per-animal probability of an occluder.
        truncation_prob (float): Per-animal probability of being placed
            partly outside the image.
        specs (Sequence[AnimalSpec], optional): Use these animals instead of
            sampling them.
        postprocess (bool): Apply random blur and noise. Defaults to True.

    Returns:
        SceneResult: Image, label map and ground truth.
    """
    w, h = check_size(image_size, 'image_size')
    occlusion_prob = check_prob(occlusion_prob, 'occlusion_prob')
    truncation_prob = check_prob(truncation_prob, 'truncation_prob')
    if specs is None:
        max_animals = check_max_animals(max_animals)
        n = int(rng.integers(1, max_animals + 1))
        specs = [sample_animal_spec(rng, categories=categories)
                 for _ in range(n)]
    n = len(specs)
    if n > _MAX_ANIMALS:
        raise ValueError(f'specs: at most {_MAX_ANIMALS} animals per image, '
                         f'got {n}')
    img = render_background(rng, w, h)
    rigs = []
    for spec in specs:
        frac = rng.uniform(0.5, 0.95) / (1.0 + 0.4 * (n - 1))
        truncate = rng.random() < truncation_prob
        rigs.append((spec, _place_rig(rng, spec, w, h, frac, truncate)))
    # animals lower in the image are nearer to the camera: draw them last
    order = sorted(range(n), key=lambda k: float(rigs[k][1].kpts[:, 1].max()))
    rigs = [rigs[k] for k in order]
    return compose(rng, img, rigs, occlusion_prob, postprocess)


# ---------------------------------------------------------------------------
# argument checks


def check_size(size: Sequence[int], name: str) -> Tuple[int, int]:
    """``(width, height)`` as ints in [32, 4096], else ``ValueError``."""
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f'{name}: expected (width, height), got {size!r}')
    if w < 32 or h < 32 or w > 4096 or h > 4096:
        raise ValueError(f'{name}: width and height must be in [32, 4096], '
                         f'got {size!r}')
    return w, h


def check_max_animals(value: int) -> int:
    """Animals per image as an int in [1, 14], else ``ValueError``."""
    value = int(value)
    if not 1 <= value <= _MAX_ANIMALS:
        raise ValueError(f'max_animals: must be in [1, {_MAX_ANIMALS}], got '
                         f'{value}')
    return value


def check_prob(value: float, name: str) -> float:
    """A probability as a float in [0, 1], else ``ValueError``."""
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name}: must be in [0, 1], got {value}')
    return value

