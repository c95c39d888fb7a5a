"""OrgAnimalPoseDataset: loading by name, splits, filters, pipeline, errors."""
import json
import logging
import os.path as osp
from pathlib import Path

import numpy as np
import pytest
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import init_default_scope

import mmpose
from custom_pose.datasets import (MMPOSE_KEYPOINT_NAMES,
                                  ORIGINAL_KEYPOINT_NAMES,
                                  ORIGINAL_TO_MMPOSE_INDEX,
                                  ORIGINAL_TO_MMPOSE_NAME,
                                  AnimalPoseFormatError, OrgAnimalPoseDataset)
from custom_pose.datasets.splits import split_image_ids
from mmpose.registry import DATASETS
from .conftest import IMG_H, IMG_W, NUM_IMAGES, UNLABELLED, write_json


def _expected_instances(data):
    """Instances of the raw JSON with keypoints reordered to mmpose order,
    computed independently of the package (by name lookup)."""
    out = []
    for ann in data['annotations']:
        cat = next(c for c in data['categories']
                   if c['id'] == ann['category_id'])
        kpts = np.zeros((20, 3))
        for name, kp in zip(cat['keypoints'], ann['keypoints']):
            kpts[MMPOSE_KEYPOINT_NAMES.index(
                ORIGINAL_TO_MMPOSE_NAME[name])] = kp
        out.append((ann, kpts))
    return out


def _by_id(dataset):
    return {
        int(dataset[i]['id']): dataset.get_data_info(i)
        for i in range(len(dataset))
    }


def test_registered_and_metainfo(dataset_kwargs):
    for name in ('OrgAnimalPoseDataset', 'org_animal_pose_dataset'):
        assert DATASETS.get(name) is OrgAnimalPoseDataset
    meta_file = OrgAnimalPoseDataset.METAINFO['from_file']
    assert osp.isabs(meta_file) and osp.isfile(meta_file)
    assert meta_file.startswith(osp.dirname(osp.dirname(mmpose.__file__)))
    assert osp.basename(meta_file) == 'animalpose.py'
    ds = OrgAnimalPoseDataset(**dataset_kwargs)
    meta = ds.metainfo
    assert meta['dataset_name'] == 'animalpose'
    assert meta['num_keypoints'] == 20
    assert [meta['keypoint_id2name'][i]
            for i in range(20)] == list(MMPOSE_KEYPOINT_NAMES)
    # mmpose's flip pairs work unchanged: L_Eye <-> R_Eye, L_F_Paw <-> R_F_Paw
    assert meta['flip_indices'][0] == 1 and meta['flip_indices'][16] == 17
    assert len(meta['sigmas']) == 20
    assert [c['name'] for c in meta['CLASSES']] == ['dog', 'cat', 'sheep']


def test_name_tables():
    assert len(ORIGINAL_KEYPOINT_NAMES) == 20
    assert sorted(ORIGINAL_TO_MMPOSE_INDEX) == list(range(20))
    for i, name in enumerate(ORIGINAL_KEYPOINT_NAMES):
        assert MMPOSE_KEYPOINT_NAMES[ORIGINAL_TO_MMPOSE_INDEX[i]] == \
            ORIGINAL_TO_MMPOSE_NAME[name]
    assert ORIGINAL_TO_MMPOSE_NAME['left_ear'] == 'L_EarBase'
    assert ORIGINAL_TO_MMPOSE_NAME['tailbase'] == 'TailBase'


def test_load_fields_and_keypoints_by_name(animalpose_root, dataset_kwargs):
    ds = OrgAnimalPoseDataset(**dataset_kwargs)
    data = animalpose_root['data']
    n_ann = len(data['annotations'])
    assert len(ds) == n_ann - 1  # the unlabelled instance is left out
    infos = _by_id(ds)
    for ann_id, (ann, kpts) in enumerate(_expected_instances(data), start=1):
        if kpts[:, 2].sum() == 0:
            assert ann_id not in infos
            continue
        info = infos[ann_id]
        assert info['img_id'] == ann['image_id']
        assert info['img_path'] == osp.join(
            str(animalpose_root['root']), 'images',
            data['images'][str(ann['image_id'])])
        assert osp.isfile(info['img_path'])
        assert info['bbox'].dtype == np.float32
        assert info['bbox'].shape == (1, 4)
        np.testing.assert_array_equal(info['bbox'][0], ann['bbox'])
        np.testing.assert_array_equal(info['bbox_score'], [1.0])
        assert info['keypoints'].shape == (1, 20, 2)
        assert info['keypoints_visible'].shape == (1, 20)
        np.testing.assert_array_equal(info['keypoints'][0],
                                      kpts[:, :2].astype(np.float32))
        np.testing.assert_array_equal(info['keypoints_visible'][0],
                                      kpts[:, 2])
        assert info['num_keypoints'] == int(kpts[:, 2].sum())
        assert int(info['category_id']) == ann['category_id']
        raw = info['raw_ann_info']
        x1, y1, x2, y2 = ann['bbox']
        assert raw['bbox'] == [x1, y1, x2 - x1, y2 - y1]
        assert raw['area'] == (x2 - x1) * (y2 - y1)
        assert raw['iscrowd'] == 0 and raw['id'] == ann_id
        assert raw['image_id'] == ann['image_id']
        assert raw['category_id'] == ann['category_id']
        assert raw['num_keypoints'] == info['num_keypoints']
        flat = np.array(raw['keypoints']).reshape(20, 3)
        np.testing.assert_array_equal(flat[:, :2], kpts[:, :2])
        np.testing.assert_array_equal(flat[:, 2], kpts[:, 2] * 2)


def test_summary_logged_and_dropped_counted(dataset_kwargs):
    records = []

    class _Grab(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = _Grab()
    logger.addHandler(handler)
    try:
        ds = OrgAnimalPoseDataset(**dataset_kwargs)
    finally:
        logger.removeHandler(handler)
    summary = ds.summary
    assert summary['images'] == NUM_IMAGES
    assert summary['instances'] == len(ds)
    assert summary['dropped_instances'] == 1
    assert summary['dropped_per_category'] == dict(dog=1, cat=0, sheep=0)
    assert sum(summary['per_category'].values()) == len(ds)
    assert summary['labelled_keypoints'] == sum(
        int(ds.get_data_info(i)['num_keypoints']) for i in range(len(ds)))
    text = '\n'.join(records)
    assert 'OrgAnimalPoseDataset summary' in text
    assert f'instances: {len(ds)}' in text
    assert 'instances dropped (no labelled keypoint): 1' in text
    assert 'labelled keypoints:' in text and 'cat' in text


def test_permuted_names_load_identically(animalpose_root, dataset_kwargs):
    base = _by_id(OrgAnimalPoseDataset(**dataset_kwargs))
    data = animalpose_root['data']
    rng = np.random.RandomState(3)
    # every category lists the names in its own order (some in mmpose's
    # spelling); every annotation follows its category's order
    perms = {}
    for k, cat in enumerate(data['categories']):
        perm = rng.permutation(20)
        names = [cat['keypoints'][p] for p in perm]
        if k == 1:
            names = [ORIGINAL_TO_MMPOSE_NAME[n] for n in names]
        cat['keypoints'] = names
        perms[cat['id']] = perm
    for ann in data['annotations']:
        perm = perms[ann['category_id']]
        ann['keypoints'] = [ann['keypoints'][p] for p in perm]
    root = Path(dataset_kwargs['data_root'])
    write_json(root / 'permuted.json', data)
    perm_ds = OrgAnimalPoseDataset(
        **{
            **dataset_kwargs, 'ann_file': 'permuted.json'
        })
    permuted = _by_id(perm_ds)
    assert sorted(permuted) == sorted(base)
    for ann_id, info in base.items():
        for key in ('keypoints', 'keypoints_visible', 'bbox'):
            np.testing.assert_array_equal(permuted[ann_id][key], info[key])
        assert permuted[ann_id]['raw_ann_info'] == info['raw_ann_info']


def test_categories_filter(dataset_kwargs, animalpose_root):
    ds = OrgAnimalPoseDataset(**dataset_kwargs, categories=['cat'])
    cats = {int(ds.get_data_info(i)['category_id']) for i in range(len(ds))}
    assert cats == {2}
    n_cat = sum(1 for a in animalpose_root['data']['annotations']
                if a['category_id'] == 2)
    assert len(ds) == n_cat
    assert [c['name'] for c in ds.metainfo['CLASSES']] == ['cat']
    two = OrgAnimalPoseDataset(**dataset_kwargs, categories=['cat', 'sheep'])
    assert {int(two.get_data_info(i)['category_id'])
            for i in range(len(two))} == {2, 3}
    with pytest.raises(ValueError, match='zebra') as err:
        OrgAnimalPoseDataset(**dataset_kwargs, categories=['cat', 'zebra'])
    for name in ('dog', 'cat', 'sheep'):
        assert name in str(err.value)


def test_seeded_split(dataset_kwargs):

    def img_ids(**kw):
        ds = OrgAnimalPoseDataset(**dataset_kwargs, **kw)
        return {ds.get_data_info(i)['img_id'] for i in range(len(ds))}

    all_ids = img_ids()
    train = img_ids(split='train', split_ratio=0.5, split_seed=0)
    val = img_ids(split='val', split_ratio=0.5, split_seed=0)
    assert train and val and not (train & val)
    assert train | val == all_ids
    assert img_ids(split='train', split_ratio=0.5, split_seed=0) == train
    # other seeds give other splits (not all the same)
    others = [
        frozenset(img_ids(split='train', split_ratio=0.5, split_seed=s))
        for s in (1, 2, 3)
    ]
    assert any(o != frozenset(train) for o in others)
    # the split is drawn over all images, before the category filter
    cat_train = OrgAnimalPoseDataset(
        **dataset_kwargs, split='train', split_ratio=0.5, categories=['cat'])
    assert {cat_train.get_data_info(i)['img_id']
            for i in range(len(cat_train))} <= train
    # the library function: deterministic, disjoint, covering
    ids = list(range(1000, 1037))
    tr = split_image_ids(ids, 'train', 0.8, 7)
    va = split_image_ids(ids, 'val', 0.8, 7)
    assert tr == split_image_ids(list(reversed(ids)), 'train', 0.8, 7)
    assert len(tr) == round(0.8 * 37) and not set(tr) & set(va)
    assert sorted(tr + va) == ids
    with pytest.raises(ValueError, match='split'):
        OrgAnimalPoseDataset(**dataset_kwargs, split='test')
    with pytest.raises(ValueError, match='split_ratio'):
        OrgAnimalPoseDataset(**dataset_kwargs, split='train', split_ratio=1.5)


def test_explicit_image_ids_and_split_file(dataset_kwargs):
    root = Path(dataset_kwargs['data_root'])
    ds = OrgAnimalPoseDataset(**dataset_kwargs, image_ids=[101, 104])
    assert {ds.get_data_info(i)['img_id'] for i in range(len(ds))} == \
        {101, 104}
    (root / 'val.txt').write_text('# val images\n102\n\n107\n')
    ds = OrgAnimalPoseDataset(**dataset_kwargs, split_file='val.txt')
    assert {ds.get_data_info(i)['img_id'] for i in range(len(ds))} == \
        {102, 107}
    (root / 'val.json').write_text('[103]')
    ds = OrgAnimalPoseDataset(**dataset_kwargs, split_file='val.json')
    assert {ds.get_data_info(i)['img_id'] for i in range(len(ds))} == {103}
    (root / 'bad.txt').write_text('102\n999\n')
    with pytest.raises(AnimalPoseFormatError) as err:
        OrgAnimalPoseDataset(**dataset_kwargs, split_file='bad.txt')
    assert 'bad.txt' in str(err.value) and '999' in str(err.value)
    with pytest.raises(ValueError, match='split_file'):
        OrgAnimalPoseDataset(
            **dataset_kwargs, split='train', split_file='val.txt')


def test_training_pipeline_shapes(dataset_kwargs):
    init_default_scope('mmpose')
    codec = dict(
        type='MSRAHeatmap',
        input_size=(64, 64),
        heatmap_size=(16, 16),
        sigma=2)
    pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', direction='horizontal'),
        dict(type='TopdownAffine', input_size=codec['input_size']),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs'),
    ]
    ds = DATASETS.build(
        dict(type='org_animal_pose_dataset', pipeline=pipeline,
             **dataset_kwargs))
    for idx in (0, len(ds) - 1):
        out = ds[idx]
        assert tuple(out['inputs'].shape) == (3, 64, 64)
        sample = out['data_samples']
        assert tuple(sample.gt_fields.heatmaps.shape) == (20, 16, 16)
        weights = sample.gt_instance_labels.keypoint_weights
        assert tuple(weights.shape) == (1, 20)
        info = ds.get_data_info(idx)
        # every labelled keypoint lies inside its box, so inside the crop
        assert float(weights.sum()) == float(info['keypoints_visible'].sum())
        assert sample.gt_instances.keypoints.shape == (1, 20, 2)
        assert sample.ori_shape == (IMG_H, IMG_W)
        assert sample.raw_ann_info['id'] == info['id']
        assert int(sample.category_id) == int(info['category_id'])
        assert len(sample.flip_indices) == 20


def test_bottomup_mode_groups_images(dataset_kwargs, animalpose_root):
    ds = OrgAnimalPoseDataset(**dataset_kwargs, data_mode='bottomup')
    # the image whose only animal has no labelled keypoint is left out ...
    assert len(ds) == NUM_IMAGES - 1
    # ... except in test mode, where evaluation needs every image
    test_ds = OrgAnimalPoseDataset(
        **dataset_kwargs, data_mode='bottomup', test_mode=True)
    assert len(test_ds) == NUM_IMAGES
    info = next(
        ds.get_data_info(i) for i in range(len(ds))
        if ds.get_data_info(i)['img_id'] == 101)
    assert info['keypoints'].shape == (2, 20, 2)
    assert len(info['raw_ann_info']) == 2


def test_test_mode_publishes_no_coco_ann_file(dataset_kwargs):
    hub = MessageHub.get_current_instance()
    OrgAnimalPoseDataset(**dataset_kwargs, test_mode=True)
    assert hub.get_info('animalpose_ann_file', 'unset') is None


def test_bbox_file(dataset_kwargs, animalpose_root):
    root = Path(dataset_kwargs['data_root'])
    dets = [
        dict(image_id=100, bbox=[1, 2, 30, 20], score=0.9, category_id=18),
        dict(image_id=101, bbox=[3, 4, 10, 10], score=0.5, category_id=17),
        dict(image_id=101, bbox=[3, 4, 10, 10], score=0.5, category_id=1),
    ]
    write_json(root / 'dets.json', dets)
    ds = OrgAnimalPoseDataset(
        **dataset_kwargs,
        test_mode=True,
        bbox_file=str(root / 'dets.json'),
        det_category_map='coco')
    assert len(ds) == 2  # the person (COCO id 1) is dropped
    info = ds.get_data_info(0)
    np.testing.assert_array_equal(info['bbox'], [[1, 2, 31, 22]])
    np.testing.assert_allclose(info['bbox_score'], [0.9])
    assert int(info['category_id']) == 1  # dog
    assert int(ds.get_data_info(1)['category_id']) == 2  # cat
    assert info['keypoints'].shape == (1, 20, 2)
    with pytest.raises(ValueError, match='test_mode'):
        OrgAnimalPoseDataset(
            **dataset_kwargs, bbox_file=str(root / 'dets.json'))


def test_coco_gt_export(dataset_kwargs, tmp_path):
    ds = OrgAnimalPoseDataset(**dataset_kwargs, split='val', split_ratio=0.5)
    out = ds.dump_coco_gt(str(tmp_path / 'gt' / 'val.json'))
    gt = json.loads(Path(out).read_text())
    img_ids = {ds.get_data_info(i)['img_id'] for i in range(len(ds))}
    assert {img['id'] for img in gt['images']} >= img_ids
    assert all(img['width'] == IMG_W and img['height'] == IMG_H
               for img in gt['images'])
    raws = {
        ds.get_data_info(i)['raw_ann_info']['id']:
        ds.get_data_info(i)['raw_ann_info']
        for i in range(len(ds))
    }
    for ann in gt['annotations']:
        if ann['id'] in raws:
            assert ann == raws[ann['id']]
        else:  # only instances without labelled keypoints are left out
            assert ann['num_keypoints'] == 0
    assert gt['categories'][0]['keypoints'] == list(MMPOSE_KEYPOINT_NAMES)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------
def _write_bad(root: Path, data, name='bad.json'):
    return write_json(root / name, data)


def _build(dataset_kwargs, ann_file, **kw):
    return OrgAnimalPoseDataset(**{**dataset_kwargs, 'ann_file': ann_file},
                                **kw)


def test_malformed_json(dataset_kwargs):
    root = Path(dataset_kwargs['data_root'])
    (root / 'broken.json').write_text('{"images": {"1": "a.jpg"},')
    with pytest.raises(AnimalPoseFormatError) as err:
        _build(dataset_kwargs, 'broken.json')
    assert 'broken.json' in str(err.value)
    assert 'malformed JSON' in str(err.value)
    assert 'line 1' in str(err.value)


def test_missing_annotation_file(dataset_kwargs):
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        _build(dataset_kwargs, 'nowhere.json')


@pytest.mark.parametrize(
    'case, entry, fragment',
    [
        ('no_categories', 'top level', "missing key(s) ['categories']"),
        ('ann_without_bbox', 'annotations[2] (image_id=', "['bbox']"),
        ('short_keypoints', 'annotations[3] (image_id=', 'got 19'),
        ('bad_triplet', 'annotations[1] (image_id=', 'keypoints[4]'),
        ('xmax_le_xmin', 'annotations[4] (image_id=', 'xmax > xmin'),
        ('ymax_le_ymin', 'annotations[0] (image_id=', 'ymax > ymin'),
        ('unknown_image', 'annotations[5] (image_id=999)',
         'image_id 999 is not in "images"'),
        ('unknown_category', 'annotations[2] (image_id=',
         'category_id 42 is not in "categories"'),
        ('unknown_name', "categories[1] (name='cat')", "['left_nose']"),
        ('repeated_name', "categories[0] (name='dog')", 'more than once'),
        ('few_names', "categories[2] (name='sheep')", 'missing'),
        ('bad_image_key', "images['abc']", 'not an integer'),
    ])
def test_bad_input_names_file_and_entry(dataset_kwargs, animalpose_root,
                                        case, entry, fragment):
    data = animalpose_root['data']
    anns = data['annotations']
    if case == 'no_categories':
        del data['categories']
    elif case == 'ann_without_bbox':
        del anns[2]['bbox']
    elif case == 'short_keypoints':
        anns[3]['keypoints'] = anns[3]['keypoints'][:19]
    elif case == 'bad_triplet':
        anns[1]['keypoints'][4] = [1.0, 2.0]
    elif case == 'xmax_le_xmin':
        b = anns[4]['bbox']
        anns[4]['bbox'] = [b[0], b[1], b[0], b[3]]
    elif case == 'ymax_le_ymin':
        b = anns[0]['bbox']
        anns[0]['bbox'] = [b[0], b[1], b[2], b[1] - 1]
    elif case == 'unknown_image':
        anns[5]['image_id'] = 999
    elif case == 'unknown_category':
        anns[2]['category_id'] = 42
    elif case == 'unknown_name':
        data['categories'][1]['keypoints'][2] = 'left_nose'
    elif case == 'repeated_name':
        data['categories'][0]['keypoints'][1] = 'left_eye'
    elif case == 'few_names':
        data['categories'][2]['keypoints'] = data['categories'][2][
            'keypoints'][:18]
    elif case == 'bad_image_key':
        data['images']['abc'] = 'x.jpg'
    root = Path(dataset_kwargs['data_root'])
    ann_file = _write_bad(root, data, f'{case}.json')
    with pytest.raises(AnimalPoseFormatError) as err:
        _build(dataset_kwargs, f'{case}.json')
    msg = str(err.value)
    # one line for the tools: '<file>: <entry>: <what is wrong>'
    head = f'{ann_file}: {entry}'
    assert msg.startswith(head), msg
    assert fragment in msg[len(head):], msg
    assert '\n' not in msg, msg


def test_missing_images_error_and_skip(dataset_kwargs, animalpose_root):
    root = Path(dataset_kwargs['data_root'])
    names = sorted(animalpose_root['data']['images'].values())
    for name in names[:2]:
        (root / 'images' / name).unlink()
    with pytest.raises(AnimalPoseFormatError) as err:
        OrgAnimalPoseDataset(**dataset_kwargs)
    msg = str(err.value)
    assert 'keypoints.json' in msg and '2 image file(s) not found' in msg
    assert names[0] in msg and names[1] in msg
    assert 'skip_missing' in msg

    full = OrgAnimalPoseDataset(
        **dataset_kwargs, image_ids=[102, 103, 104, 105, 106, 107])
    with pytest.warns(UserWarning, match='skipping 2 image'):
        ds = OrgAnimalPoseDataset(**dataset_kwargs, skip_missing=True)
    img_ids = {ds.get_data_info(i)['img_id'] for i in range(len(ds))}
    # (image 105 holds only the animal without labelled keypoints)
    assert img_ids == {102, 103, 104, 106, 107}
    assert [ds.get_data_info(i)['id'] for i in range(len(ds))] == \
        [full.get_data_info(i)['id'] for i in range(len(full))]
    assert ds.summary['missing_images'] == 2


def test_many_missing_images_listed_first_few(dataset_kwargs,
                                              animalpose_root):
    data = animalpose_root['data']
    root = Path(dataset_kwargs['data_root'])
    _write_bad(root, data, 'moved.json')
    with pytest.raises(AnimalPoseFormatError) as err:
        OrgAnimalPoseDataset(**{
            **dataset_kwargs, 'ann_file': 'moved.json',
            'data_prefix': dict(img='elsewhere/')
        })
    msg = str(err.value)
    assert f'{NUM_IMAGES} image file(s) not found' in msg
    assert f'({NUM_IMAGES} in all)' in msg
    assert msg.count('elsewhere') == 5


def test_unlabelled_fixture_sanity(animalpose_root):
    # guards the fixture the tests above rely on
    i, j = UNLABELLED
    img_id = 100 + i
    anns = [
        a for a in animalpose_root['data']['annotations']
        if a['image_id'] == img_id
    ]
    assert all(k == [0, 0, 0] for k in anns[j]['keypoints'])
