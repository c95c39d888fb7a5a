# Copyright (c) custom_pose contributors. All rights reserved.
"""An mmdet 3.x detector for the demos: strict loading and single-frame
inference on BGR frames."""
import copy
import os.path as osp
from typing import Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from torch import nn

from custom_pose.errors import ModelConfigError, first_line
from custom_pose.utils.checkpoint import (load_checkpoint_file,
                                          load_state_dict_strict)
from custom_pose.utils.config import load_config
from .loading import check_device

__all__ = [
    'DEFAULT_DET_CONFIG', 'mmdet_config_path', 'init_detector_model',
    'DetectorInferencer'
]

#: mmdet's YOLOv3 (Darknet-53, 320x320, COCO) config, shipped inside the
#: installed mmdet package.
DEFAULT_DET_CONFIG = 'yolo/yolov3_d53_8xb8-320-273e_coco.py'


def mmdet_config_path(relative: str = DEFAULT_DET_CONFIG) -> str:
    """Absolute path of a config shipped inside the installed mmdet package
    (``mmdet/.mim/configs/<relative>``).

    Raises:
        ModelConfigError: If mmdet or the file is missing.
    """
    try:
        import mmdet
    except ImportError as exc:
        raise ModelConfigError(f'mmdet is not installed ({exc})') from None
    path = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', relative)
    if not osp.isfile(path):
        raise ModelConfigError(
            f'the mmdet package has no bundled config {relative} (looked for '
            f'{path}); pass a detector config explicitly')
    return path


def init_detector_model(config: Union[str, Config, None],
                        checkpoint: str,
                        device: Optional[str] = None) -> nn.Module:
    """Build an mmdet 3.x detector and load a checkpoint strictly.

    As mmdet's ``init_detector`` (backbone ``init_cfg`` dropped, SyncBN
    reverted); ``model.dataset_meta['classes']`` comes from the checkpoint,
    else COCO's 80 classes.

    Args:
        config (str | Config, optional): Detector config; ``None`` for
            mmdet's bundled YOLOv3 (:data:`DEFAULT_DET_CONFIG`).
        checkpoint (str): Local checkpoint file.
        device (str, optional): Defaults to :func:`default_device`.

    Raises:
        ModelConfigError, CheckpointError: As
            :func:`~custom_pose.apis.init_pose_model`.
    """
    import custom_pose  # noqa: F401  safe globals for torch.load

    if config is None:
        config = mmdet_config_path()
    config_name = config if isinstance(config, str) else 'the config'
    cfg = copy.deepcopy(load_config(config, what='detector config'))
    if not isinstance(cfg.get('model'), dict):
        raise ModelConfigError(
            f'detector config {config_name} has no `model`')
    if cfg.model.get('backbone', {}).get('init_cfg') is not None:
        cfg.model.backbone.init_cfg = None
    ckpt = load_checkpoint_file(checkpoint)

    import mmdet.models  # noqa: F401  registers the detectors
    from mmdet.evaluation import get_classes
    from mmdet.registry import MODELS as DET_MODELS
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet') or 'mmdet'):
        try:
            model = DET_MODELS.build(cfg.model)
        except Exception as exc:  # noqa: BLE001 - explained in one line
            raise ModelConfigError(
                f'cannot build the detector of {config_name}: '
                f'{first_line(exc)}') from None
    model = revert_sync_batchnorm(model)
    load_state_dict_strict(model, ckpt, checkpoint, None, config_name)

    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    classes = None
    if isinstance(meta.get('dataset_meta'), dict):
        classes = {k.lower(): v
                   for k, v in meta['dataset_meta'].items()}.get('classes')
    classes = classes or meta.get('CLASSES') or get_classes('coco')
    model.dataset_meta = dict(classes=tuple(classes))
    model.cfg = cfg
    model.to(check_device(device))
    model.eval()
    return model


class DetectorInferencer:
    """Single-image inference of an mmdet 3.x detector on BGR frames.

    The test pipeline is built once (image from an ndarray, annotation
    loading dropped), as mmdet's ``inference_detector`` does per call.

    Args:
        model (nn.Module): A detector from :func:`init_detector_model` (or
            mmdet's ``init_detector``).
    """

    def __init__(self, model: nn.Module) -> None:
        from mmcv.transforms import Compose
        from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
        import mmdet.datasets  # noqa: F401  registers the transforms

        self.model = model
        cfg = model.cfg
        pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        steps = []
        for i, t in enumerate(pipeline):
            ttype = t['type'] if isinstance(t['type'], str) else ''
            if 'LoadAnnotations' in ttype:
                continue
            if i == 0 and 'Load' in ttype:
                t = dict(type='LoadImageFromNDArray')
            steps.append(t)
        with DefaultScope.overwrite_default_scope('mmdet'):
            self.pipeline = Compose(
                [DET_TRANSFORMS.build(t) for t in steps])
        self.classes = tuple(model.dataset_meta['classes'])

    @torch.no_grad()
    def __call__(self,
                 img: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect objects in a BGR image.

        Returns:
            tuple: ``bboxes`` (M, 4) ``xyxy`` in image pixels, ``scores``
            (M,) and ``labels`` (M,) class indices into :attr:`classes`.
        """
        data = self.pipeline(dict(img=img, img_id=0))
        data['inputs'] = [data['inputs']]
        data['data_samples'] = [data['data_samples']]
        result = self.model.test_step(data)[0]
        inst = result.pred_instances
        return (inst.bboxes.float().cpu().numpy().reshape(-1, 4),
                inst.scores.float().cpu().numpy().reshape(-1),
                inst.labels.cpu().numpy().reshape(-1).astype(np.int64))
