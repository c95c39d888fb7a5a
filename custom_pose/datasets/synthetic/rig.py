"""The 3D rig: pose an :class:`~.animal.AnimalSpec` and project it to 2D parts.

Every animal is a small 3D rig (a rounded-box torso with withers and tailbase
at its top front / rear, a tapered neck, skull and muzzle ellipsoids with
eyes, nose and ears, four elbow -> knee -> paw legs, a tail) with
per-category proportions, posed (walking cycle, neck / head angles, head
turn, tail), rotated about the vertical axis (yaw) and seen from a slightly
elevated camera (orthographic). :func:`build_rig` returns the projected
keypoints and the parts as polygons in units of the body length, each with
a painting depth; :func:`transform_rig` then scales, rolls and places them
in an image. With the animal facing right its LEFT side faces the camera:
near-side legs and ears get a lighter shade than far-side ones, and
:attr:`Rig.kpt_ok` marks the points hidden by the geometry itself (the far
eye when the head is in profile, the nose when the head faces away).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .animal import CATEGORY_SETTINGS, NUM_KEYPOINTS, AnimalSpec, shade

# keypoint indices
_L_EYE, _R_EYE, _NOSE, _L_EAR, _R_EAR = 0, 1, 2, 3, 4
_THROAT, _WITHERS, _TAILBASE = 17, 18, 19
# legs in the order LF, RF, LB, RB: elbow = 5 + i, knee = 9 + i, paw = 13 + i
_LEG_SIDE = (1.0, -1.0, 1.0, -1.0)  # +1: left (+z), -1: right
_LEG_FRONT = (True, True, False, False)

# part ids inside one animal (label map value = 1 + 16 * animal + part)
_P_TORSO, _P_NECK, _P_HEAD, _P_TAIL, _P_EAR_L, _P_EAR_R = 0, 1, 2, 3, 4, 5
_P_LEGS = (6, 7, 8, 9)
PARTS_PER_ANIMAL = 16

# which parts may be seen at a keypoint's pixel for it to count as visible
KPT_OWNERS: Tuple[Tuple[int, ...], ...] = (
    (_P_HEAD, ), (_P_HEAD, ), (_P_HEAD, ), (_P_EAR_L, _P_HEAD),
    (_P_EAR_R, _P_HEAD)) + tuple(
        (_P_LEGS[i], _P_TORSO) for i in range(4)) + tuple(
            (_P_LEGS[i], ) for i in range(4)) + tuple(
                (_P_LEGS[i], ) for i in range(4)) + (
                    (_P_NECK, _P_HEAD), (_P_TORSO, _P_NECK),
                    (_P_TORSO, _P_TAIL))

# ear directions in the head frame (x: nose, y: jaw side, z: lateral)
_EAR_DIRS: Dict[str, Tuple[float, float, float]] = {
    'pointy': (-0.35, -0.94, 0.25),
    'floppy': (-0.4, 0.8, 0.55),
    'side': (-0.5, 0.1, 0.85),
    'horse': (-0.75, -0.65, 0.12),
}


@dataclass
class Prim:
    """One filled polygon of a part.

    Args:
        pts (np.ndarray): Polygon in image (or unit) coordinates, (N, 2).
        color (tuple): BGR fill colour.
        outline (bool): Draw a darker outline around it.
        texture (dict, optional): Torso pattern: ``pattern``, ``color``,
            ``seed`` and the affine map ``lin`` (2, 2) / ``off`` (2,) from
            the flank's (u, v) square to the image.
    """
    pts: np.ndarray
    color: Tuple[int, int, int]
    outline: bool = True
    texture: Optional[dict] = None


@dataclass
class Part:
    """A body part: its id, painting depth (larger is nearer) and prims."""
    part_id: int
    depth: float
    prims: List[Prim]


@dataclass
class Rig:
    """A projected animal.

    Args:
        kpts (np.ndarray): Keypoints, (20, 2).
        kpt_ok (np.ndarray): (20,) bool, False where the animal's own
            geometry hides the point.
        parts (list[Part]): The body parts.
        colors (dict): The fill colours ``near_leg``, ``far_leg``,
            ``near_paw`` and ``far_paw``.
    """
    kpts: np.ndarray
    kpt_ok: np.ndarray
    parts: List[Part]
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


def unit_circle(n: int) -> np.ndarray:
    """``n`` points of the unit circle, (2, n), cached."""
    if n not in _UNIT_CIRCLES:
        t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
        _UNIT_CIRCLES[n] = np.stack([np.cos(t), np.sin(t)], axis=0)
    return _UNIT_CIRCLES[n]


def _ellipse_from_matrix(center: np.ndarray, mat: np.ndarray,
                         n: int = 32) -> np.ndarray:
    """Polygon of the 2D ellipse {x: (x-c)^T mat^-1 (x-c) <= 1}, (n, 2)."""
    vals, vecs = np.linalg.eigh(mat)
    vals = np.sqrt(np.maximum(vals, 1e-12))
    return center[None, :] + ((vecs * vals[None, :]) @ unit_circle(n)).T


def _circle(center: np.ndarray, r: float, n: int = 14) -> np.ndarray:
    return center[None, :] + r * unit_circle(n).T


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


# ---------------------------------------------------------------------------
# rig: 3D pose -> 2D parts in unit coordinates


def _torso_outline(proj, center: np.ndarray, r_body: np.ndarray, a: float,
                   b: float, w: float, n: int = 32,
                   power: float = 2.6) -> np.ndarray:
    """Silhouette of the torso: a superellipse profile (u/a)^p + (v/b)^p = 1
    in the sagittal plane, rounded off towards the flanks (z = +-w), as the
    convex hull of its projection, (N, 2)."""
    t = unit_circle(n)
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


def build_rig(spec: AnimalSpec) -> Rig:
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

    leg_near = shade(spec.leg_color, 1.2, 50)
    leg_far = shade(spec.leg_color, 0.55)
    if spec.hoof_color is not None:
        paw_near = shade(spec.hoof_color, 1.3, 35)
        paw_far = shade(spec.hoof_color, 0.45)
    else:
        paw_near = shade(leg_near, 0.62)
        paw_far = shade(leg_far, 0.62)
    ear_near = shade(spec.head_color, 1.15, 35)
    ear_far = shade(spec.head_color, 0.6)

    parts: List[Part] = []

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
        Part(_P_TORSO, 0.0,
              [Prim(torso_poly, spec.body_color, True, texture)]))

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
        Part(_P_NECK, neck_depth, [Prim(neck_poly, spec.body_color)]))
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
        Prim(skull_poly, spec.head_color),
        Prim(snout_poly, spec.muzzle_color),
    ]
    if kpt_ok[_NOSE]:
        head_prims.append(
            Prim(_circle(proj(nose3)[:2], max(0.45 * sr, 0.03), 12),
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
            head_prims.append(Prim(_circle(c2, er, 12), (225, 230, 230),
                                    False))
            head_prims.append(
                Prim(_circle(c2, 0.6 * er, 10), (15, 15, 15), False))
    head_depth = depth(head_c) + 0.01
    parts.append(Part(_P_HEAD, head_depth, head_prims))

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
            Part(part_id, ear_depth, [Prim(poly, mix(ear_far, ear_near,
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
            Prim(_capsule(e2, k2, r_u, r_k), col),
            Prim(_capsule(k2, p2, r_k * 0.9, r_p), col),
            Prim(_circle(k2, r_k * 1.12, 12), col),
            Prim(_circle(p2, r_p * 1.25, 12), pcol),
        ]
        leg_depth = depth(knee) + (0.02 if t > 0.5 else -0.02)
        parts.append(Part(_P_LEGS[i], leg_depth, prims))

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
        Prim(_capsule(pts2[k], pts2[k + 1], radii[k], radii[k + 1]),
              spec.tail_color) for k in range(4)
    ]
    if CATEGORY_SETTINGS[spec.category]['tail_tuft']:
        tail_prims.append(
            Prim(_circle(pts2[-1], 2.2 * radii[-1], 10),
                  shade(spec.tail_color, 0.5)))
    parts.append(Part(_P_TAIL, depth(tailbase) - 0.05, tail_prims))

    kpts2 = (cam @ kpts3.T).T[:, :2]
    colors = dict(
        near_leg=leg_near,
        far_leg=leg_far,
        near_paw=paw_near,
        far_paw=paw_far)
    return Rig(kpts2, kpt_ok, parts, colors)


def rig_extent(rig: Rig, rot: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Corners (min, max), each (2,), of the rig's points rotated by
    ``rot`` (2, 2)."""
    pts = np.concatenate([prim.pts for part in rig.parts
                          for prim in part.prims] + [rig.kpts])
    pts = pts @ rot.T
    return pts.min(axis=0), pts.max(axis=0)


def transform_rig(rig: Rig, mat: np.ndarray, trans: np.ndarray) -> None:
    """Apply x -> mat @ x + trans to every 2D point of the rig, in place."""
    rig.kpts = rig.kpts @ mat.T + trans
    for part in rig.parts:
        for prim in part.prims:
            prim.pts = prim.pts @ mat.T + trans
            if prim.texture is not None:
                prim.texture['lin'] = mat @ prim.texture['lin']
                prim.texture['off'] = mat @ prim.texture['off'] + trans

