"""Animal-Pose Part I read straight from its original ``keypoints.json``."""
import logging
import os.path as osp
import warnings
from collections import Counter
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np
from mmengine.fileio import exists
from mmengine.logging import MessageHub, print_log

import mmpose
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS

from custom_pose.errors import CustomPoseError
from .animalpose_format import (DEFAULT_SPLIT_RATIO, MMPOSE_KEYPOINT_NAMES,
                                AnimalPoseAnnotations, AnimalPoseFormatError,
                                AnimalPoseInstance, MMPOSE_TO_ORIGINAL_NAME,
                                load_original, read_image_size)
from .animalpose_coco import (AnimalPoseCocoExportMixin, coco_annotation,
                              coco_categories)
from .animalpose_detections import AnimalPoseDetectionsMixin
from .splits import SplitOptionsMixin
from .validation import SkipUndecodableMixin, check_labelled_keypoints

__all__ = ['OrgAnimalPoseDataset', 'ANIMALPOSE_METAINFO_FILE']


def _find_metainfo_file() -> str:
    """Absolute path of mmpose's ``animalpose.py`` metainfo config.

    A pip-installed mmpose keeps its configs in ``mmpose/.mim/configs``; an
    editable (source) install in ``<repo>/configs``.
    """
    pkg_dir = osp.dirname(osp.abspath(mmpose.__file__))
    rel = osp.join('configs', '_base_', 'datasets', 'animalpose.py')
    candidates = [
        osp.join(pkg_dir, '.mim', rel),
        osp.join(osp.dirname(pkg_dir), rel)
    ]
    for path in candidates:
        if osp.isfile(path):
            return path
    return candidates[0]  # parse_pose_metainfo reports it as missing


#: mmpose's own Animal-Pose metainfo file (flip pairs, sigmas, skeleton,
#: colours), located through the installed mmpose package.
ANIMALPOSE_METAINFO_FILE: str = _find_metainfo_file()

#: How many missing image paths an error message lists.
_MAX_LISTED = 5
#: The release's keypoint names in mmpose's order (the order of the loaded
#: keypoints), for messages.
_RELEASE_NAMES_IN_MMPOSE_ORDER = [
    MMPOSE_TO_ORIGINAL_NAME[n] for n in MMPOSE_KEYPOINT_NAMES
]


class DatasetNotFoundError(CustomPoseError, FileNotFoundError):
    """The dataset's annotation file is not where the config says."""


class EmptySelectionError(CustomPoseError, ValueError):
    """The split/category selection leaves no usable instance."""


@DATASETS.register_module(name=['OrgAnimalPoseDataset', 'org_animal_pose_dataset'])
class OrgAnimalPoseDataset(SplitOptionsMixin, SkipUndecodableMixin,
                           AnimalPoseDetectionsMixin,
                           AnimalPoseCocoExportMixin, BaseCocoStyleDataset):
    """Animal-Pose (Part I) in its original release format, no conversion.

    `Cross-Domain Adaptation for Animal Pose Estimation` (Cao et al., ICCV
    2019). The annotations are read from the release's single
    ``keypoints.json`` (``images`` as ``{"<id>": "<file name>"}``, boxes as
    ``[xmin, ymin, xmax, ymax]``, keypoints as 20 ``[x, y, v]`` triplets; see
    :mod:`custom_pose.datasets.animalpose_format`). Keypoints are mapped by
    name, using each category's own ``keypoints`` list, into mmpose's
    Animal-Pose order, so mmpose's metainfo (``animalpose.py``: flip pairs,
    sigmas, skeleton, colours) applies unchanged:

    .. code-block:: none

        0 L_Eye   1 R_Eye   2 L_EarBase   3 R_EarBase   4 Nose   5 Throat
        6 TailBase   7 Withers   8 L_F_Elbow   9 R_F_Elbow   10 L_B_Elbow
        11 R_B_Elbow   12 L_F_Knee   13 R_F_Knee   14 L_B_Knee   15 R_B_Knee
        16 L_F_Paw   17 R_F_Paw   18 L_B_Paw   19 R_B_Paw

    Labelled keypoints must be finite and lie within one image size of
    their image (:func:`~custom_pose.datasets.validation.
    check_labelled_keypoints`; the image sizes are read from the image
    headers); an image id given twice in ``"images"`` is an error too (see
    :func:`~custom_pose.datasets.animalpose_format.load_json`). Both name
    the file, the annotation and the value.

    Each instance yields the fields :class:`BaseCocoStyleDataset` produces
    (``bbox`` ``(1, 4)`` xyxy float32, ``bbox_score`` ones, ``keypoints``
    ``(1, K, 2)``, ``keypoints_visible`` ``(1, K)``, ``category_id``, ...)
    plus ``raw_ann_info``, the instance in COCO keypoint format (xywh box,
    ``area`` = box area, flat keypoints with ``v = 2`` for labelled), so
    mmpose's ``CocoMetric(ann_file=None)`` evaluates on it. Boxes are used as
    annotated (not clipped to the image). Instances without any labelled
    keypoint are left out and counted in the summary logged at build time.

    In ``test_mode`` the dataset publishes *no* annotation file for
    ``CocoMetric`` (mmpose's base class would publish ``ann_file``, which is
    not COCO format here), so ``CocoMetric(ann_file=None)`` builds its ground
    truth from ``raw_ann_info``. With ``bbox_file`` the samples carry no
    ground truth: give ``CocoMetric`` an ``ann_file`` written by
    :meth:`dump_coco_gt` (or ``tools/dataset_converters/original2coco.py``).

    Args:
        ann_file (str): The original-format annotation file, relative to
            ``data_root``. Defaults to ``'keypoints.json'``.
        bbox_file (str, optional): Detection results (COCO detection json:
            a list of ``{"image_id", "bbox": [x, y, w, h], "score",
            "category_id"}``) used instead of ground-truth boxes; test mode
            only. Defaults to None.
        data_mode (str): ``'topdown'`` (one instance per sample) or
            ``'bottomup'`` (one image per sample). Defaults to ``'topdown'``.
        metainfo (dict, optional): Replaces the default metainfo (mmpose's
            ``animalpose.py``); its keypoints must carry mmpose's Animal-Pose
            names in mmpose's order. Defaults to None.
        data_root (str, optional): Root for ``ann_file``, ``split_file`` and
            ``data_prefix``. Defaults to None.
        data_prefix (dict, optional): ``dict(img='images/')``-style image
            folder. Defaults to ``dict(img='')``.
        categories (Sequence[str], optional): Keep only these categories
            (e.g. ``['cat', 'dog']``); unknown names raise ``ValueError``
            listing the valid ones. Defaults to None (all).
        split (str): ``'train'``, ``'val'`` or ``'all'``: a deterministic
            seeded split of the file's images (see
            :func:`~custom_pose.datasets.splits.split_image_ids`).
            It is drawn over *all* images of the file, before the category
            filter, so a filtered split is a subset of the unfiltered one.
            Defaults to ``'all'``.
        split_ratio (float): Fraction of images in ``'train'``. Defaults to
            :data:`~custom_pose.datasets.animalpose_format.DEFAULT_SPLIT_RATIO`
            (0.9).
        split_seed (int): Seed of the split. Defaults to 0.
        split_file (str, optional): File of image ids to use (JSON list or
            one id per line), relative to ``data_root``. Excludes
            ``image_ids`` and ``split != 'all'``. Defaults to None.
        image_ids (Sequence[int], optional): Image ids to use. Excludes
            ``split_file`` and ``split != 'all'``. Defaults to None.
        skip_missing (bool): If True, images whose file is missing are
            dropped with a warning giving their count; if False (default)
            they raise :class:`AnimalPoseFormatError` listing the first few.
        skip_undecodable (bool): If True, a training sample whose image
            cannot be loaded when it is drawn (empty, truncated, not an
            image) is skipped with a warning and another one is drawn; if
            False (default) it stops with an error naming the file. Needs
            ``CustomPoseLoadImage`` in the pipeline (the package's configs
            use it); never applies in ``test_mode``.
        det_category_map (str | dict, optional): Maps the ``category_id`` of
            ``bbox_file`` detections to categories: None (default) means
            they already use the annotation file's ids; ``'coco'`` means
            the 91-id COCO label space (cat 17, dog 18, horse 19, sheep 20,
            cow 21); a dict maps detector id -> category name. Detections of
            other or unselected categories are dropped and counted.
        filter_cfg, indices, serialize_data, pipeline, test_mode, lazy_init,
        max_refetch, sample_interval: As in :class:`BaseCocoStyleDataset`.

    Raises:
        AnimalPoseFormatError: A format problem, naming the file and entry.
        FileNotFoundError: ``ann_file`` / ``split_file`` / ``bbox_file``
            does not exist.
        ValueError: Invalid arguments.
    """

    METAINFO: dict = dict(from_file=ANIMALPOSE_METAINFO_FILE)

    def __init__(self,
                 ann_file: str = 'keypoints.json',
                 bbox_file: Optional[str] = None,
                 data_mode: str = 'topdown',
                 metainfo: Optional[dict] = None,
                 data_root: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 categories: Optional[Sequence[str]] = None,
                 split: str = 'all',
                 split_ratio: float = DEFAULT_SPLIT_RATIO,
                 split_seed: int = 0,
                 split_file: Optional[str] = None,
                 image_ids: Optional[Sequence[int]] = None,
                 skip_missing: bool = False,
                 skip_undecodable: bool = False,
                 det_category_map: Optional[Union[str, Dict[int, str]]] = None,
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 pipeline: Optional[Sequence[Union[dict, Callable]]] = None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 sample_interval: int = 1) -> None:
        self._init_split(split, split_ratio, split_seed, split_file,
                         image_ids, data_root)
        if categories is not None:
            if isinstance(categories, str):
                categories = [categories]
            if not categories or not all(
                    isinstance(c, str) for c in categories):
                raise ValueError('categories: expected a non-empty list of '
                                 f'category names, got {categories!r}')
        if det_category_map is not None and not (
                det_category_map == 'coco'
                or isinstance(det_category_map, dict)):
            raise ValueError("det_category_map: expected None, 'coco' or a "
                             f'dict, got {det_category_map!r}')
        if data_prefix is None:
            data_prefix = dict(img='')
        if not isinstance(data_prefix, dict) or 'img' not in data_prefix:
            raise ValueError("data_prefix: expected dict(img='<image "
                             f"folder>'), got {data_prefix!r}")

        self.categories = None if categories is None else list(categories)
        self.skip_missing = bool(skip_missing)
        self.skip_undecodable = bool(skip_undecodable)
        self.det_category_map = det_category_map
        self._annots: Optional[AnimalPoseAnnotations] = None
        self._selected_image_ids: List[int] = []
        self._selected_category_ids: List[int] = []
        #: Counts logged when the annotations are loaded: ``images``,
        #: ``instances``, ``per_category``, ``labelled_keypoints``,
        #: ``dropped_instances`` (no labelled keypoint),
        #: ``dropped_per_category``, ``missing_images`` (skip_missing).
        self.summary: Dict[str, Any] = {}

        super().__init__(
            ann_file=ann_file,
            bbox_file=bbox_file,
            data_mode=data_mode,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            filter_cfg=filter_cfg,
            indices=indices,
            serialize_data=serialize_data,
            pipeline=[] if pipeline is None else list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch,
            sample_interval=sample_interval)

        names = tuple(self._metainfo['keypoint_id2name'][i]
                      for i in range(self._metainfo['num_keypoints']))
        if names != MMPOSE_KEYPOINT_NAMES:
            raise ValueError(
                f'metainfo: {self.__class__.__name__} produces keypoints '
                f'{list(MMPOSE_KEYPOINT_NAMES)}, but the metainfo lists '
                f'{list(names)}')

        if self.test_mode:
            # The base class published ``ann_file`` for CocoMetric, which
            # would try to read the original format as COCO. Publish nothing
            # so that CocoMetric(ann_file=None) uses ``raw_ann_info``.
            MessageHub.get_current_instance().update_info(
                f"{self._metainfo['dataset_name']}_ann_file", None)

    # ------------------------------------------------------------------
    # Loading
    # ------------------------------------------------------------------
    def _select(self, annots: AnimalPoseAnnotations
                ) -> Tuple[List[int], List[int]]:
        """Image ids (split) and category ids (filter) to use."""
        cat_ids = annots.category_ids(self.categories)
        img_ids = self._select_image_ids(annots.images, annots.path,
                                         AnimalPoseFormatError)
        # keep images holding at least one annotation of the categories
        keep_cats = set(cat_ids)
        used = {
            inst.image_id
            for inst in annots.instances if inst.category_id in keep_cats
        }
        img_ids = [i for i in img_ids if i in used]
        return img_ids, cat_ids

    def _check_images(self, annots: AnimalPoseAnnotations,
                      img_ids: List[int]) -> List[int]:
        """Drop (``skip_missing``) or report images whose file is missing."""
        missing = [
            i for i in img_ids if not exists(self._img_path(annots.images[i]))
        ]
        if not missing:
            return img_ids
        listed = ', '.join(
            self._img_path(annots.images[i]) for i in missing[:_MAX_LISTED])
        more = f', ... ({len(missing)} in all)' if len(
            missing) > _MAX_LISTED else ''
        if not self.skip_missing:
            raise AnimalPoseFormatError(
                f'{annots.path}: {len(missing)} image file(s) not found: '
                f'{listed}{more}. Check data_root / data_prefix, or set '
                'skip_missing=True to drop them.')
        msg = (f'{annots.path}: skipping {len(missing)} image(s) whose file '
               f'is missing (skip_missing=True): {listed}{more}')
        warnings.warn(msg, UserWarning, stacklevel=2)
        print_log(msg, logger='current', level=logging.WARNING)
        missing_set = set(missing)
        return [i for i in img_ids if i not in missing_set]

    def _img_path(self, file_name: str) -> str:
        return osp.join(self.data_prefix['img'], file_name)

    def _existing_ann_file(self) -> str:
        """``ann_file``, or :class:`DatasetNotFoundError` saying what to do."""
        if not exists(self.ann_file):
            raise DatasetNotFoundError(
                f'{self.ann_file}: annotation file does not exist (data_root='
                f'{self.data_root!r}). Put the Animal-Pose release there '
                '(keypoints.json and images/), point the config at it with '
                '--cfg-options train_dataloader.dataset.data_root=... '
                '(and val_/test_dataloader), or generate the synthetic '
                'dataset: python tools/make_synthetic_animalpose.py '
                f'--out-dir {self.data_root or "DATA_ROOT"}')
        return self.ann_file

    def _load_selection(self) -> Tuple[AnimalPoseAnnotations, List[int],
                                       List[int], int]:
        """Read the file and select its images and categories (kept on the
        dataset for :meth:`get_coco_gt` and ``CLASSES``).

        Returns:
            tuple: The annotations, the selected image ids (without images
            missing on disk where those are skipped), the category ids, and
            the number of images selected before that.
        """
        annots = load_original(self._existing_ann_file())
        img_ids, cat_ids = self._select(annots)
        n_selected = len(img_ids)
        img_ids = self._check_images(annots, img_ids)
        self._annots = annots
        self._selected_image_ids = img_ids
        self._selected_category_ids = cat_ids
        self._metainfo['CLASSES'] = self._coco_classes(annots, cat_ids)
        return annots, img_ids, cat_ids, n_selected

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        """Load the original-format file (overrides the COCO loader).

        Returns:
            tuple: ``(instance_list, image_list)`` as in
            :class:`BaseCocoStyleDataset`.
        """
        annots, img_ids, cat_ids, n_selected = self._load_selection()

        keep_imgs, keep_cats = set(img_ids), set(cat_ids)
        selected = [
            inst for inst in annots.instances
            if inst.image_id in keep_imgs and inst.category_id in keep_cats
        ]
        selected.sort(key=lambda inst: (inst.image_id, inst.ann_id))
        instance_list = []
        dropped = Counter()
        sizes: Dict[int, Optional[Tuple[int, int]]] = {}
        for inst in selected:
            if inst.num_keypoints == 0:
                dropped[inst.category_id] += 1
                continue
            self._check_keypoints(annots, inst, sizes)
            instance_list.append(self._instance_info(annots, inst))
        self._image_sizes = sizes  # reused by get_coco_gt

        image_list = []
        for img_id in sorted(img_ids):
            if self.sample_interval > 1 and img_id % self.sample_interval:
                continue
            image_list.append(
                dict(
                    id=img_id,
                    img_id=img_id,
                    file_name=annots.images[img_id],
                    img_path=self._img_path(annots.images[img_id])))
        if self.sample_interval > 1:
            kept = {img['img_id'] for img in image_list}
            instance_list = [d for d in instance_list if d['img_id'] in kept]

        self._log_summary(annots, image_list, instance_list, dropped,
                          n_selected - len(img_ids))
        if not instance_list:
            raise EmptySelectionError(
                f'{annots.path}: the selection split={self.split!r} '
                f'(split_ratio={self.split_ratio}, seed={self.split_seed}), '
                f'categories={self.categories} leaves no instance with a '
                f'labelled keypoint out of {len(annots.instances)} in '
                f'{len(annots.images)} images; use more images, another '
                'split_ratio or split=\'all\'')
        return instance_list, image_list

    def _check_keypoints(self, annots: AnimalPoseAnnotations,
                         inst: AnimalPoseInstance,
                         sizes: Dict[int, Optional[Tuple[int, int]]]) -> None:
        """Labelled keypoints finite and near the image (its size read from
        the header once, into ``sizes``)."""
        if inst.image_id not in sizes:
            sizes[inst.image_id] = read_image_size(
                self._img_path(annots.images[inst.image_id]))
        check_labelled_keypoints(
            inst.keypoints[:, :2], inst.keypoints[:, 2] > 0,
            f'{annots.path}: annotations[{inst.ann_id - 1}] '
            f'(image_id={inst.image_id})', sizes[inst.image_id],
            names=_RELEASE_NAMES_IN_MMPOSE_ORDER,
            error=AnimalPoseFormatError)

    def _instance_info(self, annots: AnimalPoseAnnotations,
                       inst: AnimalPoseInstance) -> Dict[str, Any]:
        """The data info of one instance (BaseCocoStyleDataset's fields)."""
        x1, y1, x2, y2 = inst.bbox
        raw = coco_annotation(inst)
        return {
            'img_id': inst.image_id,
            'img_path': self._img_path(annots.images[inst.image_id]),
            'bbox': np.array([[x1, y1, x2, y2]], dtype=np.float32),
            'bbox_score': np.ones(1, dtype=np.float32),
            'num_keypoints': inst.num_keypoints,
            'keypoints': inst.keypoints[None, :, :2].astype(np.float32),
            'keypoints_visible':
            (inst.keypoints[None, :, 2] > 0).astype(np.float32),
            'area': np.array(raw['area'], dtype=np.float32),
            'iscrowd': 0,
            'segmentation': None,
            'id': inst.ann_id,
            'category_id': np.array(inst.category_id),
            'raw_ann_info': raw,
        }

    @staticmethod
    def _coco_classes(annots: AnimalPoseAnnotations,
                      cat_ids: Sequence[int]) -> List[dict]:
        """``CLASSES`` metainfo: COCO category dicts of the used categories
        (CocoMetric writes them into its ground-truth file)."""
        keep = set(cat_ids)
        return coco_categories(
            [c for c in annots.categories if c['id'] in keep])

    def _log_summary(self, annots: AnimalPoseAnnotations,
                     image_list: List[dict], instance_list: List[dict],
                     dropped: Counter, n_missing: int) -> None:
        names = {c['id']: c['name'] for c in annots.categories}
        per_cat = Counter(int(d['category_id']) for d in instance_list)
        n_kpts = sum(int(d['num_keypoints']) for d in instance_list)
        self.summary = dict(
            images=len(image_list),
            instances=len(instance_list),
            per_category={
                names[c]: per_cat[c]
                for c in self._selected_category_ids
            },
            labelled_keypoints=n_kpts,
            dropped_instances=sum(dropped.values()),
            dropped_per_category={
                names[c]: dropped[c]
                for c in self._selected_category_ids
            },
            missing_images=n_missing)
        lines = [
            f'{self.__class__.__name__} summary ({annots.path}, '
            f'split={self._split_desc()}'
            f'{", test_mode" if self.test_mode else ""}):',
            f'  images: {len(image_list)}'
            f'{f" ({n_missing} skipped: file missing)" if n_missing else ""}',
            f'  instances: {len(instance_list)}',
        ]
        for cat_id in self._selected_category_ids:
            lines.append(f'    {names[cat_id]:<10s} {per_cat[cat_id]:>7d}'
                         + (f'  (+{dropped[cat_id]} dropped)'
                            if dropped[cat_id] else ''))
        mean = n_kpts / len(instance_list) if instance_list else 0.0
        lines.append(f'  labelled keypoints: {n_kpts} '
                     f'({mean:.2f} per instance)')
        lines.append('  instances dropped (no labelled keypoint): '
                     f'{sum(dropped.values())}')
        print_log('\n'.join(lines), logger='current')
