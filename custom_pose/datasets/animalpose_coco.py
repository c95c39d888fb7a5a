"""Animal-Pose (original release) to COCO keypoint format and back.

:func:`to_coco` writes the release's instances (keypoints in mmpose's
order) as a COCO keypoint file for mmpose's ``CocoMetric`` and the
converters; :func:`coco_to_original` turns such a file back into the
release's layout.
"""
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Tuple)

import numpy as np

from .animalpose_format import (MMPOSE_KEYPOINT_NAMES, MMPOSE_SKELETON,
                                NUM_KEYPOINTS, ORIGINAL_KEYPOINT_NAMES,
                                ORIGINAL_TO_MMPOSE_INDEX,
                                ORIGINAL_SKELETON, AnimalPoseAnnotations,
                                AnimalPoseFormatError, AnimalPoseInstance,
                                as_int_id, is_number,
                                keypoint_order_to_mmpose, require_keys)
from .file_io import dump_json, read_image_size

__all__ = ['coco_annotation', 'coco_categories', 'to_coco',
           'coco_to_original', 'AnimalPoseCocoExportMixin']


def _coco_skeleton() -> List[List[int]]:
    """mmpose's Animal-Pose links as 1-based COCO skeleton pairs."""
    return [[MMPOSE_KEYPOINT_NAMES.index(a) + 1,
             MMPOSE_KEYPOINT_NAMES.index(b) + 1] for a, b in MMPOSE_SKELETON]


def coco_annotation(inst: AnimalPoseInstance) -> Dict[str, Any]:
    """COCO keypoint annotation of one instance (mmpose's keypoint order).

    Returns:
        dict: ``image_id, id, category_id, bbox`` (xywh), ``area`` (box
        area), ``iscrowd`` (0), ``num_keypoints`` and ``keypoints`` (flat
        ``[x, y, v, ...]`` with ``v = 2`` for labelled, 0 otherwise).
    """
    x1, y1, x2, y2 = inst.bbox
    w, h = x2 - x1, y2 - y1
    flat = []
    for x, y, v in inst.keypoints.tolist():
        flat.extend([x, y, 2 if v > 0 else 0])
    return dict(
        image_id=inst.image_id,
        id=inst.ann_id,
        category_id=inst.category_id,
        bbox=[x1, y1, w, h],
        area=w * h,
        iscrowd=0,
        num_keypoints=inst.num_keypoints,
        keypoints=flat)


def coco_categories(categories: Sequence[Mapping[str, Any]]) -> List[dict]:
    """COCO category entries (mmpose keypoint names, 1-based skeleton)."""
    return [
        dict(
            id=c['id'],
            name=c['name'],
            supercategory=c.get('supercategory', 'animal'),
            keypoints=list(MMPOSE_KEYPOINT_NAMES),
            skeleton=_coco_skeleton()) for c in categories
    ]


def to_coco(annots: AnimalPoseAnnotations,
            image_ids: Optional[Iterable[int]] = None,
            category_ids: Optional[Iterable[int]] = None,
            image_sizes: Optional[Mapping[int, Tuple[int, int]]] = None,
            description: str = 'Animal-Pose (Part I) converted by custom_pose'
            ) -> Dict[str, Any]:
    """Convert (a selection of) an original-format file to COCO keypoints.

    Keypoints are written in mmpose's Animal-Pose order with mmpose's names.
    Every instance of the selection is kept, including those with no
    labelled keypoint (``num_keypoints = 0``, which COCO evaluation ignores).

    Args:
        annots (AnimalPoseAnnotations): The parsed file.
        image_ids (Iterable[int], optional): Images to keep (all if None).
            Images left without an instance of the kept categories are
            dropped when ``category_ids`` is given.
        category_ids (Iterable[int], optional): Categories to keep (all if
            None).
        image_sizes (Mapping[int, (w, h)], optional): Recorded as
            ``width`` / ``height`` of the images that have one.
        description (str): ``info.description``.

    Returns:
        dict: ``info, licenses, images, annotations, categories``.
    """
    keep_imgs = set(annots.images) if image_ids is None else set(image_ids)
    keep_cats = set(annots.category_ids()) if category_ids is None else set(
        category_ids)
    anns = [
        coco_annotation(inst) for inst in annots.instances
        if inst.image_id in keep_imgs and inst.category_id in keep_cats
    ]
    if category_ids is not None:
        keep_imgs &= {a['image_id'] for a in anns}
    images = []
    for img_id, file_name in annots.images.items():
        if img_id not in keep_imgs:
            continue
        img = dict(id=img_id, file_name=file_name)
        if image_sizes and img_id in image_sizes:
            img['width'], img['height'] = (int(v) for v in image_sizes[img_id])
        images.append(img)
    cats = [c for c in annots.categories if c['id'] in keep_cats]
    return dict(
        info=dict(description=description, source=annots.path),
        licenses=[],
        images=images,
        annotations=anns,
        categories=coco_categories(cats))


def coco_to_original(coco: Any, path: str) -> Dict[str, Any]:
    """Convert a COCO keypoint dict back to the original release format.

    Keypoints are mapped by the names in each COCO category (release or
    mmpose names) into the release's order; ``v > 0`` becomes 1; boxes go
    from xywh to xyxy. Annotations are written in ``id`` order.

    Args:
        coco: The decoded COCO JSON.
        path (str): The file it came from, used in messages.

    Returns:
        dict: ``images``, ``annotations``, ``categories`` in the release
        format.

    Raises:
        AnimalPoseFormatError: Naming ``path`` and the entry.
    """
    require_keys(coco, ('images', 'annotations', 'categories'),
                  f'{path}: top level')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(coco[key], list):
            raise AnimalPoseFormatError(f'{path}: "{key}" must be a list')
    images: Dict[str, str] = {}
    for i, img in enumerate(coco['images']):
        where = f'{path}: images[{i}]'
        require_keys(img, ('id', 'file_name'), where)
        images[str(as_int_id(img['id'], where))] = img['file_name']

    # orders[cat_id][j] = COCO index of release keypoint j
    orders: Dict[int, np.ndarray] = {}
    categories = []
    for i, cat in enumerate(coco['categories']):
        where = f'{path}: categories[{i}]'
        require_keys(cat, ('id', 'name', 'keypoints'), where)
        where = f'{where} (name={cat["name"]!r})'
        cat_id = as_int_id(cat['id'], where)
        to_mm = keypoint_order_to_mmpose(cat['keypoints'], where)
        orders[cat_id] = to_mm[list(ORIGINAL_TO_MMPOSE_INDEX)]
        categories.append(
            dict(
                supercategory=cat.get('supercategory', 'animal'),
                id=cat_id,
                name=cat['name'],
                keypoints=list(ORIGINAL_KEYPOINT_NAMES),
                skeleton=[list(p) for p in ORIGINAL_SKELETON]))

    anns = []
    for i, ann in enumerate(coco['annotations']):
        where = f'{path}: annotations[{i}]'
        if isinstance(ann, dict):
            where = (f'{where} (id={ann.get("id")!r}, '
                     f'image_id={ann.get("image_id")!r})')
        require_keys(ann, ('image_id', 'bbox', 'keypoints', 'category_id'),
                      where)
        img_id = as_int_id(ann['image_id'], where)
        if str(img_id) not in images:
            raise AnimalPoseFormatError(
                f'{where}: image_id {img_id} is not in "images"')
        cat_id = as_int_id(ann['category_id'], where)
        if cat_id not in orders:
            raise AnimalPoseFormatError(
                f'{where}: category_id {cat_id} is not in "categories"')
        bbox = ann['bbox']
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(
                is_number(v) for v in bbox) or bbox[2] <= 0 or bbox[3] <= 0:
            raise AnimalPoseFormatError(
                f'{where}: "bbox" must be [x, y, w, h] with w, h > 0, got '
                f'{bbox!r}')
        flat = ann['keypoints']
        if not isinstance(flat, list) or len(flat) != 3 * NUM_KEYPOINTS or \
                not all(is_number(v) for v in flat):
            raise AnimalPoseFormatError(
                f'{where}: "keypoints" must be {3 * NUM_KEYPOINTS} numbers '
                f'(x, y, v for {NUM_KEYPOINTS} keypoints)')
        kpts = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
        kpts = kpts[orders[cat_id]]
        triplets = [[x, y, 1 if v > 0 else 0] for x, y, v in kpts.tolist()]
        x, y, w, h = (float(v) for v in bbox)
        anns.append((ann.get('id', i + 1), i,
                     dict(
                         image_id=img_id,
                         bbox=[x, y, x + w, y + h],
                         keypoints=triplets,
                         num_keypoints=sum(t[2] for t in triplets),
                         category_id=cat_id)))
    anns.sort(key=lambda t: (t[0], t[1]))
    return dict(
        images=images,
        annotations=[a for _, _, a in anns],
        categories=categories)


class AnimalPoseCocoExportMixin:
    """The ground truth of an
    :class:`~custom_pose.datasets.OrgAnimalPoseDataset`'s selection in COCO
    keypoint format (:meth:`get_coco_gt`, :meth:`dump_coco_gt`)."""

    def get_coco_gt(self, with_image_size: bool = True) -> Dict[str, Any]:
        """Ground truth of this dataset's split in COCO keypoint format.

        Holds every instance of the selected images and categories
        (including those left out for lack of labelled keypoints, which COCO
        evaluation ignores), keypoints in mmpose's order, with the same
        ``id`` / ``image_id`` as the samples' ``raw_ann_info``.

        Args:
            with_image_size (bool): Read each image's header for its
                ``width`` / ``height``. Defaults to True.

        Returns:
            dict: ``info, licenses, images, annotations, categories``.
        """
        self.full_init()
        annots = self._annots
        sizes = None
        if with_image_size:
            sizes = {}
            known = getattr(self, '_image_sizes', {})  # read when loading
            for img_id in self._selected_image_ids:
                size = known[img_id] if img_id in known else read_image_size(
                    self._img_path(annots.images[img_id]))
                if size is not None:
                    sizes[img_id] = size
        return to_coco(
            annots,
            image_ids=self._selected_image_ids,
            category_ids=self._selected_category_ids,
            image_sizes=sizes)

    def dump_coco_gt(self, out_file: str, with_image_size: bool = True) -> str:
        """Write :meth:`get_coco_gt` to ``out_file`` (all or nothing).

        Returns:
            str: ``out_file``.
        """
        return dump_json(self.get_coco_gt(with_image_size), out_file)
