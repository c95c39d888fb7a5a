"""CustomPoseKeypointDataset: metainfo from the data, flip pairs, splits,
boxes, COCO evaluation, and the model's keypoint count from the config."""
import os.path as osp
from dataclasses import replace

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from custom_pose.datasets import (CustomPoseKeypointDataset,
                                  DatasetNotFoundError, EmptySelectionError,
                                  KeypointCountError,
                                  KeypointFormatError, resolve_num_keypoints)
from custom_pose.datasets.formats import (bbox_from_keypoints, write_coco,
                                          write_sleap)
from custom_pose.datasets.keypoint_metainfo import (DEFAULT_SIGMA,
                                                    derive_flip_pairs,
                                                    keypoint_side,
                                                    mirror_keypoint_name,
                                                    resolve_flip_pairs)
from custom_pose.engine.hooks.keypoint_check_hook import (
    check_model_keypoints, predicted_channels)
from .keypoint_projects import (MOUSE_KEYPOINTS, SEVEN_KEYPOINTS,
                                dlc_project, synthetic_annotations)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = osp.join(REPO_ROOT, 'configs', 'animal',
                      'custom_res18_quickstart_synthetic_128x128.py')


@pytest.fixture(scope='module', autouse=True)
def mmpose_scope():
    init_default_scope('mmpose')


@pytest.fixture(scope='module')
def project(tmp_path_factory):
    """A DeepLabCut project: 10 images, 4 body parts of their own names."""
    root = tmp_path_factory.mktemp('dlc')
    src = synthetic_annotations(str(root / 'src'), num_images=10, seed=5,
                                occlusion_prob=0.0, truncation_prob=0.0)
    dlc_project(src, str(root / 'project'))
    return str(root / 'project')


# ---------------------------------------------------------------------------
# metainfo
# ---------------------------------------------------------------------------
def test_metainfo_is_built_from_the_project(project):
    ds = CustomPoseKeypointDataset(data_root=project, test_mode=True)
    meta = ds.metainfo
    assert meta['num_keypoints'] == 4
    assert [meta['keypoint_id2name'][i] for i in range(4)] == list(
        MOUSE_KEYPOINTS)
    assert meta['flip_indices'] == [0, 2, 1, 3]
    assert ds.flip_pairs == [(1, 2)]
    assert meta['skeleton_links'] == [(0, 1), (0, 2), (0, 3)]
    np.testing.assert_allclose(meta['sigmas'], [DEFAULT_SIGMA] * 4)
    np.testing.assert_allclose(meta['dataset_keypoint_weights'], [1.0] * 4)
    # left green, right orange, centre blue (mmpose's colours)
    assert meta['keypoint_colors'].tolist() == [[51, 153, 255], [0, 255, 0],
                                                [255, 128, 0],
                                                [51, 153, 255]]
    assert meta['upper_body_ids'] == [] and meta['lower_body_ids'] == []
    assert meta['CLASSES'] == [
        dict(id=1, name='animal', supercategory='animal',
             keypoints=list(MOUSE_KEYPOINTS),
             skeleton=[[1, 2], [1, 3], [1, 4]])
    ]
    assert ds.summary['images'] == 10 and ds.summary['instances'] == 10


def test_metainfo_options(project):
    ds = CustomPoseKeypointDataset(
        data_root=project, test_mode=True,
        flip_pairs=[('snout', 'spine_mid')],
        sigmas={'snout': 0.025}, joint_weights=[1, 2, 2, 1],
        upper_body=['snout', 'leftear', 'rightear'], lower_body=['spine_mid'],
        dataset_name='mice')
    meta = ds.metainfo
    assert meta['flip_indices'] == [3, 1, 2, 0]
    np.testing.assert_allclose(meta['sigmas'], [0.025, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(meta['dataset_keypoint_weights'],
                               [1, 2, 2, 1])
    assert meta['upper_body_ids'] == [0, 1, 2]
    assert meta['lower_body_ids'] == [3]
    assert meta['dataset_name'] == 'mice'
    assert CustomPoseKeypointDataset(
        data_root=project, test_mode=True,
        flip_pairs=None).metainfo['flip_indices'] == [0, 1, 2, 3]
    for bad, match in ((dict(flip_pairs=[('snout', 'tail')]), 'tail'),
                       (dict(flip_pairs=[(1, 1)]), 'once'),
                       (dict(flip_pairs=[(1, 2), (2, 3)]), 'once'),
                       (dict(sigmas=[0.1, 0.1]), '2 values for 4'),
                       (dict(sigmas={'tail': 0.1}), 'tail'),
                       (dict(joint_weights=-1), 'positive'),
                       (dict(lower_body=['tail']), 'tail'),
                       (dict(metainfo=dict(from_file='x.py')), 'flip_pairs=')):
        with pytest.raises(ValueError, match=match):
            CustomPoseKeypointDataset(data_root=project, test_mode=True,
                                      **bad)


@pytest.mark.parametrize('left,right', [
    ('left_ear', 'right_ear'), ('leftear', 'rightear'),
    ('LeftEar', 'RightEar'), ('L_Eye', 'R_Eye'), ('paw_l', 'paw_r'),
    ('ear_left', 'ear_right'), ('earLeft', 'earRight'),
    ('front-left-paw', 'front-right-paw'), ('LEFT_HIP', 'RIGHT_HIP'),
    ('L F Paw', 'R F Paw'), ('LEye', 'REye')
])
def test_flip_pairs_from_names(left, right):
    names = ['snout', right, 'tail', left]
    assert derive_flip_pairs(names) == [(1, 3)]
    assert keypoint_side(left) == 'left' and keypoint_side(right) == 'right'
    assert mirror_keypoint_name(left) == right
    assert mirror_keypoint_name(right) == left


def test_flip_pairs_need_both_names_and_one_marker():
    assert derive_flip_pairs(['leftear', 'snout']) == []
    assert derive_flip_pairs(['Rump', 'Lump', 'bright', 'tail']) == []
    assert derive_flip_pairs(['left_right_bar', 'right_left_bar']) == []
    assert keypoint_side('Rump') is None
    assert mirror_keypoint_name('left_right_bar') is None
    # the file's own pairs win over names under 'auto'; config pairs win
    names = ['left_ear', 'right_ear', 'a', 'b']
    assert resolve_flip_pairs(names, 'auto', [(2, 3)]) == [(2, 3)]
    assert resolve_flip_pairs(names, 'auto', None) == [(0, 1)]
    assert resolve_flip_pairs(names, [(3, 'a')], [(0, 1)]) == [(2, 3)]


def test_random_flip_maps_left_to_right(project):
    """mmpose's RandomFlip with the derived flip indices: the flipped
    sample's leftear is the mirrored rightear and vice versa."""
    ds = CustomPoseKeypointDataset(
        data_root=project,
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
        ])
    idx = next(i for i in range(len(ds))
               if ds.get_data_info(i)['keypoints_visible'][0, 1:3].all())
    orig = ds.get_data_info(idx)
    out = ds[idx]
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    w = out['img'].shape[1]
    kpts, vis = orig['keypoints'][0], orig['keypoints_visible'][0]
    flipped = out['keypoints'][0]
    for src, dst in ((1, 2), (2, 1), (0, 0), (3, 3)):
        np.testing.assert_allclose(flipped[dst],
                                   [w - 1 - kpts[src, 0], kpts[src, 1]],
                                   atol=1e-4)
        assert out['keypoints_visible'][0, dst] == vis[src]
    assert not np.allclose(flipped[1], [w - 1 - kpts[1, 0], kpts[1, 1]])


def test_sleap_symmetries_and_coco_boxes(tmp_path):
    src = synthetic_annotations(str(tmp_path / 'src'), num_images=4)
    write_sleap(replace(src, flip_pairs=((0, 3), )), str(tmp_path / 'a.slp'))
    ds = CustomPoseKeypointDataset(data_root=str(tmp_path),
                                   ann_file='a.slp', test_mode=True)
    assert ds.flip_pairs == [(0, 3)]
    assert ds.metainfo['flip_indices'] == [3, 1, 2, 0]

    boxed = replace(src, instances=[
        replace(i, bbox=(1.0, 2.0, 33.0, 44.0)) for i in src.instances])
    write_coco(boxed, str(tmp_path / 'ann.json'))
    ds = CustomPoseKeypointDataset(data_root=str(tmp_path),
                                   ann_file='ann.json', test_mode=True)
    assert ds.flip_pairs == [(1, 2)]  # derived from the names
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['bbox'], [[1, 2, 33, 44]])
    assert info['raw_ann_info']['bbox'] == [1.0, 2.0, 32.0, 42.0]
    assert info['raw_ann_info']['area'] == 32.0 * 42.0


# ---------------------------------------------------------------------------
# boxes, splits
# ---------------------------------------------------------------------------
def test_bbox_from_keypoints_by_hand():
    pts = np.array([[10.0, 20.0], [30.0, 60.0], [99.0, 99.0]])
    labelled = np.array([True, True, False])
    # tight 20 x 40, margin 0.1 * 40 = 4 on every side
    assert bbox_from_keypoints(pts, labelled, 0.1, 16) == (6.0, 16.0, 34.0,
                                                          64.0)
    # one keypoint (5, 15): grows to 16 x 16, then clipped to the image
    assert bbox_from_keypoints(pts[:1] - 5, labelled[:1], 0.1, 16,
                               (100, 100)) == (0.0, 7.0, 13.0, 23.0)


def test_boxes_from_keypoints_in_data_infos(project):
    ds = CustomPoseKeypointDataset(data_root=project, bbox_margin=0.25,
                                   bbox_min_size=0, test_mode=True)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        vis = info['keypoints_visible'][0] > 0
        pts = info['keypoints'][0][vis]
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.25 * (hi - lo).max()
        want = np.clip(np.concatenate([lo - pad, hi + pad]), 0, 64)
        np.testing.assert_allclose(info['bbox'][0], want, atol=1e-3)


def test_splits_match_org_animal_pose_options(project, tmp_path):
    kw = dict(data_root=project, split_ratio=0.7, split_seed=3)
    train = CustomPoseKeypointDataset(split='train', **kw)
    val = CustomPoseKeypointDataset(split='val', test_mode=True, **kw)
    ids_t = {train.get_data_info(i)['img_id'] for i in range(len(train))}
    ids_v = {val.get_data_info(i)['img_id'] for i in range(len(val))}
    assert len(ids_t) == 7 and len(ids_v) == 3 and not ids_t & ids_v
    assert ids_t | ids_v == set(range(1, 11))
    # the same seed and ratio give the same split
    again = CustomPoseKeypointDataset(split='train', **kw)
    assert {again.get_data_info(i)['img_id']
            for i in range(len(again))} == ids_t

    (tmp_path / 'val.txt').write_text('# held out\n2\n9\n')
    ds = CustomPoseKeypointDataset(data_root=project,
                                   split_file=str(tmp_path / 'val.txt'))
    assert sorted(ds.get_data_info(i)['img_id']
                  for i in range(len(ds))) == [2, 9]
    ds = CustomPoseKeypointDataset(data_root=project, image_ids=[4])
    assert ds.get_data_info(0)['img_path'] == ds.annotations.images[3].path
    with pytest.raises(KeypointFormatError) as err:
        CustomPoseKeypointDataset(data_root=project, image_ids=[4, 77])
    assert 'image_ids' in str(err.value) and '[77]' in str(err.value)
    with pytest.raises(ValueError, match='split_file'):
        CustomPoseKeypointDataset(data_root=project, split='val',
                                  image_ids=[4])
    with pytest.raises(EmptySelectionError, match='label more frames'):
        CustomPoseKeypointDataset(data_root=project, image_ids=[])


def test_missing_annotations(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        CustomPoseKeypointDataset(data_root=str(tmp_path),
                                  ann_file='labels.slp')
    msg = str(err.value)
    assert '\n' not in msg
    assert msg.startswith(f'{tmp_path}/labels.slp: no annotations there')
    assert 'point data_root at a DeepLabCut project folder' in msg
    # the same error where the tools read the keypoint names of a config
    with pytest.raises(DatasetNotFoundError) as err:
        resolve_num_keypoints(Config(dict(
            num_keypoints=None, train_dataloader=dict(dataset=dict(
                type='CustomPoseKeypointDataset',
                data_root=str(tmp_path / 'nowhere'), ann_file='')))))
    assert str(err.value).startswith(
        f"{tmp_path}/nowhere: no annotations there (data_root="
        f"'{tmp_path}/nowhere', ann_file='')")


# ---------------------------------------------------------------------------
# evaluation with mmpose's CocoMetric on the dataset's own ground truth
# ---------------------------------------------------------------------------
def _coco_ap(ds, shift):
    from mmpose.evaluation.metrics import CocoMetric
    metric = CocoMetric(ann_file=None)
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        gt = sample.gt_instances
        sample.pred_instances = InstanceData(
            keypoints=gt.keypoints + shift,
            keypoint_scores=np.ones(gt.keypoints.shape[:2], np.float32))
        metric.process([], [sample.to_dict()])
    return metric.evaluate(len(ds))['coco/AP']


def test_coco_metric_uses_the_datasets_ground_truth(project):
    ds = CustomPoseKeypointDataset(
        data_root=project, test_mode=True,
        pipeline=[dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                  dict(type='PackPoseInputs')])
    assert _coco_ap(ds, 0.0) == pytest.approx(1.0)
    assert _coco_ap(ds, 6.0) < 0.5


# ---------------------------------------------------------------------------
# the head follows the dataset
# ---------------------------------------------------------------------------
def _custom_cfg(project, **head):
    cfg = Config.fromfile(QUICKSTART)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset = dict(
            type='CustomPoseKeypointDataset', data_root=project,
            pipeline=cfg[key].dataset.pipeline)
    cfg.num_keypoints = None
    cfg.model.head.out_channels = None
    cfg.model.head.update(head)
    return cfg


def test_resolve_num_keypoints_fills_the_head(project):
    cfg = _custom_cfg(project)
    assert resolve_num_keypoints(cfg) == 4
    assert cfg.model.head.out_channels == 4 and cfg.num_keypoints == 4

    cfg = _custom_cfg(project, out_channels=20)
    with pytest.raises(KeypointCountError) as err:
        resolve_num_keypoints(cfg)
    msg = str(err.value)
    assert '\n' not in msg
    assert 'model.head.out_channels=20 (CustomPoseDeconvHead)' in msg
    assert f'{project}' in msg and '4 keypoints' in msg
    assert 'set model.head.out_channels=None' in msg

    cfg = _custom_cfg(project)
    cfg.val_dataloader.dataset = Config.fromfile(QUICKSTART).val_dataloader[
        'dataset']
    with pytest.raises(KeypointCountError, match='one keypoint set'):
        resolve_num_keypoints(cfg)

    # the Animal-Pose configs are left as they are (20 from the metainfo)
    cfg = Config.fromfile(QUICKSTART)
    assert resolve_num_keypoints(cfg) == 20
    assert cfg.model.head.out_channels == 20


def test_resolve_num_keypoints_hourglass_backbone(project):
    cfg = _custom_cfg(project)
    hourglass = Config.fromfile(osp.join(
        REPO_ROOT, 'configs', 'animal',
        'custom_hourglass2_animalpose_256x256.py')).model
    cfg.model.backbone = dict(hourglass.backbone, out_channels=None)
    cfg.model.head = dict(hourglass.head)
    assert resolve_num_keypoints(cfg) == 4
    assert cfg.model.backbone.out_channels == 4
    cfg.model.backbone.out_channels = 17
    with pytest.raises(KeypointCountError,
                       match=r'model.backbone.out_channels=17'):
        resolve_num_keypoints(cfg)
    cfg = _custom_cfg(project)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key] = None
    with pytest.raises(KeypointCountError, match='set the number'):
        resolve_num_keypoints(cfg)


@pytest.mark.parametrize('channels', [4, 20])
def test_check_model_keypoints(project, channels):
    from mmpose.registry import MODELS
    cfg = _custom_cfg(project, out_channels=channels)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.train()
    assert predicted_channels(model) == channels
    assert model.training  # the probe restores the mode
    ds = CustomPoseKeypointDataset(data_root=project, test_mode=True)
    if channels == 4:
        check_model_keypoints(model, ds.metainfo)
        return
    with pytest.raises(KeypointCountError) as err:
        check_model_keypoints(model, ds.metainfo, 'val dataset')
    msg = str(err.value)
    assert '\n' not in msg
    assert ('predicts 20 keypoints but the val dataset (custom_keypoints) '
            "has 4 ['snout', 'leftear', 'rightear', 'spine_mid']") in msg


def test_read_keypoint_names_from_config(project, tmp_path):
    assert CustomPoseKeypointDataset.read_keypoint_names(
        dict(data_root=project)) == tuple(MOUSE_KEYPOINTS)
    src = synthetic_annotations(str(tmp_path / 'src'),
                                keypoints=SEVEN_KEYPOINTS, num_images=2)
    write_coco(src, str(tmp_path / 'ann.json'))
    assert CustomPoseKeypointDataset.read_keypoint_names(
        dict(data_root=str(tmp_path), ann_file='ann.json',
             format='coco')) == tuple(SEVEN_KEYPOINTS)
