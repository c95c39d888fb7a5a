"""CustomPosePixelErrorMetric against values computed by hand."""
import math

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from custom_pose.evaluation import CustomPosePixelErrorMetric
from mmpose.registry import METRICS

META = dict(keypoint_id2name={0: 'snout', 1: 'leftear', 2: 'tail_tip'})


def _sample(gt, pred, vis):
    return dict(
        gt_instances=dict(
            keypoints=np.array([gt], dtype=np.float32),
            keypoints_visible=np.array([vis], dtype=np.float32),
            bboxes=np.array([[0, 0, 100, 100]], dtype=np.float32)),
        pred_instances=dict(
            keypoints=torch.tensor([pred], dtype=torch.float32),
            keypoint_scores=torch.ones(1, len(gt))))


def _samples():
    # instance A: snout off by (3, 4) = 5 px, leftear by (0, 2) = 2 px,
    #             tail_tip unlabelled (off by 300 px, ignored)
    a = _sample(gt=[[10, 10], [20, 20], [0, 0]],
                pred=[[13, 14], [20, 22], [300, 0]], vis=[1, 1, 0])
    # instance B: snout off by (6, 8) = 10 px, leftear by (1, 0) = 1 px,
    #             tail_tip by (0, 12) = 12 px
    b = _sample(gt=[[50, 50], [60, 60], [70, 70]],
                pred=[[56, 58], [61, 60], [70, 82]], vis=[1, 1, 1])
    return [a, b]


def test_pixel_errors_equal_hand_computed_values():
    init_default_scope('mmpose')
    evaluator = Evaluator(
        METRICS.build(dict(type='CustomPosePixelErrorMetric',
                           thresholds=(5, 10.5))))
    evaluator.dataset_meta = META
    evaluator.process(_samples()[:1], [])
    evaluator.process(_samples()[1:], [])
    metrics = evaluator.evaluate(2)

    d = np.array([5.0, 2.0, 10.0, 1.0, 12.0])  # the 5 labelled keypoints
    assert metrics['px/mean'] == pytest.approx(d.mean())  # 6.0
    assert metrics['px/rmse'] == pytest.approx(math.sqrt((d**2).mean()))
    assert metrics['px/rmse'] == pytest.approx(math.sqrt(274 / 5))
    assert metrics['px/PCK@5'] == pytest.approx(2 / 5)  # d < 5: 2 and 1
    assert metrics['px/PCK@10.5'] == pytest.approx(4 / 5)
    assert metrics['px/mean/snout'] == pytest.approx(7.5)
    assert metrics['px/rmse/snout'] == pytest.approx(math.sqrt(62.5))
    assert metrics['px/mean/leftear'] == pytest.approx(1.5)
    assert metrics['px/mean/tail_tip'] == pytest.approx(12.0)
    assert metrics['px/rmse/tail_tip'] == pytest.approx(12.0)
    assert len(metrics) == 4 + 2 * 3

    metric = evaluator.metrics[0]
    assert metric.per_keypoint_results['snout']['count'] == 2
    assert metric.per_keypoint_results['tail_tip']['count'] == 1
    assert metric.per_keypoint_results['leftear']['PCK@5'] == 1.0


def test_without_per_keypoint_keys_and_never_visible_keypoint():
    metric = CustomPosePixelErrorMetric(per_keypoint=False, thresholds=3)
    metric.dataset_meta = META
    metric.process([], _samples()[:1])
    out = metric.evaluate(1)
    assert set(out) == {'px/mean', 'px/rmse', 'px/PCK@3'}
    assert out['px/mean'] == pytest.approx(3.5)
    assert out['px/PCK@3'] == pytest.approx(0.5)
    assert math.isnan(metric.per_keypoint_results['tail_tip']['mean'])
    assert metric.per_keypoint_results['tail_tip']['count'] == 0


def test_bad_arguments_and_shapes():
    with pytest.raises(ValueError, match='positive numbers of pixels'):
        CustomPosePixelErrorMetric(thresholds=(5, -1))
    with pytest.raises(ValueError, match='repeated'):
        CustomPosePixelErrorMetric(thresholds=(5, 5.0))
    metric = CustomPosePixelErrorMetric()
    bad = _sample(gt=[[1, 1], [2, 2], [3, 3]], pred=[[1, 1], [2, 2]],
                  vis=[1, 1, 1])
    with pytest.raises(ValueError, match='same keypoints'):
        metric.process([], [bad])


def test_metrics_summary_tables():
    from custom_pose.evaluation import format_metrics_summary
    metrics = {'coco/AP': 0.5, 'PCK@0.1': 0.75, 'px/mean': 2.0,
               'px/rmse': 2.5, 'px/PCK@5': 1.0, 'px/mean/snout': 1.0,
               'px/rmse/snout': 1.0, 'px/mean/tail_tip': 3.0,
               'px/rmse/tail_tip': float('nan'), 'data_time': 0.1}
    lines = format_metrics_summary(metrics).splitlines()
    assert lines[0] == 'Evaluation summary:'
    assert [c.strip() for c in lines[2].split('|')[1:-1]] == [
        'Keypoints', 'AP', 'PCK@0.1', 'mean(px)', 'RMSE(px)', 'px/PCK@5']
    assert [c.strip() for c in lines[4].split('|')[1:-1]] == [
        'all', '0.500', '0.750', '2.000', '2.500', '1.000']
    table = lines[lines.index('Pixel error per keypoint (image pixels):'):]
    rows = [[c.strip() for c in line.split('|')[1:-1]] for line in table
            if line.startswith('|')]
    assert rows == [['Keypoint', 'mean(px)', 'RMSE(px)'],
                    ['snout', '1.000', '1.000'], ['tail_tip', '3.000', '-'],
                    ['all', '2.000', '2.500']]
    assert format_metrics_summary({'data_time': 0.1}) == ''
