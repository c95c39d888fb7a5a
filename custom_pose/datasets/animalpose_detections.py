"""Detector boxes in place of the ground-truth boxes for
:class:`~custom_pose.datasets.OrgAnimalPoseDataset` in test mode
(``bbox_file``, a COCO detection results list)."""
from collections import Counter
from typing import Any, List, Optional, Sequence

import numpy as np
from mmengine.fileio import exists, load
from mmengine.logging import print_log
from mmpose.structures.bbox import bbox_xywh2xyxy

from .animalpose_format import (COCO_DETECTOR_CATEGORY_IDS,
                                AnimalPoseAnnotations, AnimalPoseFormatError)

__all__ = ['AnimalPoseDetectionsMixin']


class AnimalPoseDetectionsMixin:
    """``_load_detection_results`` (mmpose's hook for ``bbox_file``) of
    :class:`~custom_pose.datasets.OrgAnimalPoseDataset`: the detections of
    the selected images and categories, with dummy keypoints. Uses the
    dataset's ``bbox_file``, ``det_category_map`` and its selection
    helpers."""

    def _det_category(self, det_cat: Any, cat_ids: Sequence[int],
                      annots: AnimalPoseAnnotations) -> Optional[int]:
        """Dataset category id of a detection, None to drop it."""
        by_name = {c['name']: c['id'] for c in annots.categories}
        if self.det_category_map is None:
            cat_id = det_cat
        elif self.det_category_map == 'coco':
            inv = {v: k for k, v in COCO_DETECTOR_CATEGORY_IDS.items()}
            cat_id = by_name.get(inv.get(det_cat))
        else:
            cat_id = by_name.get(self.det_category_map.get(det_cat))
        return cat_id if cat_id in cat_ids else None

    def _load_detection_results(self) -> List[dict]:
        """Load detector boxes with dummy keypoints (test mode)."""
        annots, img_ids, cat_ids, n_selected = self._load_selection()

        if not exists(self.bbox_file):
            raise FileNotFoundError(
                f'{self.bbox_file}: bbox_file does not exist')
        dets = load(self.bbox_file)
        if not isinstance(dets, list):
            raise AnimalPoseFormatError(
                f'{self.bbox_file}: expected a list of detections, got '
                f'{type(dets).__name__}')
        keep_imgs = set(img_ids)
        num_keypoints = self.metainfo['num_keypoints']
        data_list = []
        skipped = Counter()
        for i, det in enumerate(dets):
            where = f'{self.bbox_file}: [{i}]'
            if not isinstance(det, dict) or any(
                    k not in det
                    for k in ('image_id', 'bbox', 'score', 'category_id')):
                raise AnimalPoseFormatError(
                    f'{where}: a detection needs "image_id", "bbox" '
                    '([x, y, w, h]), "score" and "category_id"')
            if det['image_id'] not in keep_imgs:
                skipped['image not in the split'] += 1
                continue
            cat_id = self._det_category(det['category_id'], cat_ids, annots)
            if cat_id is None:
                skipped['category not used'] += 1
                continue
            if len(det['bbox']) < 4:
                raise AnimalPoseFormatError(
                    f'{where}: "bbox" must be [x, y, w, h], got {det["bbox"]}')
            bbox = bbox_xywh2xyxy(
                np.array(det['bbox'][:4], dtype=np.float32).reshape(1, 4))
            data_list.append({
                'img_id': det['image_id'],
                'img_path': self._img_path(annots.images[det['image_id']]),
                'bbox': bbox,
                'bbox_score': np.array(det['score'],
                                       dtype=np.float32).reshape(1),
                'keypoints': np.zeros((1, num_keypoints, 2), np.float32),
                'keypoints_visible': np.ones((1, num_keypoints), np.float32),
                'category_id': np.array(cat_id),
                'id': len(data_list),
            })
        msg = (f'{self.__class__.__name__}: {len(data_list)} detections from '
               f'{self.bbox_file} on {len(img_ids)} images'
               + (f' ({n_selected - len(img_ids)} images skipped: file '
                  'missing)' if n_selected != len(img_ids) else ''))
        if skipped:
            msg += '; dropped: ' + ', '.join(f'{n} ({why})'
                                              for why, n in skipped.items())
        print_log(msg, logger='current')
        return data_list
