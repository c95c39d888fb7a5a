"""Seeded synthetic Animal-Pose generator (the project's embedded default data).

Draws cartoon quadrupeds (dog, cat, sheep, cow, horse) with the 20 keypoints
of the Animal-Pose dataset (Cao et al., ICCV 2019) and writes them in the
format of the ORIGINAL Animal-Pose release (``keypoints.json``, *not* the
COCO-style conversion mmpose ships)::

    <out_dir>/
        keypoints.json          # {"images", "annotations", "categories"}
        images/synth_000001.jpg ...
        clip.mp4                # optional: a walking / turning animal
        clip_keypoints.json     # optional: per-frame ground truth of the clip

``keypoints.json`` layout (as in the release):

- ``"images"``: ``{"<image id>": "<file name>", ...}`` (ids start at 1).
- ``"annotations"``: list of ``{"image_id": int, "bbox": [xmin, ymin, xmax,
  ymax], "keypoints": [[x, y, v] x 20], "num_keypoints": int,
  "category_id": int}``. ``v`` is 1 for a visible keypoint and 0 otherwise
  (occluded by an occluder, another animal or the animal's own body, or
  outside the image). Unlike the release, which stores unlabelled points as
  ``[0, 0, 0]``, invisible points keep their true (possibly out-of-image)
  position so they stay usable as ground truth; readers must treat ``v=0``
  points as unlabelled. ``bbox`` is the animal's amodal extent clipped to the
  image. ``num_keypoints`` counts the points with ``v=1``.
- ``"categories"``: the release's five categories with ids 1..5 = dog, cat,
  sheep, cow, horse, each with the 20 keypoint names and the release's
  0-based skeleton (the same 15 links as the release's
  ``visualize_keypoint.py``).

Rendering model: every animal is a small 3D rig (a rounded-box torso with
withers and tailbase at its top front / rear, a tapered neck, skull and
muzzle ellipsoids with eyes, nose and ears, four elbow -> knee -> paw legs, a
tail) with per-category proportions (:data:`CATEGORY_SETTINGS`), posed
(walking cycle, neck / head angles, head turn, tail), rotated about the
vertical axis (yaw), seen from a slightly elevated camera (orthographic) and
then scaled, rolled and placed in the image over a cluttered background. Parts are painted back to front by depth and
an integer part-label map is painted alongside, which decides keypoint
visibility exactly. With the animal facing right its LEFT side faces the
camera: near-side legs, eye and ear are drawn in front in a lighter shade,
far-side ones behind in a darker shade, the far eye is hidden when the head
is in profile -- so left and right are learnable, as in real photographs.

Determinism: all randomness comes from :class:`numpy.random.Generator`
instances seeded from ``seed`` (image ``i`` uses ``default_rng([seed, 0,
i])``, the clip ``default_rng([seed, 1])``); no global RNG and no clock is
used, JPEGs are encoded with a fixed quality by :func:`cv2.imencode` and the
JSON files are written with a fixed key order. The clip is written by
OpenCV's FFmpeg backend with the fixed FourCC ``mp4v`` (MPEG-4 part 2), whose
output is byte-identical for identical frames with a given OpenCV build: the
mp4 muxer writes creation / modification times of 0 (no clock), and the only
build-dependent bytes are the encoder tag (e.g. ``Lavf59.27.100``) and the
codec version; ``tests/test_synthetic.py`` checks two runs for identical
bytes.
"""
import json
import math
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    'KEYPOINT_NAMES', 'SKELETON', 'FLIP_PAIRS', 'CATEGORY_IDS',
    'CATEGORY_SETTINGS', 'AnimalSpec', 'SceneResult', 'sample_animal_spec',
    'render_scene', 'make_clip', 'generate_synthetic_animalpose'
]

KEYPOINT_NAMES: Tuple[str, ...] = (
    'left_eye', 'right_eye', 'nose', 'left_ear', 'right_ear',
    'left_front_elbow', 'right_front_elbow', 'left_back_elbow',
    'right_back_elbow', 'left_front_knee', 'right_front_knee',
    'left_back_knee', 'right_back_knee', 'left_front_paw', 'right_front_paw',
    'left_back_paw', 'right_back_paw', 'throat', 'withers', 'tailbase')
NUM_KEYPOINTS = len(KEYPOINT_NAMES)

#: The release's skeleton, 0-based indices into :data:`KEYPOINT_NAMES`.
SKELETON: Tuple[Tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 2), (0, 3), (1, 4), (2, 17), (18, 19), (5, 9),
    (6, 10), (7, 11), (8, 12), (9, 13), (10, 14), (11, 15), (12, 16))

#: Left/right keypoint pairs (swap under a horizontal flip).
FLIP_PAIRS: Tuple[Tuple[int, int], ...] = ((0, 1), (3, 4), (5, 6), (7, 8),
                                           (9, 10), (11, 12), (13, 14),
                                           (15, 16))

#: Category ids of the original release.
CATEGORY_IDS: Dict[str, int] = {
    'dog': 1,
    'cat': 2,
    'sheep': 3,
    'cow': 4,
    'horse': 5
}

# keypoint indices
_L_EYE, _R_EYE, _NOSE, _L_EAR, _R_EAR = 0, 1, 2, 3, 4
_THROAT, _WITHERS, _TAILBASE = 17, 18, 19
# legs in the order LF, RF, LB, RB: elbow = 5 + i, knee = 9 + i, paw = 13 + i
_LEG_SIDE = (1.0, -1.0, 1.0, -1.0)  # +1: left (+z), -1: right
_LEG_FRONT = (True, True, False, False)

# part ids inside one animal (label map value = 1 + 16 * animal + part)
_P_TORSO, _P_NECK, _P_HEAD, _P_TAIL, _P_EAR_L, _P_EAR_R = 0, 1, 2, 3, 4, 5
_P_LEGS = (6, 7, 8, 9)
_PARTS_PER_ANIMAL = 16
_MAX_ANIMALS = 14
_OCCLUDER_LABEL = 255

# which parts may be seen at a keypoint's pixel for it to count as visible
_KPT_OWNERS: Tuple[Tuple[int, ...], ...] = (
    (_P_HEAD, ), (_P_HEAD, ), (_P_HEAD, ), (_P_EAR_L, _P_HEAD),
    (_P_EAR_R, _P_HEAD)) + tuple(
        (_P_LEGS[i], _P_TORSO) for i in range(4)) + tuple(
            (_P_LEGS[i], ) for i in range(4)) + tuple(
                (_P_LEGS[i], ) for i in range(4)) + (
                    (_P_NECK, _P_HEAD), (_P_TORSO, _P_NECK),
                    (_P_TORSO, _P_TAIL))

_FIX = 16.0  # fixed-point factor for cv2 drawing (shift=4)
_SHIFT = 4

# Per-category body plans (lengths in units of the withers-tailbase
# distance). Ranges are sampled uniformly; every length is further jittered
# by +-10 % per animal. Colours are BGR.
CATEGORY_SETTINGS: Dict[str, dict] = {
    'dog': dict(
        body_h=0.42, body_w=0.16, leg_upper=0.28, leg_lower=0.27,
        leg_r=0.05, neck_len=0.30, neck_angle=(30, 60), head_r=0.12,
        snout_len=0.27, snout_r=0.055, head_pitch=(0, 30),
        ear_styles=('pointy', 'floppy'), ear_len=0.13, tail_len=0.45,
        tail_r=(0.035, 0.015), tail_angle=(0, 60), tail_curve=(0, 20),
        tail_tuft=False, grazing_prob=0.0, hooves=False,
        patterns=('plain', 'plain', 'spots', 'patches', 'noise'),
        palette=((40, 70, 120), (90, 150, 200), (30, 30, 35),
                 (215, 220, 225), (120, 120, 125), (70, 150, 210),
                 (60, 90, 150))),
    'cat': dict(
        body_h=0.36, body_w=0.13, leg_upper=0.24, leg_lower=0.24,
        leg_r=0.042, neck_len=0.20, neck_angle=(25, 55), head_r=0.105,
        snout_len=0.10, snout_r=0.06, head_pitch=(0, 25),
        ear_styles=('pointy', ), ear_len=0.10, tail_len=0.75,
        tail_r=(0.03, 0.022), tail_angle=(10, 70), tail_curve=(10, 35),
        tail_tuft=False, grazing_prob=0.0, hooves=False,
        patterns=('plain', 'stripes', 'stripes', 'spots', 'noise'),
        palette=((40, 120, 220), (130, 130, 135), (35, 35, 40),
                 (225, 225, 225), (70, 100, 130), (100, 150, 190))),
    'sheep': dict(
        body_h=0.56, body_w=0.26, leg_upper=0.20, leg_lower=0.22,
        leg_r=0.04, neck_len=0.24, neck_angle=(20, 45), head_r=0.12,
        snout_len=0.20, snout_r=0.065, head_pitch=(20, 50),
        ear_styles=('side', ), ear_len=0.12, tail_len=0.16,
        tail_r=(0.05, 0.04), tail_angle=(-80, -50), tail_curve=(0, 5),
        tail_tuft=False, grazing_prob=0.15, hooves=True,
        patterns=('wool', 'wool', 'noise'),
        palette=((200, 215, 225), (170, 200, 215), (110, 120, 130),
                 (225, 230, 235))),
    'cow': dict(
        body_h=0.60, body_w=0.26, leg_upper=0.26, leg_lower=0.28,
        leg_r=0.065, neck_len=0.28, neck_angle=(0, 30), head_r=0.15,
        snout_len=0.28, snout_r=0.09, head_pitch=(25, 55),
        ear_styles=('side', ), ear_len=0.13, tail_len=0.60,
        tail_r=(0.02, 0.015), tail_angle=(-85, -70), tail_curve=(-5, 5),
        tail_tuft=True, grazing_prob=0.15, hooves=True,
        patterns=('patches', 'patches', 'plain'),
        palette=((35, 35, 35), (40, 70, 130), (40, 60, 160),
                 (215, 220, 220), (90, 130, 170))),
    'horse': dict(
        body_h=0.48, body_w=0.20, leg_upper=0.42, leg_lower=0.46,
        leg_r=0.055, neck_len=0.52, neck_angle=(45, 70), head_r=0.12,
        snout_len=0.40, snout_r=0.07, head_pitch=(45, 75),
        ear_styles=('horse', ), ear_len=0.10, tail_len=0.60,
        tail_r=(0.05, 0.07), tail_angle=(-80, -50), tail_curve=(-10, 0),
        tail_tuft=False, grazing_prob=0.1, hooves=True,
        patterns=('plain', 'plain', 'spots'),
        palette=((40, 80, 150), (30, 55, 100), (30, 30, 32),
                 (150, 150, 155), (210, 215, 220), (110, 180, 220))),
}

# ear directions in the head frame (x: nose, y: jaw side, z: lateral)
_EAR_DIRS: Dict[str, Tuple[float, float, float]] = {
    'pointy': (-0.35, -0.94, 0.25),
    'floppy': (-0.4, 0.8, 0.55),
    'side': (-0.5, 0.1, 0.85),
    'horse': (-0.75, -0.65, 0.12),
}

_MUZZLE_TINTS = ((170, 180, 215), (140, 170, 200), (210, 215, 220),
                 (120, 130, 150))


@dataclass
class AnimalSpec:
    """Appearance, proportions and pose of one synthetic animal.

    Angles are in radians. ``yaw`` is the rotation about the vertical axis:
    0 is a right-facing side view (left side towards the camera), pi a
    left-facing one.

    Args:
        category (str): One of :data:`CATEGORY_IDS`.
        dims (dict): Sampled body lengths (see :data:`CATEGORY_SETTINGS`).
        yaw (float): Body yaw.
        elevation (float): Camera elevation above the animal (> 0 looks
            down; far-side points appear higher).
        head_turn (float): Head yaw relative to the body, positive turns the
            nose towards the animal's left side.
        neck_angle (float): Neck direction above the horizontal.
        head_pitch (float): Head axis below the horizontal.
        gait_phase (float): Phase of the walking cycle.
        gait_amp (float): Leg swing amplitude (0 = standing).
        gait_lag (float): Phase lag of the hind legs (0 trot, pi/2 walk).
        leg_jitter (np.ndarray): Per-leg (upper, lower) angle offsets, (4, 2).
        back_tilt (float): Height of the tailbase below the withers.
        tail_angle (float): Tail direction above the backward horizontal.
        tail_curve (float): Tail curvature per segment.
        ear_style (str): ``'pointy'``, ``'floppy'``, ``'side'`` or
            ``'horse'``.
        body_color, leg_color, head_color, muzzle_color, secondary_color,
            tail_color, hoof_color (tuple): BGR colours.
        pattern (str): Torso pattern.
        pattern_seed (int): Seed of the pattern layout (stable over frames).
    """
    category: str
    dims: Dict[str, float]
    yaw: float = 0.0
    elevation: float = 0.25
    head_turn: float = 0.0
    neck_angle: float = 0.7
    head_pitch: float = 0.3
    gait_phase: float = 0.0
    gait_amp: float = 0.2
    gait_lag: float = 0.0
    leg_jitter: np.ndarray = field(
        default_factory=lambda: np.zeros((4, 2)))
    back_tilt: float = 0.0
    tail_angle: float = 0.5
    tail_curve: float = 0.2
    ear_style: str = 'pointy'
    body_color: Tuple[int, int, int] = (40, 70, 120)
    leg_color: Tuple[int, int, int] = (40, 70, 120)
    head_color: Tuple[int, int, int] = (40, 70, 120)
    muzzle_color: Tuple[int, int, int] = (140, 170, 200)
    secondary_color: Tuple[int, int, int] = (200, 200, 200)
    tail_color: Tuple[int, int, int] = (40, 70, 120)
    hoof_color: Optional[Tuple[int, int, int]] = None
    pattern: str = 'plain'
    pattern_seed: int = 0

    @property
    def left_side_near(self) -> bool:
        """Whether the animal's left side faces the camera."""
        return math.cos(self.yaw) >= 0.0


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


@dataclass
class _Prim:
    pts: np.ndarray  # (N, 2) polygon in image (or unit) coordinates
    color: Tuple[int, int, int]
    outline: bool = True
    texture: Optional[dict] = None


@dataclass
class _Part:
    part_id: int
    depth: float
    prims: List[_Prim]


@dataclass
class _Rig:
    kpts: np.ndarray  # (20, 2)
    kpt_ok: np.ndarray  # (20,) bool, False: self-occluded by geometry
    parts: List[_Part]
    colors: Dict[str, Tuple[int, int, int]]


# ---------------------------------------------------------------------------
# small geometry helpers


def _rot_y(a: float) -> np.ndarray:
    """Yaw: maps (x, y, z) to (x cos + z sin, y, -x sin + z cos)."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    """Pitch in the sagittal plane: positive turns +x towards +y (down)."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_elev(a: float) -> np.ndarray:
    """Camera elevation: near points (depth > 0) move down in the image."""
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


_UNIT_CIRCLES: Dict[int, np.ndarray] = {}


def _unit_circle(n: int) -> np.ndarray:
    if n not in _UNIT_CIRCLES:
        t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        _UNIT_CIRCLES[n] = np.stack([np.cos(t), np.sin(t)], axis=0)
    return _UNIT_CIRCLES[n]


def _ellipse_from_matrix(center: np.ndarray, mat: np.ndarray,
                         n: int = 32) -> np.ndarray:
    """Polygon of the 2D ellipse {x: (x-c)^T mat^-1 (x-c) <= 1}, (n, 2)."""
    vals, vecs = np.linalg.eigh(mat)
    vals = np.sqrt(np.maximum(vals, 1e-12))
    return center[None, :] + ((vecs * vals[None, :]) @ _unit_circle(n)).T


def _circle(center: np.ndarray, r: float, n: int = 14) -> np.ndarray:
    return center[None, :] + r * _unit_circle(n).T


def _capsule(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float,
             n: int = 7) -> np.ndarray:
    """Tapered segment with round caps as one polygon, (2n, 2)."""
    d = p1 - p0
    length = math.hypot(d[0], d[1])
    u = d / length if length > 1e-9 else np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])
    a1 = np.linspace(-np.pi / 2, np.pi / 2, n)
    a0 = a1 + np.pi
    cap1 = p1[None, :] + r1 * (np.cos(a1)[:, None] * u + np.sin(a1)[:, None] * v)
    cap0 = p0[None, :] + r0 * (np.cos(a0)[:, None] * u + np.sin(a0)[:, None] * v)
    return np.concatenate([cap1, cap0], axis=0)


def _shade(color: Sequence[float], factor: float,
           add: float = 0.0) -> Tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(c * factor + add)))) for c in color)


def _jitter_color(rng: np.random.Generator, color: Sequence[int],
                  amount: int = 18) -> Tuple[int, int, int]:
    off = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + o, 0, 255)) for c, o in zip(color, off))


def _random_color(rng: np.random.Generator) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, size=3))


# ---------------------------------------------------------------------------
# animal sampling


def sample_animal_spec(rng: np.random.Generator,
                       category: Optional[str] = None,
                       categories: Optional[Sequence[str]] = None
                       ) -> AnimalSpec:
    """Sample the proportions, pose, view and appearance of one animal.

    Args:
        rng (np.random.Generator): Source of randomness.
        category (str, optional): Fixed category. Defaults to a uniform draw
            from ``categories``.
        categories (Sequence[str], optional): Categories to draw from.
            Defaults to all five.

    Returns:
        AnimalSpec: The sampled animal.
    """
    if category is None:
        names = _check_categories(categories)
        category = names[int(rng.integers(len(names)))]
    elif category not in CATEGORY_SETTINGS:
        raise ValueError(f'category: unknown animal category {category!r}, '
                         f'expected one of {sorted(CATEGORY_IDS)}')
    cfg = CATEGORY_SETTINGS[category]
    keys = ('body_h', 'body_w', 'leg_upper', 'leg_lower', 'leg_r',
            'neck_len', 'head_r', 'snout_len', 'snout_r', 'ear_len',
            'tail_len')
    jit = rng.uniform(0.9, 1.1, size=len(keys))
    dims = {k: float(cfg[k] * j) for k, j in zip(keys, jit)}
    tr = rng.uniform(0.85, 1.15)
    dims['tail_r0'] = float(cfg['tail_r'][0] * tr)
    dims['tail_r1'] = float(cfg['tail_r'][1] * tr)

    # view: mostly side views, either facing
    yaw = float(np.clip(rng.normal(0.0, 0.35), -0.87, 0.87))
    if rng.random() < 0.5:
        yaw += math.pi
    near_sign = 1.0 if math.cos(yaw) >= 0 else -1.0
    turn = float(np.clip(rng.normal(0.15, 0.35), -0.5, 1.0))
    grazing = rng.random() < cfg['grazing_prob']
    if grazing:
        neck_angle = math.radians(rng.uniform(-60, -35))
        head_pitch = math.radians(rng.uniform(75, 100))
    else:
        neck_angle = math.radians(rng.uniform(*cfg['neck_angle']))
        head_pitch = math.radians(rng.uniform(*cfg['head_pitch']))
    gait_amp = 0.0 if rng.random() < 0.15 else float(rng.uniform(0.05, 0.4))

    body = _jitter_color(rng, cfg['palette'][int(rng.integers(
        len(cfg['palette'])))])
    pattern = cfg['patterns'][int(rng.integers(len(cfg['patterns'])))]
    if category == 'cow' and pattern == 'patches':
        # black/white or brown/white cows
        secondary = _jitter_color(rng, (225, 228, 230), 10) if sum(
            body) < 450 else _jitter_color(rng, (35, 35, 35), 10)
    elif pattern in ('wool', 'noise'):
        secondary = _shade(body, rng.uniform(0.75, 1.15))
    else:
        secondary = _shade(body, rng.choice([0.45, 1.6]), rng.uniform(-10, 30))
    if category == 'sheep':
        face = _jitter_color(rng, (40, 40, 45)) if rng.random() < 0.4 else \
            _shade(body, 0.9)
        leg_color, head_color = face, face
    else:
        leg_color, head_color = body, body
    tail_color = _shade(body, 0.6) if category == 'horse' else body
    muzzle = _MUZZLE_TINTS[int(rng.integers(len(_MUZZLE_TINTS)))]
    muzzle = tuple(int(0.5 * a + 0.5 * b) for a, b in zip(head_color, muzzle))
    hoof = _jitter_color(rng, (45, 45, 50), 10) if cfg['hooves'] else None

    return AnimalSpec(
        category=category,
        dims=dims,
        yaw=yaw,
        elevation=float(rng.uniform(0.1, 0.45)),
        head_turn=near_sign * turn,
        neck_angle=neck_angle,
        head_pitch=head_pitch,
        gait_phase=float(rng.uniform(0.0, 2.0 * math.pi)),
        gait_amp=gait_amp,
        gait_lag=float(rng.uniform(0.0, math.pi / 2)),
        leg_jitter=rng.normal(0.0, 0.08, size=(4, 2)),
        back_tilt=float(rng.uniform(-0.06, 0.08)),
        tail_angle=math.radians(rng.uniform(*cfg['tail_angle'])),
        tail_curve=math.radians(rng.uniform(*cfg['tail_curve'])),
        ear_style=cfg['ear_styles'][int(rng.integers(len(
            cfg['ear_styles'])))],
        body_color=body,
        leg_color=leg_color,
        head_color=head_color,
        muzzle_color=muzzle,
        secondary_color=secondary,
        tail_color=tail_color,
        hoof_color=hoof,
        pattern=pattern,
        pattern_seed=int(rng.integers(0, 2**31 - 1)))


def _check_categories(categories: Optional[Sequence[str]]) -> List[str]:
    if categories is None:
        return list(CATEGORY_IDS)
    if isinstance(categories, str):
        categories = [categories]
    names = list(categories)
    if not names:
        raise ValueError('categories: must name at least one category')
    for name in names:
        if name not in CATEGORY_IDS:
            raise ValueError(
                f'categories: unknown animal category {name!r}, expected '
                f'one of {sorted(CATEGORY_IDS)}')
    return names


# ---------------------------------------------------------------------------
# rig: 3D pose -> 2D parts in unit coordinates


def _torso_outline(proj, center: np.ndarray, r_body: np.ndarray, a: float,
                   b: float, w: float, n: int = 32,
                   power: float = 2.6) -> np.ndarray:
    """Silhouette of the torso: a superellipse profile (u/a)^p + (v/b)^p = 1
    in the sagittal plane, rounded off towards the flanks (z = +-w), as the
    convex hull of its projection, (N, 2)."""
    t = _unit_circle(n)
    e = 2.0 / power
    prof = np.stack([np.sign(t[0]) * np.abs(t[0])**e,
                     np.sign(t[1]) * np.abs(t[1])**e], axis=0)
    pts = []
    for z, shrink in ((0.0, 1.0), (w, 0.8), (-w, 0.8)):
        local = np.stack([a * shrink * prof[0], b * shrink * prof[1],
                          np.full(n, z)], axis=0)
        pts.append((proj(center[:, None] + r_body @ local))[:2].T)
    pts = np.concatenate(pts, axis=0).astype(np.float32)
    return cv2.convexHull(pts)[:, 0, :].astype(np.float64)


def _build_rig(spec: AnimalSpec) -> _Rig:
    """Pose the 3D animal and project it to 2D (units of body length).

    Animal frame: x forward (head), y down, z towards the animal's left.
    Painting order uses the horizontal depth after the yaw only, so that the
    camera elevation does not reorder parts.
    """
    d = spec.dims
    cam_y = _rot_y(spec.yaw)
    cam = _rot_elev(spec.elevation) @ cam_y

    def proj(p: np.ndarray) -> np.ndarray:
        return cam @ p

    def depth(p: np.ndarray) -> float:
        return float(cam_y[2] @ p)

    b = d['body_h'] / 2.0
    a = 0.62
    w = d['body_w']
    power = 2.6
    withers = np.array([0.5, 0.0, 0.0])
    tailbase = np.array([-0.5, spec.back_tilt, 0.0])
    beta = math.atan2(withers[1] - tailbase[1], 1.0)
    r_body = _rot_z(beta)
    center = 0.5 * (withers + tailbase) + r_body @ np.array([0.0, 0.65 * b,
                                                             0.0])

    def body_pt(u: float, v: float, z: float = 0.0) -> np.ndarray:
        return center + r_body @ np.array([u, v, z])

    near_sign = 1.0 if math.cos(spec.yaw) >= 0 else -1.0
    kpts3 = np.zeros((NUM_KEYPOINTS, 3))
    kpt_ok = np.ones(NUM_KEYPOINTS, dtype=bool)
    kpts3[_WITHERS] = withers
    kpts3[_TAILBASE] = tailbase

    # colours ------------------------------------------------------------
    def side_t(side: float) -> float:
        """1 for the near side, 0 for the far side (smooth at yaw ~ 90)."""
        nd = side * math.cos(spec.yaw)
        return float(np.clip(0.5 + nd, 0.0, 1.0))

    def mix(c0, c1, t):
        return tuple(int(round(x0 + (x1 - x0) * t)) for x0, x1 in zip(c0, c1))

    leg_near = _shade(spec.leg_color, 1.2, 50)
    leg_far = _shade(spec.leg_color, 0.55)
    if spec.hoof_color is not None:
        paw_near = _shade(spec.hoof_color, 1.3, 35)
        paw_far = _shade(spec.hoof_color, 0.45)
    else:
        paw_near = _shade(leg_near, 0.62)
        paw_far = _shade(leg_far, 0.62)
    ear_near = _shade(spec.head_color, 1.15, 35)
    ear_far = _shade(spec.head_color, 0.6)

    parts: List[_Part] = []

    # torso ----------------------------------------------------------------
    torso_poly = _torso_outline(proj, center, r_body, a, b, w, 32, power)
    # pattern plane: the near flank, (u, v) in [-1, 1]^2 -> image
    lin = (cam @ r_body)[:2, :2] @ np.diag([a, b])
    off = proj(body_pt(0.0, 0.0, 0.6 * w * near_sign))[:2]
    texture = None
    if spec.pattern != 'plain':
        texture = dict(
            pattern=spec.pattern,
            color=spec.secondary_color,
            seed=spec.pattern_seed,
            lin=lin,
            off=off)
    parts.append(
        _Part(_P_TORSO, 0.0,
              [_Prim(torso_poly, spec.body_color, True, texture)]))

    # neck: a tapered capsule from the shoulders to the back of the head ---
    rs = d['head_r']
    sl = d['snout_len']
    sr = d['snout_r']
    axis = np.array([math.cos(spec.neck_angle), -math.sin(spec.neck_angle),
                     0.0])
    perp = np.array([math.sin(spec.neck_angle), math.cos(spec.neck_angle),
                     0.0])
    r_nb = 0.42 * d['body_h']
    r_nh = 0.7 * rs
    neck_base = withers + 0.9 * r_nb * perp
    neck_end = neck_base + d['neck_len'] * axis
    r_head = _rot_y(-spec.head_turn) @ _rot_z(spec.head_pitch)
    head_c = neck_end + r_head @ np.array([0.45 * rs, -0.1 * rs, 0.0])

    def head_pt(x: float, y: float, z: float = 0.0) -> np.ndarray:
        return head_c + r_head @ np.array([x, y, z])

    nb2, ne2 = proj(neck_base), proj(neck_end)
    neck_poly = _capsule(nb2[:2], ne2[:2], r_nb, r_nh, 9)
    nd = depth(0.5 * (neck_base + neck_end))
    # behind the torso unless it clearly comes towards the camera
    neck_depth = nd if nd > 0.25 else min(nd, 0.0) - 0.01
    parts.append(
        _Part(_P_NECK, neck_depth, [_Prim(neck_poly, spec.body_color)]))
    kpts3[_THROAT] = head_pt(-0.5 * rs, 0.8 * rs)

    # head: skull + snout ellipsoids, nose, eyes ---------------------------
    skull3 = r_head @ np.diag([(1.1 * rs)**2, (0.95 * rs)**2,
                               (0.85 * rs)**2]) @ r_head.T
    skull_c = proj(head_c)
    skull_poly = _ellipse_from_matrix(skull_c[:2],
                                      (cam @ skull3 @ cam.T)[:2, :2], 28)
    snout_c3 = head_pt(0.5 * sl, 0.25 * rs)
    snout3 = r_head @ np.diag([(0.55 * sl + 0.3 * sr)**2, sr**2,
                               (0.9 * sr)**2]) @ r_head.T
    snout_poly = _ellipse_from_matrix(
        proj(snout_c3)[:2], (cam @ snout3 @ cam.T)[:2, :2], 24)
    nose3 = head_pt(0.55 * sl + 0.1 * sr, 0.25 * rs - 0.25 * sr)
    kpts3[_NOSE] = nose3
    fwd_depth = float((cam @ r_head @ np.array([1.0, 0.0, 0.0]))[2])
    kpt_ok[_NOSE] = fwd_depth > -0.7
    head_prims = [
        _Prim(skull_poly, spec.head_color),
        _Prim(snout_poly, spec.muzzle_color),
    ]
    if kpt_ok[_NOSE]:
        head_prims.append(
            _Prim(_circle(proj(nose3)[:2], max(0.45 * sr, 0.03), 12),
                  (25, 22, 28), False))
    for idx, side in ((_L_EYE, 1.0), (_R_EYE, -1.0)):
        eye3 = head_pt(0.3 * rs, -0.3 * rs, side * 0.6 * rs)
        kpts3[idx] = eye3
        normal = r_head @ np.array([0.45, -0.25, side * 0.86])
        facing = float((cam @ normal)[2])
        kpt_ok[idx] = facing > 0.15
        if kpt_ok[idx]:
            er = 0.26 * rs * math.sqrt(min(1.0, facing + 0.2))
            c2 = proj(eye3)[:2]
            head_prims.append(_Prim(_circle(c2, er, 12), (225, 230, 230),
                                    False))
            head_prims.append(
                _Prim(_circle(c2, 0.6 * er, 10), (15, 15, 15), False))
    head_depth = depth(head_c) + 0.01
    parts.append(_Part(_P_HEAD, head_depth, head_prims))

    # ears -----------------------------------------------------------------
    el = d['ear_len']
    ew = 0.35 * el
    ex, ey, ez = _EAR_DIRS[spec.ear_style]
    f3 = r_head @ np.array([1.0, 0.0, 0.0])
    for idx, part_id, side in ((_L_EAR, _P_EAR_L, 1.0),
                               (_R_EAR, _P_EAR_R, -1.0)):
        base3 = head_pt(-0.3 * rs, -0.75 * rs, side * 0.45 * rs)
        kpts3[idx] = base3
        dirv = np.array([ex, ey, side * ez])
        tip3 = base3 + el * (r_head @ (dirv / np.linalg.norm(dirv)))
        if spec.ear_style == 'floppy':
            pts3 = [base3 + ew * f3, tip3 + 0.8 * ew * f3,
                    tip3 - 0.8 * ew * f3, base3 - ew * f3]
        else:
            pts3 = [base3 + ew * f3, tip3, base3 - ew * f3]
        poly = np.array([proj(p)[:2] for p in pts3])
        t = side_t(side)
        ear_depth = float(np.mean([depth(p) for p in pts3]))
        if t > 0.5:  # the near ear is always in front of the head
            ear_depth = max(ear_depth, head_depth + 0.001)
        else:
            ear_depth = min(ear_depth, head_depth - 0.001)
        parts.append(
            _Part(part_id, ear_depth, [_Prim(poly, mix(ear_far, ear_near,
                                                       t))]))

    # legs: elbow -> knee -> paw, walking cycle ----------------------------
    leg_w = 0.75 * w
    r_u = d['leg_r']
    flex_scale = min(1.0, spec.gait_amp / 0.4)
    for i in range(4):
        side = _LEG_SIDE[i]
        front = _LEG_FRONT[i]
        phase = spec.gait_phase + (0.0 if i in (0, 3) else math.pi)
        if not front:
            phase += spec.gait_lag
        swing = math.sin(phase)
        lift = max(0.0, math.cos(phase)) * flex_scale
        j0, j1 = spec.leg_jitter[i]
        u_pos = 0.36 if front else -0.38
        v_pos = 0.93 * b * (1.0 - abs(u_pos / a)**power)**(1.0 / power)
        elbow = body_pt(u_pos, v_pos, side * leg_w)
        if front:
            ang_u = 0.05 + spec.gait_amp * swing + j0
            ang_l = ang_u - 1.2 * lift + j1
        else:
            # stifle -> hock always slants backwards, hock -> paw forwards
            ang_u = -0.4 + 0.6 * spec.gait_amp * swing + j0
            ang_l = 0.2 + 0.4 * spec.gait_amp * swing - 0.5 * lift + j1
        # angles from the body's vertical, positive towards the head
        knee = elbow + r_body @ (d['leg_upper'] * np.array(
            [math.sin(ang_u), math.cos(ang_u), 0.0]))
        paw = knee + r_body @ (d['leg_lower'] * np.array(
            [math.sin(ang_l), math.cos(ang_l), 0.0]))
        kpts3[5 + i] = elbow
        kpts3[9 + i] = knee
        kpts3[13 + i] = paw
        t = side_t(side)
        col = mix(leg_far, leg_near, t)
        pcol = mix(paw_far, paw_near, t)
        e2, k2, p2 = proj(elbow)[:2], proj(knee)[:2], proj(paw)[:2]
        r_k = 0.8 * r_u
        r_p = 0.62 * r_u
        prims = [
            _Prim(_capsule(e2, k2, r_u, r_k), col),
            _Prim(_capsule(k2, p2, r_k * 0.9, r_p), col),
            _Prim(_circle(k2, r_k * 1.12, 12), col),
            _Prim(_circle(p2, r_p * 1.25, 12), pcol),
        ]
        leg_depth = depth(knee) + (0.02 if t > 0.5 else -0.02)
        parts.append(_Part(_P_LEGS[i], leg_depth, prims))

    # tail -----------------------------------------------------------------
    seg = d['tail_len'] / 4.0
    ang = spec.tail_angle
    p = tailbase + np.array([0.04, 0.02, 0.0])
    pts = [p]
    for _ in range(4):
        p = p + seg * np.array([-math.cos(ang), -math.sin(ang), 0.0])
        pts.append(p)
        ang += spec.tail_curve
    pts2 = [proj(q)[:2] for q in pts]
    radii = np.linspace(d['tail_r0'], d['tail_r1'], 5)
    tail_prims = [
        _Prim(_capsule(pts2[k], pts2[k + 1], radii[k], radii[k + 1]),
              spec.tail_color) for k in range(4)
    ]
    if CATEGORY_SETTINGS[spec.category]['tail_tuft']:
        tail_prims.append(
            _Prim(_circle(pts2[-1], 2.2 * radii[-1], 10),
                  _shade(spec.tail_color, 0.5)))
    parts.append(_Part(_P_TAIL, depth(tailbase) - 0.05, tail_prims))

    kpts2 = (cam @ kpts3.T).T[:, :2]
    colors = dict(
        near_leg=leg_near,
        far_leg=leg_far,
        near_paw=paw_near,
        far_paw=paw_far)
    return _Rig(kpts2, kpt_ok, parts, colors)


def _rig_extent(rig: _Rig, rot: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    pts = np.concatenate([prim.pts for part in rig.parts
                          for prim in part.prims] + [rig.kpts])
    pts = pts @ rot.T
    return pts.min(axis=0), pts.max(axis=0)


def _transform_rig(rig: _Rig, mat: np.ndarray, trans: np.ndarray) -> None:
    """Apply x -> mat @ x + trans to every 2D point of the rig, in place."""
    rig.kpts = rig.kpts @ mat.T + trans
    for part in rig.parts:
        for prim in part.prims:
            prim.pts = prim.pts @ mat.T + trans
            if prim.texture is not None:
                prim.texture['lin'] = mat @ prim.texture['lin']
                prim.texture['off'] = mat @ prim.texture['off'] + trans


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
            uv = c[None, :] + r * _unit_circle(12).T * np.array([1.0, 1.6])
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
            uv = c[None, :] + r * _unit_circle(8).T * np.array([1.0, 1.6])
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


def _draw_part(img: np.ndarray, lbl: np.ndarray, part: _Part, label: int,
               outline_px: int) -> None:
    fixed = [_fixed(prim.pts) for prim in part.prims]
    for prim, pts in zip(part.prims, fixed):
        if prim.outline:
            cv2.polylines(img, [pts], True, _shade(prim.color, 0.45),
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
        pts = _unit_circle(20).T * np.array(
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


def _render_background(rng: np.random.Generator, w: int,
                       h: int) -> np.ndarray:
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
        col = _random_color(rng)
        if rng.random() < 0.25:
            cv2.polylines(img, [_fixed(pts)], True, col,
                          int(rng.integers(1, 4)), cv2.LINE_AA, _SHIFT)
        else:
            cv2.fillPoly(img, [_fixed(pts)], col, cv2.LINE_AA, _SHIFT)
    return img


def _postprocess(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (5, 5), rng.uniform(0.4, 1.0))
    sigma = rng.uniform(0.0, 6.0)
    if sigma > 1.0:
        noise = rng.standard_normal(img.shape, dtype=np.float32) * sigma
        img = np.clip(img.astype(np.float32) + noise, 0,
                      255).astype(np.uint8)
    return img


def _place_rig(rng: np.random.Generator, spec: AnimalSpec, img_w: int,
               img_h: int, frac: float, truncate: bool) -> _Rig:
    rig = _build_rig(spec)
    roll = rng.normal(0.0, 0.15) if rng.random() < 0.8 else rng.uniform(
        -0.6, 0.6)
    rot = np.array([[math.cos(roll), -math.sin(roll)],
                    [math.sin(roll), math.cos(roll)]])
    lo, hi = _rig_extent(rig, rot)
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
    _transform_rig(rig, mat, trans)
    return rig


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
    fixed = _fixed(pts)
    col = _random_color(rng)
    cv2.fillPoly(img, [fixed], col, cv2.LINE_AA, _SHIFT)
    if rng.random() < 0.5:  # a little texture: stripes of a second colour
        tex = _random_color(rng)
        n = int(rng.integers(2, 5))
        for k in range(n):
            q = pts[0] + (pts[len(pts) // 2] - pts[0]) * (k + 0.5) / n
            cv2.circle(img, (int(q[0]), int(q[1])), max(1, int(size * 0.04)),
                       tex, -1, cv2.LINE_AA)
    cv2.fillPoly(lbl, [fixed], _OCCLUDER_LABEL, cv2.LINE_8, _SHIFT)


def _visibility(kpts: np.ndarray, kpt_ok: np.ndarray, lbl: np.ndarray,
                animal: int) -> np.ndarray:
    h, w = lbl.shape
    vis = np.zeros(len(kpts), dtype=np.int64)
    base = 1 + _PARTS_PER_ANIMAL * animal
    for k, (x, y) in enumerate(kpts):
        if not kpt_ok[k] or not (0.0 <= x <= w - 1 and 0.0 <= y <= h - 1):
            continue
        value = int(lbl[int(round(y)), int(round(x))])
        if any(value == base + p for p in _KPT_OWNERS[k]):
            vis[k] = 1
    return vis


def _annotation(kpts: np.ndarray, vis: np.ndarray, rig: _Rig, w: int, h: int,
                category: str) -> dict:
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


def _compose(rng: np.random.Generator, img: np.ndarray,
             rigs: List[Tuple[AnimalSpec, _Rig]], occlusion_prob: float,
             postprocess: bool) -> SceneResult:
    """Draw placed rigs over ``img`` (in order), occluders, ground truth."""
    h, w = img.shape[:2]
    lbl = np.zeros((h, w), np.uint8)
    for k, (spec, rig) in enumerate(rigs):
        ext = np.ptp(rig.kpts, axis=0).max()
        outline_px = 1 if ext < 260 else 2
        for part in sorted(rig.parts, key=lambda p: p.depth):
            _draw_part(img, lbl, part,
                       1 + _PARTS_PER_ANIMAL * k + part.part_id, outline_px)
    for spec, rig in rigs:
        if rng.random() < occlusion_prob:
            size = float(np.ptp(rig.kpts, axis=0).max())
            for _ in range(1 if rng.random() < 0.7 else 2):
                _draw_occluder(rng, img, lbl, rig.kpts, size)
    if postprocess:
        img = _postprocess(rng, img)
    annotations, keypoints, animals = [], [], []
    for k, (spec, rig) in enumerate(rigs):
        kpts = np.round(rig.kpts, 2)
        vis = _visibility(kpts, rig.kpt_ok, lbl, k)
        annotations.append(_annotation(kpts, vis, rig, w, h, spec.category))
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
    w, h = _check_size(image_size, 'image_size')
    occlusion_prob = _check_prob(occlusion_prob, 'occlusion_prob')
    truncation_prob = _check_prob(truncation_prob, 'truncation_prob')
    if specs is None:
        max_animals = _check_max_animals(max_animals)
        n = int(rng.integers(1, max_animals + 1))
        specs = [sample_animal_spec(rng, categories=categories)
                 for _ in range(n)]
    n = len(specs)
    if n > _MAX_ANIMALS:
        raise ValueError(f'specs: at most {_MAX_ANIMALS} animals per image, '
                         f'got {n}')
    img = _render_background(rng, w, h)
    rigs = []
    for spec in specs:
        frac = rng.uniform(0.5, 0.95) / (1.0 + 0.4 * (n - 1))
        truncate = rng.random() < truncation_prob
        rigs.append((spec, _place_rig(rng, spec, w, h, frac, truncate)))
    # animals lower in the image are nearer to the camera: draw them last
    order = sorted(range(n), key=lambda k: float(rigs[k][1].kpts[:, 1].max()))
    rigs = [rigs[k] for k in order]
    return _compose(rng, img, rigs, occlusion_prob, postprocess)


# ---------------------------------------------------------------------------
# argument checks


def _check_size(size: Sequence[int], name: str) -> Tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f'{name}: expected (width, height), got {size!r}')
    if w < 32 or h < 32 or w > 4096 or h > 4096:
        raise ValueError(f'{name}: width and height must be in [32, 4096], '
                         f'got {size!r}')
    return w, h


def _check_max_animals(value: int) -> int:
    value = int(value)
    if not 1 <= value <= _MAX_ANIMALS:
        raise ValueError(f'max_animals: must be in [1, {_MAX_ANIMALS}], got '
                         f'{value}')
    return value


def _check_prob(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'{name}: must be in [0, 1], got {value}')
    return value


def _categories_json() -> List[dict]:
    return [
        dict(
            supercategory='animal',
            id=cid,
            name=name,
            keypoints=list(KEYPOINT_NAMES),
            skeleton=[list(link) for link in SKELETON])
        for name, cid in CATEGORY_IDS.items()
    ]


def _write_json(path: str, obj: dict) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(obj))
        f.write('\n')


# ---------------------------------------------------------------------------
# clip


def _clip_yaws(num_frames: int) -> np.ndarray:
    """Body yaw per clip frame: walk right (with a small wobble), turn
    through the head-on view (yaw 0 -> -pi) and walk left."""
    t = np.linspace(0.0, 1.0, num_frames)
    wobble = 0.25 * np.sin(2 * np.pi * 2 * t)
    s = np.clip((t - 0.45) / 0.25, 0.0, 1.0)
    turn = s * s * (3 - 2 * s)  # smoothstep 0 -> 1
    return -np.pi * turn + wobble * (1.0 - 4 * turn * (1 - turn))


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
    w, h = _check_size(image_size, 'image_size')
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
    background = _render_background(rng, w, h)
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
        base_rigs.append(_build_rig(spec))
        offsets.append(x)
        x += step * math.cos(spec.yaw)
    # fit the whole trajectory in the frame
    all_lo, all_hi = [], []
    eye = np.eye(2)
    for rig, ox in zip(base_rigs, offsets):
        lo, hi = _rig_extent(rig, eye)
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
        post_col = _random_color(rng)
    fourcc = cv2.VideoWriter_fourcc(*'mp4v')
    video_path = osp.join(out_dir, video_name)
    writer = cv2.VideoWriter(video_path, fourcc, float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter could not open {video_path} '
                           'with the mp4v codec')
    frames = []
    try:
        for i, (rig, ox) in enumerate(zip(base_rigs, offsets)):
            trans = margin - scale * lo + np.array([scale * ox, 0.0])
            _transform_rig(rig, scale * eye, trans)
            img = background.copy()
            res = _compose(rng, img, [(spec, rig)], 0.0, False)
            img = res.image
            if post is not None:
                cv2.fillPoly(img, [_fixed(post)], post_col, cv2.LINE_AA,
                             _SHIFT)
                cv2.fillPoly(res.label_map, [_fixed(post)], _OCCLUDER_LABEL,
                             cv2.LINE_8, _SHIFT)
                kpts = np.round(rig.kpts, 2)
                vis = _visibility(kpts, rig.kpt_ok, res.label_map, 0)
                ann = _annotation(kpts, vis, rig, w, h, spec.category)
            else:
                ann = res.annotations[0]
            img = _postprocess(rng, img)
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
    _write_json(
        kpt_path,
        dict(
            video=video_name,
            fps=fps,
            width=w,
            height=h,
            num_frames=num_frames,
            category_id=CATEGORY_IDS[spec.category],
            keypoints=list(KEYPOINT_NAMES),
            skeleton=[list(link) for link in SKELETON],
            frames=frames))
    return dict(
        video=video_path,
        keypoints_file=kpt_path,
        num_frames=num_frames,
        fps=fps,
        width=w,
        height=h,
        category=spec.category)


# ---------------------------------------------------------------------------
# dataset


def generate_synthetic_animalpose(out_dir: str,
                                  num_images: int = 200,
                                  seed: int = 0,
                                  image_size: Tuple[int, int] = (256, 256),
                                  max_animals: int = 1,
                                  categories: Optional[Sequence[str]] = None,
                                  occlusion_prob: float = 0.3,
                                  truncation_prob: float = 0.15,
                                  with_clip: bool = True,
                                  clip_frames: int = 64,
                                  clip_fps: int = 25,
                                  clip_size: Optional[Tuple[int,
                                                            int]] = None,
                                  jpeg_quality: int = 95,
                                  progress: bool = False) -> dict:
    """Generate a synthetic Animal-Pose dataset in the original format.

    Image ``i`` (id ``i + 1``, file ``images/synth_{id:06d}.jpg``) depends
    only on ``(seed, i)`` and the arguments, so the same call always gives
    byte-identical files. Existing files of the same names are overwritten;
    other files in ``out_dir`` are left alone.

    Args:
        out_dir (str): Output directory (created if missing).
        num_images (int): Number of images. Defaults to 200.
        seed (int): Random seed. Defaults to 0.
        image_size (tuple[int, int]): Image (width, height).
        max_animals (int): Animals per image are uniform in
            ``[1, max_animals]`` (<= 14). Defaults to 1.
        categories (Sequence[str], optional): Subset of ``dog``, ``cat``,
            ``sheep``, ``cow``, ``horse``. Defaults to all.
        occlusion_prob (float): Per-animal occluder probability.
        truncation_prob (float): Per-animal truncation probability.
        with_clip (bool): Also write ``clip.mp4`` and
            ``clip_keypoints.json`` (see :func:`make_clip`).
        clip_frames (int): Clip length in frames.
        clip_fps (int): Clip frame rate.
        clip_size (tuple[int, int], optional): Clip (width, height).
            Defaults to ``image_size``.
        jpeg_quality (int): JPEG quality in [1, 100]. Defaults to 95.
        progress (bool): Show a progress bar (mmengine's
            :class:`ProgressBar`).

    Returns:
        dict: Summary with ``out_dir``, ``keypoints_file``, ``image_dir``,
        ``num_images``, ``num_annotations``, ``num_visible_keypoints``,
        ``annotations_per_category``, ``clip`` (``make_clip`` summary or
        None), ``seconds`` and ``images_per_second``.
    """
    num_images = int(num_images)
    if num_images < 1:
        raise ValueError(f'num_images: must be >= 1, got {num_images}')
    w, h = _check_size(image_size, 'image_size')
    max_animals = _check_max_animals(max_animals)
    names = _check_categories(categories)
    occlusion_prob = _check_prob(occlusion_prob, 'occlusion_prob')
    truncation_prob = _check_prob(truncation_prob, 'truncation_prob')
    jpeg_quality = int(jpeg_quality)
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality: must be in [1, 100], got '
                         f'{jpeg_quality}')
    seed = int(seed)

    img_dir = osp.join(out_dir, 'images')
    os.makedirs(img_dir, exist_ok=True)
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(num_images)
    start = time.perf_counter()
    images: Dict[str, str] = {}
    annotations: List[dict] = []
    per_cat = {name: 0 for name in CATEGORY_IDS}
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    for i in range(num_images):
        image_id = i + 1
        rng = np.random.default_rng([seed, 0, i])
        res = render_scene(rng, (w, h), max_animals, names, occlusion_prob,
                           truncation_prob)
        file_name = f'synth_{image_id:06d}.jpg'
        ok, buf = cv2.imencode('.jpg', res.image, params)
        if not ok:
            raise RuntimeError(f'cv2.imencode failed for {file_name}')
        with open(osp.join(img_dir, file_name), 'wb') as f:
            f.write(buf.tobytes())
        images[str(image_id)] = file_name
        for ann in res.annotations:
            annotations.append(dict(image_id=image_id, **ann))
            for name, cid in CATEGORY_IDS.items():
                if cid == ann['category_id']:
                    per_cat[name] += 1
        if bar is not None:
            bar.update()
    seconds = time.perf_counter() - start
    kpt_file = osp.join(out_dir, 'keypoints.json')
    _write_json(
        kpt_file,
        dict(
            images=images,
            annotations=annotations,
            categories=_categories_json()))
    clip = None
    if with_clip:
        clip = make_clip(
            out_dir,
            seed=seed,
            num_frames=clip_frames,
            fps=clip_fps,
            image_size=clip_size if clip_size is not None else (w, h),
            category=names[seed % len(names)])
    return dict(
        out_dir=out_dir,
        keypoints_file=kpt_file,
        image_dir=img_dir,
        num_images=num_images,
        num_annotations=len(annotations),
        num_visible_keypoints=int(
            sum(a['num_keypoints'] for a in annotations)),
        annotations_per_category=per_cat,
        clip=clip,
        seconds=seconds,
        images_per_second=num_images / max(seconds, 1e-9))
