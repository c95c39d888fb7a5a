"""Train and evaluate on a user's own keypoints through mmengine's Runner
(the tools' runs are in test_custom_keypoint_tools.py): the model predicts
exactly the dataset's keypoints, and its pixel error is the predictions'."""
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import small_train_cfg
from custom_pose.datasets import (CustomPoseKeypointDataset,
                                  KeypointCountError, resolve_num_keypoints)
from .keypoint_projects import (MOUSE_KEYPOINTS, dlc_project,
                                synthetic_annotations)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CUSTOM = osp.join(REPO_ROOT, 'configs', 'custom',
                  'custom_res18_keypoints_128x128.py')


def custom_cfg(work_dir, data_root, ann_file='', out_channels=None):
    """The CPU config for your own keypoints, shrunk, with a prediction
    dump."""
    cfg = Config.fromfile(CUSTOM)
    small_train_cfg(cfg, data_root, work_dir, batch_size=4)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.ann_file = ann_file
    cfg.model.head.out_channels = out_channels
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    evaluator = list(cfg.test_evaluator) + [
        dict(type='CustomPoseDumpPredictions',
             out_file=osp.join(str(work_dir), 'predictions.json'))
    ]
    cfg.val_evaluator = evaluator
    cfg.test_evaluator = evaluator
    return cfg


def mean_pixel_error(predictions, dataset):
    """px/mean recomputed from the dumped predictions."""
    gt = {dataset.get_data_info(i)['id']: dataset.get_data_info(i)
          for i in range(len(dataset))}
    dists = []
    for rec in predictions:
        info = gt[rec['id']]
        vis = info['keypoints_visible'][0] > 0
        d = np.linalg.norm(np.array(rec['keypoints']) -
                           info['keypoints'][0], axis=-1)
        dists.extend(d[vis].tolist())
    return float(np.mean(dists))


@pytest.mark.slow
def test_train_and_evaluate_on_a_deeplabcut_project(tmp_path):
    src = synthetic_annotations(str(tmp_path / 'src'), num_images=16,
                                seed=11, image_size=(96, 96),
                                occlusion_prob=0.0, truncation_prob=0.0)
    project = str(tmp_path / 'mouse-alice')
    dlc_project(src, project)
    work_dir = tmp_path / 'work'
    cfg = custom_cfg(work_dir, project)
    cfg.train_dataloader.dataset.split_ratio = 0.75
    cfg.val_dataloader.dataset.split_ratio = 0.75
    cfg.test_dataloader.dataset.split_ratio = 0.75
    assert resolve_num_keypoints(cfg) == 4
    assert cfg.model.head.out_channels == 4

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3  # 12 training images, batch 4
    assert osp.isfile(work_dir / 'epoch_1.pth')
    metrics = runner.test()
    names = list(MOUSE_KEYPOINTS)
    for key in ['coco/AP', 'px/mean', 'px/rmse', 'px/PCK@5', 'px/PCK@10'] + [
            f'px/{m}/{n}' for m in ('mean', 'rmse') for n in names]:
        assert key in metrics and np.isfinite(metrics[key]), key
    assert metrics['px/rmse'] >= metrics['px/mean'] > 0

    preds = json.load(open(work_dir / 'predictions.json'))
    val = CustomPoseKeypointDataset(data_root=project, split='val',
                                    split_ratio=0.75, test_mode=True)
    assert len(preds) == len(val) == 4
    assert all(np.array(p['keypoints']).shape == (4, 2) and
               len(p['keypoint_scores']) == 4 for p in preds)
    assert runner.val_dataloader.dataset.metainfo['keypoint_id2name'] == \
        dict(enumerate(names))
    assert mean_pixel_error(preds, val) == pytest.approx(
        metrics['px/mean'], rel=1e-4)


@pytest.mark.slow
def test_runner_stops_on_a_head_of_another_keypoint_count(tmp_path):
    src = synthetic_annotations(str(tmp_path / 'src'), num_images=4)
    project = str(tmp_path / 'proj')
    dlc_project(src, project)
    cfg = custom_cfg(tmp_path / 'work', project, out_channels=20)
    cfg.train_dataloader.dataset.split = 'all'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(KeypointCountError) as err:
        runner.train()
    msg = str(err.value)
    assert '\n' not in msg
    assert 'predicts 20 keypoints but the train dataset' in msg
    assert "['snout', 'leftear', 'rightear', 'spine_mid']" in msg
    assert runner.iter == 0
    assert not list((tmp_path / 'work').glob('*.pth'))
