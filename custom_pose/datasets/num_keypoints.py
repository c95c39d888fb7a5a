"""The model's keypoint count taken from the dataset, at config time.

A config for the user's own keypoints leaves the count open::

    num_keypoints = None      # the dataset's
    model = dict(head=dict(type='CustomPoseDeconvHead',
                           out_channels=num_keypoints, ...))

and :func:`resolve_num_keypoints` (called by the tools right after loading
the config) reads the datasets' keypoint names cheaply (``config.yaml``,
the JSON categories, the SLEAP skeleton) and fills every open count. A
count written as a number that differs from the dataset's is one
:class:`~custom_pose.datasets.formats.KeypointCountError` naming both.
"""
from typing import Any, Dict, List, Mapping, Optional, Tuple

from mmengine.config import Config

from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS
from .custom_keypoint_dataset import CustomPoseKeypointDataset
from .formats import KeypointCountError

__all__ = ['resolve_num_keypoints', 'dataset_keypoint_names',
           'HEATMAP_BACKBONES']

_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: Head arguments that are the number of keypoints in mmpose's heads.
_HEAD_KEYS = ('out_channels', 'num_joints')
#: Backbones whose ``out_channels`` is the number of keypoints (they end in
#: heatmaps; the head only stacks their stages).
HEATMAP_BACKBONES: Tuple[str, ...] = ('CustomPoseHourglass', )


def dataset_keypoint_names(dataset_cfg: Mapping[str, Any]
                           ) -> Optional[Tuple[str, ...]]:
    """Keypoint names of a dataset config, without building the dataset.

    ``CustomPoseKeypointDataset`` reads them from its annotation file; other
    datasets from their ``metainfo`` (the config's or the class's). Dataset
    wrappers (``dict(type=..., dataset=...)``) are looked through.

    Returns:
        tuple[str] or None: None where the names cannot be known this way
        (e.g. a concatenation of datasets).
    """
    while isinstance(dataset_cfg.get('dataset'), Mapping):
        dataset_cfg = dataset_cfg['dataset']
    ds_type = dataset_cfg.get('type')
    cls = DATASETS.get(ds_type) if isinstance(ds_type, str) else ds_type
    if cls is None:
        return None
    if isinstance(cls, type) and issubclass(cls, CustomPoseKeypointDataset):
        return cls.read_keypoint_names(dataset_cfg)
    metainfo = dataset_cfg.get('metainfo') or getattr(cls, 'METAINFO', None)
    if not metainfo:
        return None
    meta = parse_pose_metainfo(dict(metainfo))
    return tuple(meta['keypoint_id2name'][i]
                 for i in range(meta['num_keypoints']))


def _source(dataset_cfg: Mapping[str, Any]) -> str:
    while isinstance(dataset_cfg.get('dataset'), Mapping):
        dataset_cfg = dataset_cfg['dataset']
    root, ann = dataset_cfg.get('data_root'), dataset_cfg.get('ann_file')
    where = '/'.join(str(p).rstrip('/') for p in (root, ann) if p)
    return f'{dataset_cfg.get("type")} ({where or "metainfo"})'


def _count_slots(cfg: Config) -> List[Tuple[str, dict, str, Any]]:
    """The model arguments that are the number of keypoints:
    ``(config key, dict, argument, type name)``."""
    model = cfg.get('model') or {}
    slots = []
    head = model.get('head') or {}
    slots += [(f'model.head.{k}', head, k, head.get('type'))
              for k in _HEAD_KEYS if k in head]
    backbone = model.get('backbone') or {}
    if 'out_channels' in backbone and (
            backbone.get('type') in HEATMAP_BACKBONES
            or backbone['out_channels'] is None):
        slots.append(('model.backbone.out_channels', backbone,
                      'out_channels', backbone.get('type')))
    return slots


def _fill_open(cfg: Config, k: int) -> None:
    """Set the open (None) keypoint counts of ``cfg`` to ``k``."""
    for _, d, arg, _ in _count_slots(cfg):
        if d[arg] is None:
            d[arg] = k
    if 'num_keypoints' in cfg and cfg.get('num_keypoints') is None:
        cfg.num_keypoints = k


def resolve_num_keypoints(cfg: Config,
                          num_keypoints: Optional[int] = None
                          ) -> Optional[int]:
    """Fill the open keypoint counts of ``cfg`` from its datasets.

    Sets ``model.head.out_channels`` / ``num_joints`` and, for the
    :data:`HEATMAP_BACKBONES`, ``model.backbone.out_channels`` where they are
    None, and a top-level ``num_keypoints = None`` (in place).

    Args:
        cfg (Config): The loaded config.
        num_keypoints (int, optional): The count when it is known without
            the datasets (a checkpoint's metainfo, for inference): the open
            counts become it and no dataset is read; counts given as numbers
            are left to the checkpoint's own check.

    Returns:
        int or None: The number of keypoints, None when no dataset's
        keypoints can be read and nothing is open.

    Raises:
        KeypointCountError: The train/val/test datasets disagree on their
            keypoints; a count given as a number differs from the dataset's;
            a count is open but no dataset says what it is.
    """
    if num_keypoints is not None:
        _fill_open(cfg, num_keypoints)
        return num_keypoints
    found: Dict[str, Tuple[Tuple[str, ...], str]] = {}
    for key in _LOADERS:
        loader = cfg.get(key)
        if not loader or not isinstance(loader.get('dataset'), Mapping):
            continue
        names = dataset_keypoint_names(loader['dataset'])
        if names is not None:
            found[key] = (names, _source(loader['dataset']))
    ref = next(iter(found.items()), None)
    for key, (names, source) in found.items():
        if names != ref[1][0]:
            raise KeypointCountError(
                f'{key}: {source} has keypoints {list(names)}, but {ref[0]} '
                f'{ref[1][1]} has {list(ref[1][0])}; train, val and test use '
                'one keypoint set')

    slots = _count_slots(cfg)
    open_keys = [key for key, d, arg, _ in slots if d[arg] is None]
    if 'num_keypoints' in cfg and cfg.get('num_keypoints') is None:
        open_keys.append('num_keypoints')
    if ref is None:
        if open_keys:
            raise KeypointCountError(
                f'{", ".join(open_keys)}: None means "the dataset\'s number '
                'of keypoints", but no train/val/test dataset of this config '
                'tells it; set the number in the config')
        return None
    names, source = ref[1]
    k = len(names)
    for key, d, arg, type_name in slots:
        if d[arg] is not None and d[arg] != k:
            raise KeypointCountError(
                f'{key}={d[arg]!r} ({type_name}) but {source} has {k} '
                f'keypoints {list(names)}; set {key}=None in the config to '
                'follow the dataset')
    _fill_open(cfg, k)
    return k
