"""CustomPosePCKMetric (hand-computed values) and mmpose's CocoMetric on
OrgAnimalPoseDataset ground truth (AP = 1 for perfect predictions)."""
import logging

import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from custom_pose.datasets import OrgAnimalPoseDataset
from custom_pose.evaluation import CustomPosePCKMetric
from mmpose.evaluation.metrics import CocoMetric
from mmpose.registry import METRICS

META = dict(keypoint_id2name={0: 'nose', 1: 'tail', 2: 'paw'})


def _sample(gt, pred, vis, bbox):
    return dict(
        gt_instances=dict(
            keypoints=np.array([gt], dtype=np.float32),
            keypoints_visible=np.array([vis], dtype=np.float32),
            bboxes=np.array([bbox], dtype=np.float32)),
        pred_instances=dict(
            keypoints=np.array([pred], dtype=np.float32),
            keypoint_scores=np.ones((1, len(gt)), dtype=np.float32)))


def _hand_built_samples():
    # instance A: box 100 x 50 -> size 100
    #   nose off by (3, 0) = 3 px  (0.03: correct at 0.05, 0.1, 0.2)
    #   tail off by (0, 8) = 8 px  (0.08: correct at 0.1, 0.2)
    #   paw  invisible, off by 500 px (ignored)
    a = _sample(
        gt=[[10, 10], [50, 20], [70, 30]],
        pred=[[13, 10], [50, 28], [570, 30]],
        vis=[1, 1, 0],
        bbox=[0, 0, 100, 50])
    # instance B: box 20 x 40 -> size 40
    #   nose off by (3, 4) = 5 px  (0.125: correct at 0.2 only)
    #   tail off by (6, 8) = 10 px (0.25: never correct)
    #   paw  off by (1, 0) = 1 px  (0.025: correct at all)
    b = _sample(
        gt=[[15, 20], [25, 30], [12, 40]],
        pred=[[18, 24], [31, 38], [13, 40]],
        vis=[1, 1, 1],
        bbox=[10, 10, 30, 50])
    return [a, b]


def test_pck_equals_hand_computed_values():
    records = []

    class _Grab(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    metric = METRICS.build(dict(type='CustomPosePCKMetric'))
    assert isinstance(metric, CustomPosePCKMetric)
    metric.dataset_meta = META
    metric.process([], _hand_built_samples())
    logger = MMLogger.get_current_instance()
    handler = _Grab()
    logger.addHandler(handler)
    try:
        result = metric.evaluate(size=2)
    finally:
        logger.removeHandler(handler)
    # 5 visible joints; correct: @0.05 {A.nose, B.paw}, @0.1 + A.tail,
    # @0.2 + B.nose; EPE = (3 + 8 + 5 + 10 + 1) / 5
    assert result == {
        'PCK@0.05': 2 / 5,
        'PCK@0.1': 3 / 5,
        'PCK@0.2': 4 / 5,
        'EPE': 27 / 5
    }
    per = metric.per_keypoint_results
    assert per['nose'] == {
        'count': 2, 'PCK@0.05': 0.5, 'PCK@0.1': 0.5, 'PCK@0.2': 1.0,
        'EPE': 4.0
    }
    assert per['tail'] == {
        'count': 2, 'PCK@0.05': 0.0, 'PCK@0.1': 0.5, 'PCK@0.2': 0.5,
        'EPE': 9.0
    }
    assert per['paw'] == {
        'count': 1, 'PCK@0.05': 1.0, 'PCK@0.1': 1.0, 'PCK@0.2': 1.0,
        'EPE': 1.0
    }
    table = '\n'.join(records)
    for row in ('| nose     |     2 |    50.00 |   50.00 |  100.00 |    4.00 |',
                '| all      |     5 |    40.00 |   60.00 |   80.00 |    5.40 |'):
        assert row in table, table


def test_pck_custom_thresholds_and_prefix():
    metric = CustomPosePCKMetric(thresholds=(0.1, 0.3), prefix='animal')
    metric.dataset_meta = META
    metric.process([], _hand_built_samples())
    result = metric.evaluate(size=2)
    # @0.3 everything visible is correct (worst is 0.25)
    assert result == {
        'animal/PCK@0.1': 3 / 5,
        'animal/PCK@0.3': 1.0,
        'animal/EPE': 27 / 5
    }
    with pytest.raises(ValueError, match='thresholds'):
        CustomPosePCKMetric(thresholds=(0.1, -0.2))


def _packed_test_samples(dataset_kwargs):
    init_default_scope('mmpose')
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='PackPoseInputs'),
    ]
    ds = OrgAnimalPoseDataset(
        **dataset_kwargs, pipeline=pipeline, test_mode=True)
    return ds, [ds[i]['data_samples'] for i in range(len(ds))]


def _with_predictions(samples, offset=0.0):
    out = []
    for k, sample in enumerate(samples):
        sample = sample.clone()
        kpts = sample.gt_instances.keypoints.copy()
        if offset:
            kpts = kpts + offset * (1 + k % 3)
        sample.pred_instances = InstanceData(
            keypoints=kpts,
            keypoint_scores=np.ones(kpts.shape[:2], dtype=np.float32))
        out.append(sample.to_dict())
    return out


def test_coco_metric_perfect_predictions_ap_1(dataset_kwargs):
    ds, samples = _packed_test_samples(dataset_kwargs)
    assert len({int(s.category_id) for s in samples}) == 3

    metric = CocoMetric(ann_file=None)
    metric.dataset_meta = ds.metainfo  # nothing published: uses raw_ann_info
    assert metric.coco is None
    metric.process([], _with_predictions(samples))
    result = metric.evaluate(size=len(samples))
    assert result['coco/AP'] == pytest.approx(1.0)
    assert result['coco/AR'] == pytest.approx(1.0)

    # the same metric notices wrong predictions
    metric = CocoMetric(ann_file=None)
    metric.dataset_meta = ds.metainfo
    metric.process([], _with_predictions(samples, offset=6.0))
    assert metric.evaluate(size=len(samples))['coco/AP'] < 0.9


def test_pck_on_dataset_samples(dataset_kwargs):
    ds, samples = _packed_test_samples(dataset_kwargs)
    metric = CustomPosePCKMetric()
    metric.dataset_meta = ds.metainfo
    metric.process([], _with_predictions(samples))
    result = metric.evaluate(size=len(samples))
    assert result == {'PCK@0.05': 1.0, 'PCK@0.1': 1.0, 'PCK@0.2': 1.0,
                      'EPE': 0.0}
    assert set(metric.per_keypoint_results) == set(
        ds.metainfo['keypoint_id2name'].values())
