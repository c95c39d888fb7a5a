"""Test-time drawings of the predictions into image files
(``tools/test.py --show-dir``), with the demos' drawing code."""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from mmpose.registry import HOOKS


@HOOKS.register_module()
class CustomPoseVisualizationHook(Hook):
    """Draw each test image's predicted boxes and keypoints into a file.

    The test-time part of mmpose's ``PoseVisualizationHook`` (same
    arguments and file names), drawn with
    :class:`custom_pose.apis.PoseDrawer` in the dataset's colours instead of
    mmpose's ``PoseLocalVisualizer``, which fails on numpy 2 (mmpose 1.3.2).
    A relative ``out_dir`` lies in the run's ``<work_dir>/<timestamp>/``, as
    with mmpose's hook; image ``a.jpg`` is written as ``a_0.jpg``,
    ``a_1.jpg``, ... (one file per instance box the dataset gives).
    Validation draws nothing.

    Args:
        enable (bool): Draw at all. Defaults to False.
        interval (int): Unused (every test image is drawn, as by mmpose's
            hook); accepted so that mmpose's arguments carry over.
        kpt_thr (float): Minimum score of a drawn keypoint. Defaults to 0.3.
        out_dir (str, optional): Folder of the drawings; without one
            nothing is drawn.
        radius (int): Keypoint radius in pixels. Defaults to 3.
        thickness (int): Line thickness in pixels. Defaults to 1.
    """

    def __init__(self,
                 enable: bool = False,
                 interval: int = 50,
                 kpt_thr: float = 0.3,
                 out_dir: Optional[str] = None,
                 radius: int = 3,
                 thickness: int = 1) -> None:
        if out_dir is not None and not isinstance(out_dir, str):
            raise ValueError(f'out_dir must be a folder path, got {out_dir!r}')
        self.enable = bool(enable)
        self.interval = interval
        self.kpt_thr = float(kpt_thr)
        self.out_dir = out_dir
        self.radius = int(radius)
        self.thickness = int(thickness)
        self._folder: Optional[str] = None
        self._drawer = None
        self._written: Dict[str, int] = {}

    def before_test(self, runner) -> None:
        self._folder = None
        if not self.enable or self.out_dir is None:
            return
        from custom_pose.apis import PoseDrawer
        self._folder = osp.join(runner.work_dir, runner.timestamp,
                                self.out_dir)
        os.makedirs(self._folder, exist_ok=True)
        meta = runner.test_evaluator.dataset_meta or {}
        self._drawer = PoseDrawer(meta, meta['num_keypoints'],
                                  radius=self.radius,
                                  thickness=self.thickness,
                                  kpt_thr=self.kpt_thr)
        self._written = {}

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        if self._folder is None:
            return
        import cv2

        from custom_pose.apis import draw_bboxes
        from custom_pose.errors import CustomPoseError, InputError
        for sample in outputs or ():
            img_path = sample.get('img_path')
            img = cv2.imread(img_path, cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(f'--show-dir: cannot read image {img_path}')
            pred = sample.pred_instances
            if 'bboxes' in pred:
                boxes = np.asarray(pred.bboxes, np.float32).reshape(-1, 4)
                draw_bboxes(img, boxes, [''] * len(boxes))
            self._drawer.draw(img, np.asarray(pred.keypoints),
                              np.asarray(pred.keypoint_scores))
            name = osp.basename(img_path)
            stem, ext = osp.splitext(name)
            index = self._written.get(name, 0)
            self._written[name] = index + 1
            out_file = osp.join(self._folder, f'{stem}_{index}{ext}')
            if not cv2.imwrite(out_file, img):
                raise CustomPoseError(f'--show-dir: cannot write {out_file}')
