"""Keypoint sets of their own for the DeepLabCut, SLEAP and COCO files.

The generator draws the 20 Animal-Pose keypoints (:data:`~.animal.KEYPOINT_NAMES`).
A user's project labels its own body parts under its own names. To write
such projects, a :class:`KeypointSet` picks generator keypoints, renames them
and may add :data:`DERIVED_KEYPOINTS`, points no Animal-Pose keypoint is:

===================== ===================================================
set                   keypoints (``own name``: source)
===================== ===================================================
DEEPLABCUT_KEYPOINTS  ``snout``: nose, ``leftear``: left_ear,
                      ``rightear``: right_ear, ``spine_mid``: derived
                      (4 body parts, as in a top-view mouse project)
SLEAP_KEYPOINTS       ``nose``, ``earL``: left_ear, ``earR``: right_ear,
                      ``throat``, ``spine_mid``: derived, ``tailBase``:
                      tailbase; the ears are a symmetry of the skeleton
COCO_KEYPOINTS        ``nose``, ``left_eye``, ``right_eye``, ``withers``,
                      ``tail_base``: tailbase, ``left_front_paw``,
                      ``right_front_paw`` (7 keypoints)
===================== ===================================================

``spine_mid`` is the midpoint of withers and tailbase (the middle of the
back). Flip pairs follow from the names (``leftear``/``rightear``,
``earL``/``earR``, ``left_*``/``right_*``; see
:mod:`custom_pose.datasets.keypoint_metainfo`).

Ground truth: a keypoint visible in the image (``v = 1`` in
``keypoints.json``) is labelled (``v = 2``), any other is left unlabelled,
as a labeller marks only what is seen. A derived point is visible when it
lies in the image and the scene's label map shows there a body part that
owns both of its end points (the torso, for ``spine_mid``).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..formats import (KeypointAnnotations, KeypointImage, KeypointInstance,
                       check_keypoint_names)
from .animal import KEYPOINT_NAMES
from .rig import KPT_OWNERS, PARTS_PER_ANIMAL

__all__ = [
    'DERIVED_KEYPOINTS', 'KeypointSet', 'DEEPLABCUT_KEYPOINTS',
    'SLEAP_KEYPOINTS', 'COCO_KEYPOINTS', 'derive_keypoints',
    'keypoint_annotations'
]

#: Keypoints no Animal-Pose keypoint is: name -> the two generator
#: keypoints whose midpoint it is.
DERIVED_KEYPOINTS: Dict[str, Tuple[str, str]] = {
    'spine_mid': ('withers', 'tailbase'),
}


@dataclass(frozen=True)
class KeypointSet:
    """A project's own keypoints, mapped onto the generator's.

    Attributes:
        keypoints (tuple): ``(own name, source)`` pairs in the project's
            order; ``source`` is a generator keypoint
            (:data:`~.animal.KEYPOINT_NAMES`) or a :data:`DERIVED_KEYPOINTS`
            name.
        skeleton (tuple): Links as pairs of own names.
        symmetries (tuple): Left/right pairs of own names, written by the
            formats that store them (SLEAP); the others leave flip pairs to
            the names.
    """
    keypoints: Tuple[Tuple[str, str], ...]
    skeleton: Tuple[Tuple[str, str], ...] = ()
    symmetries: Tuple[Tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        names = check_keypoint_names([n for n, _ in self.keypoints],
                                     'KeypointSet.keypoints')
        unknown = [s for _, s in self.keypoints
                   if s not in KEYPOINT_NAMES and s not in DERIVED_KEYPOINTS]
        if unknown:
            raise ValueError(
                f'KeypointSet: sources {unknown} are neither generator '
                f'keypoints {list(KEYPOINT_NAMES)} nor derived ones '
                f'{list(DERIVED_KEYPOINTS)}')
        links = [n for link in self.skeleton + self.symmetries for n in link]
        if any(n not in names for n in links):
            raise ValueError(
                f'KeypointSet: links {list(self.skeleton + self.symmetries)} '
                f'name keypoints outside {list(names)}')

    @property
    def names(self) -> Tuple[str, ...]:
        """The own names, in order."""
        return tuple(n for n, _ in self.keypoints)

    def index_pairs(self, pairs: Sequence[Tuple[str, str]]
                    ) -> Tuple[Tuple[int, int], ...]:
        """Name pairs as 0-based index pairs."""
        index = {n: i for i, n in enumerate(self.names)}
        return tuple((index[a], index[b]) for a, b in pairs)


DEEPLABCUT_KEYPOINTS = KeypointSet(
    keypoints=(('snout', 'nose'), ('leftear', 'left_ear'),
               ('rightear', 'right_ear'), ('spine_mid', 'spine_mid')),
    skeleton=(('snout', 'leftear'), ('snout', 'rightear'),
              ('leftear', 'spine_mid'), ('rightear', 'spine_mid')))

SLEAP_KEYPOINTS = KeypointSet(
    keypoints=(('nose', 'nose'), ('earL', 'left_ear'), ('earR', 'right_ear'),
               ('throat', 'throat'), ('spine_mid', 'spine_mid'),
               ('tailBase', 'tailbase')),
    skeleton=(('nose', 'earL'), ('nose', 'earR'), ('nose', 'throat'),
              ('throat', 'spine_mid'), ('spine_mid', 'tailBase')),
    symmetries=(('earL', 'earR'), ))

COCO_KEYPOINTS = KeypointSet(
    keypoints=(('nose', 'nose'), ('left_eye', 'left_eye'),
               ('right_eye', 'right_eye'), ('withers', 'withers'),
               ('tail_base', 'tailbase'),
               ('left_front_paw', 'left_front_paw'),
               ('right_front_paw', 'right_front_paw')),
    skeleton=(('nose', 'left_eye'), ('nose', 'right_eye'),
              ('left_eye', 'right_eye'), ('nose', 'withers'),
              ('withers', 'tail_base'), ('withers', 'left_front_paw'),
              ('withers', 'right_front_paw')))


def derive_keypoints(keypoints: Sequence[Sequence[float]], lbl: np.ndarray,
                     animal: int) -> Dict[str, List[float]]:
    """The :data:`DERIVED_KEYPOINTS` of one painted animal.

    Args:
        keypoints (Sequence): Its 20 ``[x, y, v]`` in the release's order
            (an annotation's ``keypoints``).
        lbl (np.ndarray): The scene's label map, (H, W) uint8.
        animal (int): The animal's index in painting order (its annotation's
            position in the scene).

    Returns:
        dict: ``{name: [x, y, v]}`` with ``v`` 1 (visible) or 0, ``x, y``
        rounded to 0.01 px like the annotations.
    """
    h, w = lbl.shape
    base = 1 + PARTS_PER_ANIMAL * animal
    index = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    out = {}
    for name, (a, b) in DERIVED_KEYPOINTS.items():
        ia, ib = index[a], index[b]
        x, y = np.round((np.asarray(keypoints[ia][:2], np.float64) +
                         np.asarray(keypoints[ib][:2], np.float64)) / 2, 2)
        owners = set(KPT_OWNERS[ia]) & set(KPT_OWNERS[ib])
        visible = 0.0 <= x <= w - 1 and 0.0 <= y <= h - 1 and int(
            lbl[int(round(y)), int(round(x))]) in {base + p for p in owners}
        out[name] = [float(x), float(y), int(visible)]
    return out


def keypoint_annotations(kset: KeypointSet,
                         images: Mapping[str, str],
                         annotations: Sequence[dict],
                         derived: Sequence[Mapping[str, Sequence[float]]],
                         image_dir: str,
                         image_size: Tuple[int, int]) -> KeypointAnnotations:
    """The generator's records in ``kset``'s keypoints, for the writers of
    :mod:`custom_pose.datasets.formats`.

    Args:
        kset (KeypointSet): The keypoints to write.
        images (Mapping[str, str]): Image id (as a string) -> file name.
        annotations (Sequence[dict]): Release-format annotations with
            ``image_id``, ``bbox`` (xyxy) and ``keypoints``.
        derived (Sequence[Mapping]): :func:`derive_keypoints` of each
            annotation.
        image_dir (str): Folder of the image files.
        image_size (tuple[int, int]): ``(width, height)`` of every image.

    Returns:
        KeypointAnnotations: One category ``animal``; every instance keeps
        the generator's box (written by COCO) and has ``v = 2`` where the
        keypoint is visible, ``v = 0`` (unlabelled) elsewhere.
    """
    index = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    w, h = image_size
    out_images = [
        KeypointImage(id=int(i), file_name=f, path=osp.join(image_dir, f),
                      width=w, height=h) for i, f in images.items()
    ]
    instances = []
    for ann, extra in zip(annotations, derived):
        pts = np.array([
            extra[src] if src in DERIVED_KEYPOINTS else
            ann['keypoints'][index[src]] for _, src in kset.keypoints
        ], dtype=np.float64)
        labelled = pts[:, 2] > 0
        instances.append(
            KeypointInstance(
                id=len(instances) + 1,
                image_id=int(ann['image_id']),
                keypoints=np.where(labelled[:, None], pts[:, :2], 0.0),
                visibility=np.where(labelled, 2, 0).astype(np.int64),
                bbox=tuple(float(v) for v in ann['bbox'])))
    return KeypointAnnotations(
        path=image_dir,
        format='synthetic',
        keypoint_names=kset.names,
        skeleton=kset.index_pairs(kset.skeleton),
        images=out_images,
        instances=instances,
        flip_pairs=kset.index_pairs(kset.symmetries) or None)
