"""COCO keypoint files with their own keypoint set.

A COCO keypoint file (``person_keypoints_*.json`` layout) names its keypoints
and skeleton in its categories::

    {"images": [{"id", "file_name", "width", "height"}, ...],
     "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h],
                      "keypoints": [x1, y1, v1, ...], "num_keypoints"}, ...],
     "categories": [{"id", "name", "keypoints": [names],
                     "skeleton": [[i, j], ...]}, ...]}

``v = 0`` is unlabelled, 1 labelled but not visible, 2 visible.

The skeleton's keypoint indices are 1-based in standard COCO files and
0-based in others (mmpose's ATRW file). The convention is decided per file
from the K keypoints: a skeleton with an index 0 and every index in
``0..K-1`` is 0-based; one with every index in ``1..K`` is 1-based; any
other skeleton (an index out of range either way, a link that is not a pair
of integers) is refused with the file and the first offending link.
Written files use 1-based indices.

Every category with keypoints must list the same names (one model, one
keypoint set); pick one with ``category=`` otherwise. Boxes are taken from
the file when present (``w, h > 0``); image file names are relative to
``image_dir`` (default: the JSON file's folder).
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..file_io import dump_json, is_number, load_json
from .common import (KeypointAnnotations, KeypointFormatError, KeypointImage,
                     KeypointInstance, bbox_from_keypoints,
                     check_keypoint_names, locate_image)

__all__ = ['read_coco', 'write_coco', 'read_coco_keypoint_names']


def _as_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            float(value) != int(value):
        raise KeypointFormatError(f'{where}: id {value!r} is not an integer')
    return int(value)


def _load(path: str) -> Dict[str, Any]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: COCO keypoint file does not exist')
    try:
        data = load_json(path)
    except ValueError as e:  # malformed JSON, named by load_json
        raise KeypointFormatError(str(e)) from None
    if not isinstance(data, dict) or any(
            not isinstance(data.get(k), list)
            for k in ('images', 'annotations', 'categories')):
        raise KeypointFormatError(
            f'{path}: a COCO keypoint file has the lists "images", '
            '"annotations" and "categories"')
    return data


def _keypoint_categories(data: Dict[str, Any], path: str,
                         category: Optional[str]
                         ) -> Tuple[Tuple[str, ...], List[dict], list]:
    """``(names, used categories, raw skeleton)``."""
    cats = []
    for i, cat in enumerate(data['categories']):
        if not isinstance(cat, dict) or 'id' not in cat:
            raise KeypointFormatError(
                f'{path}: categories[{i}] needs an "id"')
        if cat.get('keypoints'):
            cats.append((i, cat))
    if category is not None:
        cats = [(i, c) for i, c in cats if c.get('name') == category]
        if not cats:
            raise KeypointFormatError(
                f'{path}: no category named {category!r} with keypoints; '
                'the file has '
                f'{[c.get("name") for c in data["categories"]]}')
    if not cats:
        raise KeypointFormatError(
            f'{path}: no category lists "keypoints"; a COCO keypoint file '
            'names its keypoints in categories[*].keypoints')
    first_i, first = cats[0]
    names = check_keypoint_names(
        first['keypoints'], f'{path}: categories[{first_i}].keypoints')
    for i, cat in cats[1:]:
        if tuple(cat['keypoints']) != names:
            raise KeypointFormatError(
                f'{path}: categories[{i}] ({cat.get("name")!r}) lists other '
                f'keypoints than categories[{first_i}] ({first.get("name")!r})'
                '; one dataset has one keypoint set: choose one with '
                'category=...')
    return names, [c for _, c in cats], first.get('skeleton') or []


def _skeleton(raw: Any, num: int, where: str) -> Tuple[Tuple[int, int], ...]:
    """0-based ``(i, j)`` links of a COCO skeleton in either convention.

    Args:
        raw: The category's ``skeleton`` as read from the file.
        num (int): Number of keypoints K.
        where (str): ``'<file>: categories[*].skeleton'`` for messages.

    Returns:
        tuple: The links as 0-based index pairs. A skeleton holding an index
        0 is read as 0-based (indices ``0..K-1``), any other as 1-based
        (indices ``1..K``).

    Raises:
        KeypointFormatError: A link that is not a pair of integers, or an
            index out of range for the skeleton's convention.
    """
    if not isinstance(raw, (list, tuple)):
        raise KeypointFormatError(
            f'{where}: a COCO skeleton is a list of [i, j] keypoint index '
            f'pairs, got {raw!r}')
    for k, link in enumerate(raw):
        if not isinstance(link, (list, tuple)) or len(link) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool)
                for v in link):
            raise KeypointFormatError(
                f'{where}[{k}]: a COCO skeleton link is a pair of integer '
                f'keypoint indices, got {link!r}')
    zero_based = any(v == 0 for link in raw for v in link)
    low, high = (0, num - 1) if zero_based else (1, num)
    for k, link in enumerate(raw):
        if not all(low <= v <= high for v in link):
            convention = ('0-based (the skeleton uses index 0)'
                          if zero_based else '1-based')
            raise KeypointFormatError(
                f'{where}[{k}]: skeleton link {list(link)!r} is out of range '
                f'for {num} keypoints; a {convention} skeleton uses indices '
                f'{low}..{high}: fix the link or the keypoint list')
    return tuple((link[0] - low, link[1] - low) for link in raw)


def read_coco_keypoint_names(path: str,
                             category: Optional[str] = None
                             ) -> Tuple[str, ...]:
    """The keypoint names of a COCO keypoint file."""
    return _keypoint_categories(_load(path), path, category)[0]


def read_coco(path: str,
              image_dir: Optional[str] = None,
              category: Optional[str] = None) -> KeypointAnnotations:
    """Read a COCO keypoint file with its own keypoints and skeleton.

    Args:
        path (str): The JSON file.
        image_dir (str, optional): Folder of the images' ``file_name``.
            Defaults to the JSON file's folder.
        category (str, optional): Use only this category (needed when the
            file's keypoint categories list different keypoints).

    Returns:
        KeypointAnnotations: Images (size from the file, else the image
        header) and instances (box from the file where present).

    Raises:
        KeypointFormatError: A keypoint name used twice, a non-numeric
            coordinate, keypoint lists of the wrong length, unknown image or
            category ids, a missing image, ...
    """
    data = _load(path)
    names, cats, raw_skeleton = _keypoint_categories(data, path, category)
    num = len(names)
    root = image_dir if image_dir is not None else osp.dirname(path)
    cat_ids = {_as_id(c['id'], f'{path}: categories'): c for c in cats}

    images: Dict[int, KeypointImage] = {}
    for i, img in enumerate(data['images']):
        where = f'{path}: images[{i}]'
        if not isinstance(img, dict) or 'id' not in img or not isinstance(
                img.get('file_name'), str):
            raise KeypointFormatError(
                f'{where}: an image needs "id" and "file_name"')
        img_id = _as_id(img['id'], where)
        if img_id in images:
            raise KeypointFormatError(
                f'{where}: image id {img_id} used twice')
        known = all(is_number(img.get(k)) for k in ('width', 'height'))
        img_path, size = locate_image(root, img['file_name'], where,
                                      need_size=not known)
        w, h = (int(img['width']), int(img['height'])) if known else size
        images[img_id] = KeypointImage(
            id=img_id, file_name=img['file_name'], path=img_path, width=w,
            height=h)

    instances: List[KeypointInstance] = []
    skipped = 0
    for i, ann in enumerate(data['annotations']):
        where = f'{path}: annotations[{i}]'
        if not isinstance(ann, dict) or any(
                k not in ann for k in ('image_id', 'category_id',
                                       'keypoints')):
            raise KeypointFormatError(
                f'{where}: an annotation needs "image_id", "category_id" and '
                '"keypoints"')
        cat_id = _as_id(ann['category_id'], where)
        if cat_id not in cat_ids:
            if any(c.get('id') == cat_id for c in data['categories']):
                skipped += 1  # a category without keypoints / not chosen
                continue
            raise KeypointFormatError(
                f'{where}: category_id {cat_id} is not in "categories"')
        img_id = _as_id(ann['image_id'], where)
        if img_id not in images:
            raise KeypointFormatError(
                f'{where}: image_id {img_id} is not in "images"')
        flat = ann['keypoints']
        if not isinstance(flat, list) or len(flat) != 3 * num:
            raise KeypointFormatError(
                f'{where}: "keypoints" must hold {3 * num} numbers (x, y, v '
                f'for the {num} keypoints {list(names)}), got '
                f'{len(flat) if isinstance(flat, list) else flat!r}')
        bad = [k for k, v in enumerate(flat) if not is_number(v)]
        if bad:
            raise KeypointFormatError(
                f'{where}: keypoints[{bad[0]}] = {flat[bad[0]]!r} is not a '
                'number; x, y are pixels and v is 0, 1 or 2')
        kpts = np.asarray(flat, dtype=np.float64).reshape(num, 3)
        vis = np.clip(kpts[:, 2], 0, 2).astype(np.int64)
        bbox = None
        box = ann.get('bbox')
        if box is not None:
            if not isinstance(box, list) or len(box) != 4 or not all(
                    is_number(v) for v in box):
                raise KeypointFormatError(
                    f'{where}: "bbox" must be [x, y, w, h], got {box!r}')
            if box[2] > 0 and box[3] > 0:
                bbox = (float(box[0]), float(box[1]),
                        float(box[0] + box[2]), float(box[1] + box[3]))
        instances.append(
            KeypointInstance(
                id=_as_id(ann.get('id', i + 1), where),
                image_id=img_id,
                keypoints=np.where(vis[:, None] > 0, kpts[:, :2], 0.0),
                visibility=vis,
                bbox=bbox,
                category_id=cat_id))
    notes = [f'{skipped} annotation(s) of other categories left out'
             ] if skipped else []
    return KeypointAnnotations(
        path=path,
        format='coco',
        keypoint_names=names,
        skeleton=_skeleton(raw_skeleton, num,
                           f'{path}: categories[*].skeleton'),
        images=list(images.values()),
        instances=instances,
        categories=[dict(id=i, name=c.get('name', f'category{i}'))
                    for i, c in cat_ids.items()],
        notes=notes)


def write_coco(annots: KeypointAnnotations,
               path: str,
               image_dir: Optional[str] = None,
               bbox_margin: float = 0.1) -> str:
    """Write ``annots`` as a COCO keypoint file (all or nothing).

    Args:
        annots (KeypointAnnotations): What to write.
        path (str): The JSON file.
        image_dir (str, optional): Folder the written ``file_name``\\ s are
            relative to (``../`` where an image lies outside it). Defaults
            to the JSON file's folder.
        bbox_margin (float): Margin of the boxes written for instances
            without one (:func:`~.common.bbox_from_keypoints`).

    Returns:
        str: ``path``.
    """
    root = osp.abspath(image_dir if image_dir is not None else
                       osp.dirname(path))
    skeleton = [[i + 1, j + 1] for i, j in annots.skeleton]
    images, sizes = [], {}
    for img in annots.images:
        file_name = osp.relpath(osp.abspath(img.path), root)
        images.append(
            dict(id=img.id, file_name=file_name.replace(osp.sep, '/'),
                 width=img.width, height=img.height))
        sizes[img.id] = (img.width, img.height) if img.width else None
    anns = []
    for inst in annots.instances:
        bbox = inst.bbox or bbox_from_keypoints(
            inst.keypoints, inst.labelled, bbox_margin,
            image_size=sizes.get(inst.image_id))
        x1, y1, x2, y2 = bbox
        flat = np.concatenate(
            [inst.keypoints, inst.visibility[:, None].astype(np.float64)],
            axis=1)
        anns.append(
            dict(id=inst.id, image_id=inst.image_id,
                 category_id=inst.category_id,
                 bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                 iscrowd=0, num_keypoints=inst.num_keypoints,
                 keypoints=[float(v) if k % 3 < 2 else int(v)
                            for k, v in enumerate(flat.ravel().tolist())]))
    cats = [dict(id=c['id'], name=c['name'], supercategory='animal',
                 keypoints=list(annots.keypoint_names), skeleton=skeleton)
            for c in annots.categories]
    return dump_json(dict(images=images, annotations=anns, categories=cats),
                     path)
