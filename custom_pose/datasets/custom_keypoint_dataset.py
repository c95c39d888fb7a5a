"""Top-down dataset for any keypoint set: DeepLabCut, SLEAP or COCO files."""
import ast
import logging
import os.path as osp
from collections import Counter
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np
from mmengine.logging import MessageHub, print_log

from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS
from .animalpose_format import DEFAULT_SPLIT_RATIO
from .formats import (DEFAULT_UNIQUE_BODYPARTS, KeypointAnnotations,
                      KeypointFormatError, KeypointInstance,
                      bbox_from_keypoints, read_keypoints)
from .formats import read_keypoint_names as _read_keypoint_names
from .keypoint_metainfo import (DEFAULT_SIGMA, build_pose_metainfo,
                                resolve_flip_pairs, resolve_per_keypoint)
from .org_animal_pose_dataset import (DatasetNotFoundError,
                                      EmptySelectionError)
from .splits import SplitOptionsMixin, select_image_ids
from .validation import SkipUndecodableMixin, check_labelled_keypoints

__all__ = ['CustomPoseKeypointDataset']


def _join(root: Optional[str], path: str) -> str:
    if osp.isabs(path) or not root:
        return path or (root or '')
    return osp.join(root, path) if path else root


def _annotation_path(data_root: Optional[str], ann_file: str) -> str:
    """``data_root/ann_file``, which must exist."""
    path = _join(data_root, ann_file)
    if not path or not osp.exists(path):
        raise DatasetNotFoundError(
            f'{path or "(empty)"}: no annotations there (data_root='
            f'{data_root!r}, ann_file={ann_file!r}); point data_root at a '
            'DeepLabCut project folder, or ann_file at its config.yaml, '
            'a SLEAP .slp/.pkg.slp or a COCO .json file')
    return path


def _data_prefix(value: Any) -> dict:
    """``dict(img=folder)`` from ``data_prefix``: None (``''``), a dict with
    ``img``, the folder itself, or the text of a dict (``"dict(img='x/')"``
    or ``"{'img': 'x/'}"``, as a shell passes it through ``--cfg-options``).

    Raises:
        ValueError: Anything else.
    """
    if value is None:
        return dict(img='')
    if isinstance(value, str) and value.strip().startswith(('dict(', '{')):
        try:
            node = ast.parse(value.strip(), mode='eval').body
            if isinstance(node, ast.Call) and not node.args and isinstance(
                    node.func, ast.Name) and node.func.id == 'dict':
                value = {k.arg: ast.literal_eval(k.value)
                         for k in node.keywords}
            else:
                value = ast.literal_eval(node)
        except (SyntaxError, ValueError):
            pass
    elif isinstance(value, str):  # --cfg-options data_prefix=images/
        return dict(img=value)
    if not isinstance(value, dict) or not isinstance(value.get('img'), str):
        raise ValueError("data_prefix: expected the image folder, e.g. "
                         "data_prefix=images/ or dict(img='images/'), got "
                         f'{value!r}')
    return dict(value)


@DATASETS.register_module()
class CustomPoseKeypointDataset(SplitOptionsMixin, SkipUndecodableMixin,
                                BaseCocoStyleDataset):
    """A user's own animals and body parts, read from a DeepLabCut project,
    a SLEAP file or a COCO keypoint file.

    The keypoint set is the file's own: its names (in the file's order),
    skeleton, and flip pairs; the mmpose metainfo (names, swap pairs,
    skeleton, colours, loss weights, OKS sigmas) is built from them at run
    time (:mod:`custom_pose.datasets.keypoint_metainfo`), so no metainfo
    file is written by hand. The readers are in
    :mod:`custom_pose.datasets.formats`.

    Each sample is one labelled animal (``data_mode='topdown'``) with the
    fields :class:`BaseCocoStyleDataset` produces (``bbox`` ``(1, 4)`` xyxy,
    ``keypoints`` ``(1, K, 2)``, ``keypoints_visible`` ``(1, K)``, ...) and
    ``raw_ann_info`` in COCO format, so mmpose's ``CocoMetric()`` (without
    ``ann_file``) and :class:`~custom_pose.evaluation.CustomPosePixelErrorMetric`
    evaluate on it. Boxes come from the file where it has them (COCO),
    otherwise from the labelled keypoints padded by ``bbox_margin``
    (:func:`~custom_pose.datasets.formats.bbox_from_keypoints`). Instances
    without a labelled keypoint are left out and counted in the summary.

    Args:
        ann_file (str): The annotations, relative to ``data_root``: a
            DeepLabCut project folder (``''``: ``data_root`` itself), its
            ``config.yaml`` or a ``CollectedData_*.csv`` / ``.h5``; a SLEAP
            ``.slp`` / ``.pkg.slp``; a COCO keypoint ``.json``. Defaults to
            ``''``.
        format (str, optional): ``'deeplabcut'``, ``'sleap'`` or ``'coco'``;
            by file type when None (default).
        data_root (str, optional): Root of ``ann_file``, ``data_prefix``,
            ``split_file`` and ``frames_dir``.
        data_prefix (dict | str, optional): COCO only: ``dict(img='images/')``
            (or just ``'images/'``), the folder of the images' ``file_name``
            (default: the JSON file's folder). DeepLabCut images are
            relative to the project, SLEAP images to the ``.slp`` file.
        frames_dir (str, optional): SLEAP only: where frames of media videos
            and embedded frames are written once as PNG. Defaults to
            ``<file>.frames/`` beside the file.
        category (str, optional): COCO only: the category to use.
        unique_bodyparts (str): DeepLabCut only: the ``uniquebodyparts`` of
            a multi-animal project (landmarks on no animal, filed under the
            individual ``single``). ``'instance'`` (default, as DeepLabCut
            keeps them): the keypoints are ``multianimalbodyparts +
            uniquebodyparts``, each individual is an instance labelled on
            its own body parts, and each frame's ``single`` labels are one
            more instance (``track='single'``) labelled on the unique body
            parts only, boxed like any keypoint-derived box. ``'drop'``: the
            keypoints are ``multianimalbodyparts`` and the unique body parts
            are left out (noted in the summary).
        flip_pairs (str | list): ``'auto'`` (default): the file's symmetries
            (SLEAP), else pairs derived from left/right naming
            (``left_ear``/``right_ear``, ``leftear``/``rightear``,
            ``L_Eye``/``R_Eye``, ``paw_l``/``paw_r``, ``LeftEar``/
            ``RightEar``; rules in
            :mod:`~custom_pose.datasets.keypoint_metainfo`); a list of name
            (or index) pairs; None for none.
        sigmas (float | list | dict, optional): OKS sigmas: one number, K
            numbers, or ``{name: sigma}``. Defaults to
            :data:`~custom_pose.datasets.keypoint_metainfo.DEFAULT_SIGMA`
            (0.1) for every keypoint.
        joint_weights (float | list | dict, optional): Loss weights, same
            forms. Defaults to 1.
        upper_body, lower_body (Sequence[str]): Keypoint names of the upper /
            lower half for ``RandomHalfBody``. Defaults to none (the
            transform then never applies).
        bbox_margin (float): Margin of keypoint-derived boxes, a fraction of
            the keypoints' extent on each side. Defaults to 0.1.
        bbox_min_size (float): Smallest side of a keypoint-derived box in
            pixels. Defaults to 16.
        dataset_name (str): mmpose's ``dataset_name``. Defaults to
            ``'custom_keypoints'``.
        split, split_ratio, split_seed, split_file, image_ids: The image
            selection shared with ``org_animal_pose_dataset``
            (:mod:`custom_pose.datasets.splits`). Image ids are the file's
            (COCO) or 1-based positions in reading order (DeepLabCut: rows
            of the ``labeled-data`` folders in name order; SLEAP: labelled
            frames). Defaults to ``'all'``, 0.9, 0. Where the seeded
            ``split='val'`` leaves no labelled image (a project of a few
            images), the dataset validates on the ``'train'`` images with a
            warning that the figures are training error.
        skip_undecodable (bool): If True, a training sample whose image
            cannot be loaded when it is drawn is skipped with a warning and
            another one is drawn; if False (default) it stops with an error
            naming the file. Needs ``CustomPoseLoadImage`` in the pipeline
            (the package's configs use it); never applies in ``test_mode``.
        metainfo: Not accepted: the metainfo comes from the data.
        data_mode, filter_cfg, indices, serialize_data, pipeline, test_mode,
        lazy_init, max_refetch, sample_interval: As in
            :class:`BaseCocoStyleDataset`.

    Raises:
        KeypointFormatError: An unusable file (one line naming the file and
            what to change).
        DatasetNotFoundError: ``ann_file`` does not exist.
        ValueError: Invalid arguments.
    """

    METAINFO: dict = dict()

    def __init__(self,
                 ann_file: str = '',
                 format: Optional[str] = None,
                 data_mode: str = 'topdown',
                 metainfo: Optional[dict] = None,
                 data_root: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 frames_dir: Optional[str] = None,
                 category: Optional[str] = None,
                 unique_bodyparts: str = DEFAULT_UNIQUE_BODYPARTS,
                 flip_pairs: Union[str, None, Sequence] = 'auto',
                 sigmas: Union[None, float, Sequence[float],
                               Mapping[str, float]] = None,
                 joint_weights: Union[None, float, Sequence[float],
                                      Mapping[str, float]] = None,
                 upper_body: Sequence[str] = (),
                 lower_body: Sequence[str] = (),
                 bbox_margin: float = 0.1,
                 bbox_min_size: float = 16.0,
                 dataset_name: str = 'custom_keypoints',
                 split: str = 'all',
                 split_ratio: float = DEFAULT_SPLIT_RATIO,
                 split_seed: int = 0,
                 split_file: Optional[str] = None,
                 image_ids: Optional[Sequence[int]] = None,
                 skip_undecodable: bool = False,
                 filter_cfg: Optional[dict] = None,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 pipeline: Optional[Sequence[Union[dict, Callable]]] = None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000,
                 sample_interval: int = 1) -> None:
        self.skip_undecodable = bool(skip_undecodable)
        if metainfo is not None:
            raise ValueError(
                f'metainfo: {self.__class__.__name__} builds its metainfo '
                'from the data; use flip_pairs=, sigmas=, joint_weights=, '
                'upper_body= / lower_body= instead')
        self._init_split(split, split_ratio, split_seed, split_file,
                         image_ids, data_root)
        for name, value in (('bbox_margin', bbox_margin),
                            ('bbox_min_size', bbox_min_size)):
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or value < 0:
                raise ValueError(f'{name}: expected a number >= 0, got '
                                 f'{value!r}')
        data_prefix = _data_prefix(data_prefix)
        self.format = format
        self.bbox_margin = float(bbox_margin)
        self.bbox_min_size = float(bbox_min_size)
        #: Counts logged when the annotations are loaded.
        self.summary: Dict[str, Any] = {}
        #: True where ``split='val'`` selected no labelled image and the
        #: dataset validates on the training images instead.
        self.validates_on_training_images = False

        path = _annotation_path(data_root, ann_file)
        self.annotations: KeypointAnnotations = read_keypoints(
            path,
            format=format,
            image_dir=_join(data_root, data_prefix['img'])
            if data_prefix['img'] else None,
            frames_dir=None if frames_dir is None else _join(
                data_root, frames_dir),
            category=category,
            unique_bodyparts=unique_bodyparts)
        annots = self.annotations
        names = annots.keypoint_names
        for what, given in (('upper_body', upper_body),
                            ('lower_body', lower_body)):
            unknown = [n for n in given if n not in names]
            if unknown:
                raise ValueError(f'{what}: {unknown} are not keypoints of '
                                 f'{annots.path} ({list(names)})')
        #: The left/right pairs in use, ``(i, j)`` with ``i < j``.
        self.flip_pairs = resolve_flip_pairs(names, flip_pairs,
                                             annots.flip_pairs)
        meta = build_pose_metainfo(
            names,
            skeleton=annots.skeleton,
            flip_pairs=self.flip_pairs,
            sigmas=resolve_per_keypoint(names, sigmas, DEFAULT_SIGMA,
                                        'sigmas'),
            joint_weights=resolve_per_keypoint(names, joint_weights, 1.0,
                                               'joint_weights'),
            upper_body=upper_body,
            lower_body=lower_body,
            dataset_name=dataset_name)

        super().__init__(
            ann_file=ann_file,
            data_mode=data_mode,
            metainfo=meta,
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
        self._metainfo['CLASSES'] = [
            dict(id=c['id'], name=c['name'], supercategory='animal',
                 keypoints=list(names),
                 skeleton=[[i + 1, j + 1] for i, j in annots.skeleton])
            for c in annots.categories
        ]
        if self.test_mode:
            # CocoMetric(ann_file=None) builds its ground truth from
            # raw_ann_info; the base class published ann_file, not COCO here.
            MessageHub.get_current_instance().update_info(
                f'{dataset_name}_ann_file', None)

    @staticmethod
    def read_keypoint_names(dataset_cfg: Mapping[str, Any]
                            ) -> Tuple[str, ...]:
        """The keypoint names a dataset config will have, read cheaply
        (``config.yaml``, the JSON categories, the SLEAP skeleton) without
        building the dataset.

        Raises:
            DatasetNotFoundError: ``data_root/ann_file`` does not exist.
            KeypointFormatError: The names cannot be read.
        """
        return _read_keypoint_names(
            _annotation_path(dataset_cfg.get('data_root'),
                             dataset_cfg.get('ann_file', '')),
            format=dataset_cfg.get('format'),
            category=dataset_cfg.get('category'),
            unique_bodyparts=dataset_cfg.get('unique_bodyparts',
                                             DEFAULT_UNIQUE_BODYPARTS))

    # ------------------------------------------------------------------
    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        """The selected images and their labelled instances (overrides the
        COCO loader)."""
        annots = self.annotations
        by_id = annots.image_by_id()
        images = {i: img.file_name for i, img in by_id.items()}
        img_ids = self._select_image_ids(images, annots.path,
                                         KeypointFormatError)
        if self._selects_nothing(img_ids):
            img_ids = self._validate_on_training_images(images)
        if self.sample_interval > 1:
            img_ids = [i for i in img_ids if i % self.sample_interval == 0]
        keep = set(img_ids)
        instance_list, dropped = [], 0
        for inst in annots.instances:
            if inst.image_id not in keep:
                continue
            if inst.num_keypoints == 0:
                dropped += 1
                continue
            img = by_id[inst.image_id]
            check_labelled_keypoints(
                inst.keypoints, inst.labelled,
                f'{annots.path}: image {img.file_name!r} instance {inst.id}',
                (img.width, img.height) if img.width else None,
                names=annots.keypoint_names, error=KeypointFormatError)
            instance_list.append(self._instance_info(by_id[inst.image_id],
                                                     inst))
        image_list = [
            dict(id=i, img_id=i, file_name=by_id[i].file_name,
                 img_path=by_id[i].path, width=by_id[i].width,
                 height=by_id[i].height) for i in img_ids
        ]
        self._log_summary(image_list, instance_list, dropped)
        if not instance_list:
            raise EmptySelectionError(
                f'{annots.path}: the selection split={self._split_desc()} '
                'leaves no instance with a labelled keypoint out of '
                f'{len(annots.instances)} in {len(annots.images)} images; '
                "label more frames, or use another split_ratio or split='all'"
            )
        return instance_list, image_list

    def _selects_nothing(self, img_ids: Sequence[int]) -> bool:
        """Whether the seeded ``split='val'`` leaves no image with a
        labelled instance (a project of a few images: ``split_ratio`` 0.9
        of 3 images puts all 3 into ``'train'``)."""
        if self.split != 'val' or self.split_file is not None or \
                self.image_ids is not None:
            return False
        keep = set(img_ids)
        return not any(inst.image_id in keep and inst.num_keypoints
                       for inst in self.annotations.instances)

    def _validate_on_training_images(self, images: Mapping[int, str]
                                     ) -> List[int]:
        """The ``'train'`` images in place of an empty ``'val'`` selection,
        with one warning that the figures measure training error."""
        img_ids = select_image_ids(images, 'train', self.split_ratio,
                                   self.split_seed, None, None,
                                   self.annotations.path, KeypointFormatError)
        self.validates_on_training_images = True
        print_log(
            f'{self.annotations.path}: split={self._split_desc()} leaves no '
            f'labelled image of {len(images)} for validation; validating on '
            f'the {len(img_ids)} training images instead, so the figures '
            'are training error, not held-out error (label more frames, or '
            'set split_ratio, split_file or split)',
            logger='current', level=logging.WARNING)
        return img_ids

    def _instance_info(self, img: Any, inst: KeypointInstance) -> dict:
        """Data info of one instance (BaseCocoStyleDataset's fields)."""
        size = (img.width, img.height) if img.width else None
        x1, y1, x2, y2 = inst.bbox or bbox_from_keypoints(
            inst.keypoints, inst.labelled, self.bbox_margin,
            self.bbox_min_size, size)
        area = (x2 - x1) * (y2 - y1)
        flat = np.concatenate(
            [inst.keypoints, inst.visibility[:, None].astype(np.float64)],
            axis=1).ravel().tolist()
        raw = dict(
            id=inst.id,
            image_id=inst.image_id,
            category_id=inst.category_id,
            bbox=[x1, y1, x2 - x1, y2 - y1],
            area=area,
            iscrowd=0,
            num_keypoints=inst.num_keypoints,
            keypoints=flat)
        return {
            'img_id': inst.image_id,
            'img_path': img.path,
            'bbox': np.array([[x1, y1, x2, y2]], dtype=np.float32),
            'bbox_score': np.ones(1, dtype=np.float32),
            'num_keypoints': inst.num_keypoints,
            'keypoints': inst.keypoints[None].astype(np.float32),
            'keypoints_visible':
            np.minimum(1, inst.visibility)[None].astype(np.float32),
            'area': np.array(area, dtype=np.float32),
            'iscrowd': 0,
            'segmentation': None,
            'id': inst.id,
            'category_id': np.array(inst.category_id),
            'track': inst.track,
            'raw_ann_info': raw,
        }

    def _log_summary(self, image_list: List[dict],
                     instance_list: List[dict], dropped: int) -> None:
        names = self.annotations.keypoint_names
        counts = np.zeros(len(names), dtype=np.int64)
        for d in instance_list:
            counts += d['keypoints_visible'][0].astype(np.int64)
        tracks = Counter(d['track'] for d in instance_list if d['track'])
        pairs = [f'{names[i]}<->{names[j]}' for i, j in self.flip_pairs]
        self.summary = dict(
            images=len(image_list),
            instances=len(instance_list),
            labelled_per_keypoint=dict(zip(names, counts.tolist())),
            dropped_instances=dropped,
            tracks=dict(tracks),
            validates_on_training_images=self.validates_on_training_images,
            notes=list(self.annotations.notes))
        lines = [
            f'{self.__class__.__name__} summary ({self.annotations.path}, '
            f'{self.annotations.format}, split={self._split_desc()}'
            f'{", test_mode" if self.test_mode else ""}):',
            f'  images: {len(image_list)}, instances: {len(instance_list)}'
            + (f' ({len(tracks)} tracks)' if tracks else ''),
            f'  keypoints ({len(names)}), labelled instances each: ' +
            ', '.join(f'{n} {c}' for n, c in zip(names, counts.tolist())),
            '  flip pairs: ' + (', '.join(pairs) or 'none'),
        ]
        if dropped:
            lines.append(f'  instances dropped (no labelled keypoint): '
                         f'{dropped}')
        lines += [f'  note: {n}' for n in self.annotations.notes]
        print_log('\n'.join(lines), logger='current')
