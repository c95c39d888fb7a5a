"""The animals: Animal-Pose keypoints, category body plans and sampling.

:data:`KEYPOINT_NAMES`, :data:`SKELETON` and :data:`CATEGORY_IDS` are those of
the original Animal-Pose release (Cao et al., ICCV 2019).
:func:`sample_animal_spec` draws an :class:`AnimalSpec` -- proportions, pose,
view and appearance of one animal -- from the per-category body plans in
:data:`CATEGORY_SETTINGS`; :mod:`.rig` turns a spec into 2D parts.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..animalpose_format import ORIGINAL_KEYPOINT_NAMES

#: The 20 keypoint names of the release, in the release's order.
KEYPOINT_NAMES: Tuple[str, ...] = ORIGINAL_KEYPOINT_NAMES
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


# ---------------------------------------------------------------------------
# colours


def shade(color: Sequence[float], factor: float,
          add: float = 0.0) -> Tuple[int, int, int]:
    """``color * factor + add``, clipped to [0, 255]."""
    return tuple(int(min(255, max(0, round(c * factor + add)))) for c in color)


def _jitter_color(rng: np.random.Generator, color: Sequence[int],
                  amount: int = 18) -> Tuple[int, int, int]:
    off = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + o, 0, 255)) for c, o in zip(color, off))


def random_color(rng: np.random.Generator) -> Tuple[int, int, int]:
    """A uniformly random BGR colour."""
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
        names = check_categories(categories)
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
        secondary = shade(body, rng.uniform(0.75, 1.15))
    else:
        secondary = shade(body, rng.choice([0.45, 1.6]), rng.uniform(-10, 30))
    if category == 'sheep':
        face = _jitter_color(rng, (40, 40, 45)) if rng.random() < 0.4 else \
            shade(body, 0.9)
        leg_color, head_color = face, face
    else:
        leg_color, head_color = body, body
    tail_color = shade(body, 0.6) if category == 'horse' else body
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


def check_categories(categories: Optional[Sequence[str]]) -> List[str]:
    """The category names to draw from (all when None); raises
    ``ValueError`` naming an unknown one."""
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

