"""The original release format of the Animal-Pose dataset (Part I).

`Animal-Pose <https://sites.google.com/view/animal-pose/>`__ (Cao et al.,
ICCV 2019) ships Part I as a single ``keypoints.json``::

    {
      "images": {"<image id>": "<file name>", ...},
      "annotations": [
        {"image_id": int, "bbox": [xmin, ymin, xmax, ymax],
         "keypoints": [[x, y, v], ...  x 20], "num_keypoints": int,
         "category_id": int},
        ...
      ],
      "categories": [
        {"id": int, "name": "dog" | "cat" | "cow" | "horse" | "sheep",
         "supercategory": str, "keypoints": [20 names], "skeleton": [[i, j]]},
        ...
      ]
    }

with ``v = 1`` for a labelled keypoint and ``v = 0`` for one that is not.

This module holds everything about that format that does not need mmpose's
dataset machinery, so that the dataset class
(:class:`~custom_pose.datasets.OrgAnimalPoseDataset`), the converters in
``tools/dataset_converters/`` and the tests share one implementation:

- the keypoint name tables (release names <-> mmpose's Animal-Pose names and
  orders),
- :func:`load_original` / :func:`parse_original`, which validate a file and
  return its instances with keypoints in **mmpose's** order,
- the checks its parsers share (:func:`is_number`, :func:`as_int_id`,
  :func:`require_keys`).

The seeded image split and split files are in
:mod:`custom_pose.datasets.splits`, the conversion to COCO keypoint format
and back in :mod:`custom_pose.datasets.animalpose_coco`, and the JSON and
image-header I/O in :mod:`custom_pose.datasets.file_io` (its names,
:class:`AnimalPoseFormatError` among them, are importable from here too).

Keypoints are mapped **by name** using each category's own ``keypoints``
list, so a file that lists the names in another order loads identically.
Both the release's names (``left_eye``) and mmpose's names (``L_Eye``) are
accepted; anything else raises :class:`AnimalPoseFormatError`.
"""
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np

from custom_pose.errors import InputError
from .file_io import (AnimalPoseFormatError, dump_json, is_number,
                      load_json, read_image_size)

__all__ = [
    'AnimalPoseFormatError', 'AnimalPoseInstance', 'AnimalPoseAnnotations',
    'ORIGINAL_KEYPOINT_NAMES', 'MMPOSE_KEYPOINT_NAMES',
    'ORIGINAL_TO_MMPOSE_NAME', 'MMPOSE_TO_ORIGINAL_NAME',
    'ORIGINAL_TO_MMPOSE_INDEX', 'MMPOSE_TO_ORIGINAL_INDEX',
    'MMPOSE_SKELETON', 'ORIGINAL_SKELETON', 'CATEGORY_NAMES',
    'COCO_DETECTOR_CATEGORY_IDS', 'NUM_KEYPOINTS', 'SPLITS',
    'DEFAULT_SPLIT_RATIO',
    'keypoint_order_to_mmpose', 'load_original', 'parse_original',
    'is_number', 'as_int_id', 'require_keys', 'read_image_size',
    'dump_json', 'load_json'
]

#: Keypoint names of the original release, in the release's order.
ORIGINAL_KEYPOINT_NAMES: Tuple[str, ...] = (
    'left_eye', 'right_eye', 'nose', 'left_ear', 'right_ear',
    'left_front_elbow', 'right_front_elbow', 'left_back_elbow',
    'right_back_elbow', 'left_front_knee', 'right_front_knee',
    'left_back_knee', 'right_back_knee', 'left_front_paw', 'right_front_paw',
    'left_back_paw', 'right_back_paw', 'throat', 'withers', 'tailbase')

#: Keypoint names of mmpose's Animal-Pose metainfo
#: (``configs/_base_/datasets/animalpose.py``), in mmpose's order. Every
#: array this package produces for the dataset uses this order.
MMPOSE_KEYPOINT_NAMES: Tuple[str, ...] = (
    'L_Eye', 'R_Eye', 'L_EarBase', 'R_EarBase', 'Nose', 'Throat', 'TailBase',
    'Withers', 'L_F_Elbow', 'R_F_Elbow', 'L_B_Elbow', 'R_B_Elbow', 'L_F_Knee',
    'R_F_Knee', 'L_B_Knee', 'R_B_Knee', 'L_F_Paw', 'R_F_Paw', 'L_B_Paw',
    'R_B_Paw')

NUM_KEYPOINTS: int = len(MMPOSE_KEYPOINT_NAMES)

#: Release name -> mmpose name.
ORIGINAL_TO_MMPOSE_NAME: Mapping[str, str] = MappingProxyType({
    'left_eye': 'L_Eye',
    'right_eye': 'R_Eye',
    'nose': 'Nose',
    'left_ear': 'L_EarBase',
    'right_ear': 'R_EarBase',
    'left_front_elbow': 'L_F_Elbow',
    'right_front_elbow': 'R_F_Elbow',
    'left_back_elbow': 'L_B_Elbow',
    'right_back_elbow': 'R_B_Elbow',
    'left_front_knee': 'L_F_Knee',
    'right_front_knee': 'R_F_Knee',
    'left_back_knee': 'L_B_Knee',
    'right_back_knee': 'R_B_Knee',
    'left_front_paw': 'L_F_Paw',
    'right_front_paw': 'R_F_Paw',
    'left_back_paw': 'L_B_Paw',
    'right_back_paw': 'R_B_Paw',
    'throat': 'Throat',
    'withers': 'Withers',
    'tailbase': 'TailBase',
})

#: mmpose name -> release name.
MMPOSE_TO_ORIGINAL_NAME: Mapping[str, str] = MappingProxyType(
    {v: k
     for k, v in ORIGINAL_TO_MMPOSE_NAME.items()})

#: ``ORIGINAL_TO_MMPOSE_INDEX[i]`` is the mmpose index of release keypoint
#: ``i``: ``kpts_mmpose[ORIGINAL_TO_MMPOSE_INDEX] = kpts_release``.
ORIGINAL_TO_MMPOSE_INDEX: Tuple[int, ...] = tuple(
    MMPOSE_KEYPOINT_NAMES.index(ORIGINAL_TO_MMPOSE_NAME[n])
    for n in ORIGINAL_KEYPOINT_NAMES)

#: ``MMPOSE_TO_ORIGINAL_INDEX[j]`` is the release index of mmpose keypoint
#: ``j``: ``kpts_mmpose = kpts_release[MMPOSE_TO_ORIGINAL_INDEX]``.
MMPOSE_TO_ORIGINAL_INDEX: Tuple[int, ...] = tuple(
    ORIGINAL_KEYPOINT_NAMES.index(MMPOSE_TO_ORIGINAL_NAME[n])
    for n in MMPOSE_KEYPOINT_NAMES)

#: Links of mmpose's Animal-Pose metainfo, as keypoint name pairs.
MMPOSE_SKELETON: Tuple[Tuple[str, str], ...] = (
    ('L_Eye', 'R_Eye'), ('L_Eye', 'L_EarBase'), ('R_Eye', 'R_EarBase'),
    ('L_Eye', 'Nose'), ('R_Eye', 'Nose'), ('Nose', 'Throat'),
    ('Throat', 'Withers'), ('TailBase', 'Withers'), ('Throat', 'L_F_Elbow'),
    ('L_F_Elbow', 'L_F_Knee'), ('L_F_Knee', 'L_F_Paw'),
    ('Throat', 'R_F_Elbow'), ('R_F_Elbow', 'R_F_Knee'),
    ('R_F_Knee', 'R_F_Paw'), ('TailBase', 'L_B_Elbow'),
    ('L_B_Elbow', 'L_B_Knee'), ('L_B_Knee', 'L_B_Paw'),
    ('TailBase', 'R_B_Elbow'), ('R_B_Elbow', 'R_B_Knee'),
    ('R_B_Knee', 'R_B_Paw'))

#: The same links as 0-based index pairs into :data:`ORIGINAL_KEYPOINT_NAMES`
#: (written into original-format files). Loading never uses a file's
#: skeleton: mmpose's metainfo defines the links.
ORIGINAL_SKELETON: Tuple[Tuple[int, int], ...] = tuple(
    (ORIGINAL_KEYPOINT_NAMES.index(MMPOSE_TO_ORIGINAL_NAME[a]),
     ORIGINAL_KEYPOINT_NAMES.index(MMPOSE_TO_ORIGINAL_NAME[b]))
    for a, b in MMPOSE_SKELETON)

#: The five species of the release. Loading uses the file's own categories
#: (ids and names); this is for documentation and validation messages.
CATEGORY_NAMES: Tuple[str, ...] = ('dog', 'cat', 'cow', 'horse', 'sheep')

#: Ids of the five species in the 91-id COCO detection label space, for
#: detections from a COCO-trained detector (``det_category_map='coco'``).
COCO_DETECTOR_CATEGORY_IDS: Mapping[str, int] = MappingProxyType(
    dict(cat=17, dog=18, horse=19, sheep=20, cow=21))

SPLITS: Tuple[str, ...] = ('train', 'val', 'all')

#: Fraction of the images in the seeded ``'train'`` split, the default of
#: :func:`split_image_ids`, the dataset, the configs and the tools.
DEFAULT_SPLIT_RATIO: float = 0.9

_KNOWN_NAMES: Mapping[str, str] = MappingProxyType({
    **{n: n
       for n in MMPOSE_KEYPOINT_NAMES},
    **dict(ORIGINAL_TO_MMPOSE_NAME)
})


@dataclass
class AnimalPoseInstance:
    """One annotated animal, keypoints already in mmpose's order.

    Attributes:
        ann_id (int): 1-based position of the annotation in the file's
            ``annotations`` list (stable under splits and filters).
        image_id (int): Id of the image.
        category_id (int): Category id as in the file.
        bbox (tuple): ``(xmin, ymin, xmax, ymax)`` in pixels.
        keypoints (np.ndarray): ``(K, 3)`` float64 ``x, y, v`` in mmpose's
            order, ``v`` in ``{0, 1}`` (1 = labelled).
    """
    ann_id: int
    image_id: int
    category_id: int
    bbox: Tuple[float, float, float, float]
    keypoints: np.ndarray

    @property
    def num_keypoints(self) -> int:
        """Number of labelled keypoints."""
        return int(np.count_nonzero(self.keypoints[:, 2] > 0))


@dataclass
class AnimalPoseAnnotations:
    """A validated annotation file.

    Attributes:
        path (str): The file it was read from (used in messages).
        images (dict): ``{image id: file name}`` in file order.
        categories (list[dict]): ``{'id', 'name', 'supercategory'}`` per
            category, in file order.
        instances (list[AnimalPoseInstance]): All annotations in file order.
    """
    path: str
    images: Dict[int, str]
    categories: List[Dict[str, Any]]
    instances: List[AnimalPoseInstance] = field(default_factory=list)

    @property
    def category_names(self) -> List[str]:
        """Category names in file order."""
        return [c['name'] for c in self.categories]

    def category_ids(self, names: Optional[Iterable[str]] = None) -> List[int]:
        """Ids of the categories called ``names`` (all when ``None``).

        Raises:
            InputError: For a name the file does not define, listing the
                valid ones.
        """
        if names is None:
            return [c['id'] for c in self.categories]
        if isinstance(names, str):
            names = [names]
        by_name = {c['name']: c['id'] for c in self.categories}
        ids = []
        for name in names:
            if name not in by_name:
                raise InputError(
                    f'categories: unknown category {name!r}; {self.path} '
                    f'defines {sorted(by_name)}')
            ids.append(by_name[name])
        return ids


# --------------------------------------------------------------------------
# Parsing the original format
# --------------------------------------------------------------------------
def as_int_id(value: Any, where: str) -> int:
    """An id given as an int or a string of digits (JSON object keys)."""
    if isinstance(value, bool):
        raise AnimalPoseFormatError(f'{where}: id {value!r} is not an integer')
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip('-').isdigit():
        return int(value)
    raise AnimalPoseFormatError(f'{where}: id {value!r} is not an integer')


def keypoint_order_to_mmpose(names: Any, where: str) -> np.ndarray:
    """Index array that reorders a file's keypoints into mmpose's order.

    Args:
        names (list[str]): A category's ``keypoints`` list; release names
            (``left_eye``) and mmpose names (``L_Eye``) are accepted.
        where (str): ``'<file>: categories[i] (name=...)'`` for messages.

    Returns:
        np.ndarray: ``(K,)`` int array ``order`` with
        ``kpts_mmpose = kpts_file[order]``.

    Raises:
        AnimalPoseFormatError: Wrong length, unknown or repeated names.
    """
    if not isinstance(names, (list, tuple)) or not all(
            isinstance(n, str) for n in names):
        raise AnimalPoseFormatError(
            f'{where}: "keypoints" must be a list of {NUM_KEYPOINTS} keypoint '
            f'names, got {names!r}')
    unknown = [n for n in names if n not in _KNOWN_NAMES]
    if unknown:
        raise AnimalPoseFormatError(
            f'{where}: unknown keypoint name(s) {unknown}; expected the '
            f'Animal-Pose names {list(ORIGINAL_KEYPOINT_NAMES)} (or mmpose\'s '
            f'{list(MMPOSE_KEYPOINT_NAMES)})')
    mm_names = [_KNOWN_NAMES[n] for n in names]
    repeated = sorted({n for n in mm_names if mm_names.count(n) > 1})
    if repeated:
        raise AnimalPoseFormatError(
            f'{where}: keypoint(s) {repeated} listed more than once')
    if len(mm_names) != NUM_KEYPOINTS:
        missing = [n for n in MMPOSE_KEYPOINT_NAMES if n not in mm_names]
        raise AnimalPoseFormatError(
            f'{where}: "keypoints" lists {len(names)} names, expected '
            f'{NUM_KEYPOINTS}; missing {missing}')
    return np.array([mm_names.index(n) for n in MMPOSE_KEYPOINT_NAMES],
                    dtype=np.int64)


def require_keys(entry: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(entry, dict):
        raise AnimalPoseFormatError(
            f'{where}: expected an object, got {type(entry).__name__}')
    missing = [k for k in keys if k not in entry]
    if missing:
        raise AnimalPoseFormatError(
            f'{where}: missing key(s) {missing} (has {sorted(entry)})')


def parse_original(data: Any, path: str) -> AnimalPoseAnnotations:
    """Validate the content of an original-format ``keypoints.json``.

    Args:
        data: The decoded JSON.
        path (str): The file it came from, used in messages.

    Returns:
        AnimalPoseAnnotations: Instances with keypoints in mmpose's order.

    Raises:
        AnimalPoseFormatError: Naming ``path`` and the offending entry for
            missing keys, keypoint lists of the wrong length, unknown
            keypoint names, ``xmax <= xmin`` / ``ymax <= ymin`` boxes,
            annotations whose image or category id is not defined, ...
    """
    require_keys(data, ('images', 'annotations', 'categories'),
                  f'{path}: top level')
    images_raw = data['images']
    if not isinstance(images_raw, dict):
        raise AnimalPoseFormatError(
            f'{path}: "images" must be an object {{"<image id>": "<file '
            f'name>"}}, got {type(images_raw).__name__}')
    images: Dict[int, str] = {}
    for key, file_name in images_raw.items():
        where = f'{path}: images[{key!r}]'
        img_id = as_int_id(key, where)
        if not isinstance(file_name, str) or not file_name:
            raise AnimalPoseFormatError(
                f'{where}: file name must be a non-empty string, got '
                f'{file_name!r}')
        if img_id in images:
            raise AnimalPoseFormatError(f'{where}: image id {img_id} repeated')
        images[img_id] = file_name

    cats_raw = data['categories']
    if not isinstance(cats_raw, list) or not cats_raw:
        raise AnimalPoseFormatError(
            f'{path}: "categories" must be a non-empty list')
    categories: List[Dict[str, Any]] = []
    orders: Dict[int, np.ndarray] = {}
    for i, cat in enumerate(cats_raw):
        where = f'{path}: categories[{i}]'
        require_keys(cat, ('id', 'name', 'keypoints'), where)
        where = f'{where} (name={cat["name"]!r})'
        cat_id = as_int_id(cat['id'], where)
        if cat_id in orders:
            raise AnimalPoseFormatError(f'{where}: category id {cat_id} '
                                        'repeated')
        if not isinstance(cat['name'], str) or not cat['name']:
            raise AnimalPoseFormatError(f'{where}: "name" must be a string')
        orders[cat_id] = keypoint_order_to_mmpose(cat['keypoints'], where)
        categories.append(
            dict(
                id=cat_id,
                name=cat['name'],
                supercategory=cat.get('supercategory', 'animal')))
    names = [c['name'] for c in categories]
    if len(set(names)) != len(names):
        raise AnimalPoseFormatError(
            f'{path}: "categories": repeated category names {names}')

    anns_raw = data['annotations']
    if not isinstance(anns_raw, list):
        raise AnimalPoseFormatError(f'{path}: "annotations" must be a list')
    instances: List[AnimalPoseInstance] = []
    for i, ann in enumerate(anns_raw):
        where = f'{path}: annotations[{i}]'
        if isinstance(ann, dict) and 'image_id' in ann:
            where = f'{where} (image_id={ann["image_id"]!r})'
        require_keys(ann, ('image_id', 'bbox', 'keypoints', 'category_id'),
                      where)
        img_id = as_int_id(ann['image_id'], where)
        if img_id not in images:
            raise AnimalPoseFormatError(
                f'{where}: image_id {img_id} is not in "images"')
        cat_id = as_int_id(ann['category_id'], where + ' "category_id"')
        if cat_id not in orders:
            raise AnimalPoseFormatError(
                f'{where}: category_id {cat_id} is not in "categories" '
                f'(ids {sorted(orders)})')

        bbox = ann['bbox']
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(
                is_number(v) for v in bbox):
            raise AnimalPoseFormatError(
                f'{where}: "bbox" must be 4 numbers [xmin, ymin, xmax, ymax], '
                f'got {bbox!r}')
        x1, y1, x2, y2 = (float(v) for v in bbox)
        if x2 <= x1 or y2 <= y1:
            raise AnimalPoseFormatError(
                f'{where}: bbox {list(bbox)} is not [xmin, ymin, xmax, ymax] '
                'with xmax > xmin and ymax > ymin')

        kpts = ann['keypoints']
        if not isinstance(kpts, list) or len(kpts) != NUM_KEYPOINTS:
            n = len(kpts) if isinstance(kpts, list) else type(kpts).__name__
            raise AnimalPoseFormatError(
                f'{where}: "keypoints" must be a list of {NUM_KEYPOINTS} '
                f'[x, y, v] triplets, got {n}')
        for j, kp in enumerate(kpts):
            if not isinstance(kp, (list, tuple)) or len(kp) != 3 or not all(
                    is_number(v) for v in kp):
                raise AnimalPoseFormatError(
                    f'{where}: keypoints[{j}] must be [x, y, v] numbers, got '
                    f'{kp!r}')
        arr = np.asarray(kpts, dtype=np.float64)
        arr = arr[orders[cat_id]]
        arr[:, 2] = (arr[:, 2] > 0).astype(np.float64)
        instances.append(
            AnimalPoseInstance(
                ann_id=i + 1,
                image_id=img_id,
                category_id=cat_id,
                bbox=(x1, y1, x2, y2),
                keypoints=arr))

    return AnimalPoseAnnotations(
        path=path, images=images, categories=categories, instances=instances)


def load_original(path: str) -> AnimalPoseAnnotations:
    """Read and validate an original-format ``keypoints.json``.

    See :func:`parse_original`.
    """
    return parse_original(load_json(path), path)


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------
