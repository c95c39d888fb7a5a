"""tools/dataset_converters/{original2coco,coco2original}.py round trips and
tools/misc/browse_dataset.py."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from custom_pose.datasets import OrgAnimalPoseDataset
from conftest import load_tool

from .conftest import IMG_H, IMG_W, NUM_IMAGES, write_json

# mmpose's OpenCV visualizer calls int() on a 1-element array
pytestmark = pytest.mark.filterwarnings(
    'ignore:Conversion of an array with ndim > 0:DeprecationWarning')

KEYS = ('img_id', 'id', 'num_keypoints')
ARRAYS = ('keypoints', 'keypoints_visible', 'bbox', 'category_id')


def _infos(ds):
    return {
        int(ds.get_data_info(i)['id']): ds.get_data_info(i)
        for i in range(len(ds))
    }


def _assert_same_dataset(a, b, same_ids=True):
    """Same samples; ``same_ids=False`` for a file written from a subset
    (the original format has no annotation ids: they are positions)."""
    ia, ib = _infos(a), _infos(b)
    assert len(ia) == len(ib) and ia
    if same_ids:
        assert sorted(ia) == sorted(ib)
    for ka, kb in zip(sorted(ia), sorted(ib)):
        x, y = ia[ka], ib[kb]
        for key in KEYS:
            if key != 'id' or same_ids:
                assert x[key] == y[key], key
        for key in ARRAYS:
            np.testing.assert_array_equal(x[key], y[key])
        raw_x, raw_y = dict(x['raw_ann_info']), dict(y['raw_ann_info'])
        if not same_ids:
            raw_x.pop('id'), raw_y.pop('id')
        assert raw_x == raw_y
        assert x['img_path'] == y['img_path']


def test_round_trip_original_dataset_coco_original(dataset_kwargs, tmp_path):
    """original -> dataset -> COCO -> original -> dataset: same keypoints."""
    root = Path(dataset_kwargs['data_root'])
    first = OrgAnimalPoseDataset(**dataset_kwargs)
    coco_file = first.dump_coco_gt(str(tmp_path / 'coco.json'))

    coco2original = load_tool('tools/dataset_converters/coco2original.py')
    assert coco2original.main(
        [coco_file, str(root / 'round_trip.json')]) == 0
    second = OrgAnimalPoseDataset(**{
        **dataset_kwargs, 'ann_file': 'round_trip.json'
    })
    _assert_same_dataset(first, second)
    assert second.summary == first.summary

    # the original file itself comes back: same images, categories and
    # annotations (the release's keypoint order, v in {0, 1})
    original = json.loads((root / 'keypoints.json').read_text())
    back = json.loads((root / 'round_trip.json').read_text())
    assert back['images'] == original['images']
    assert [(c['id'], c['name'], c['keypoints'])
            for c in back['categories']] == [
                (c['id'], c['name'], c['keypoints'])
                for c in original['categories']
            ]
    assert back['annotations'] == original['annotations']


def test_original2coco_cli_matches_dataset_export(dataset_kwargs, tmp_path,
                                                  capsys):
    root = Path(dataset_kwargs['data_root'])
    original2coco = load_tool('tools/dataset_converters/original2coco.py')
    out = tmp_path / 'out' / 'val.json'
    assert original2coco.main([
        str(root / 'keypoints.json'),
        str(out), '--split', 'val', '--split-ratio', '0.5', '--categories',
        'cat', 'dog'
    ]) == 0
    assert 'wrote' in capsys.readouterr().out
    coco = json.loads(out.read_text())
    ds = OrgAnimalPoseDataset(
        **dataset_kwargs,
        split='val',
        split_ratio=0.5,
        categories=['cat', 'dog'])
    exported = ds.get_coco_gt()
    for key in ('images', 'annotations', 'categories'):
        assert coco[key] == exported[key], key
    # image sizes found next to the input
    assert all(img['width'] == IMG_W and img['height'] == IMG_H
               for img in coco['images'])
    assert {c['name'] for c in coco['categories']} == {'cat', 'dog'}

    # COCO -> original -> dataset again
    coco2original = load_tool('tools/dataset_converters/coco2original.py')
    assert coco2original.main([str(out), str(root / 'val_original.json')]) == 0
    again = OrgAnimalPoseDataset(**{
        **dataset_kwargs, 'ann_file': 'val_original.json'
    })
    _assert_same_dataset(ds, again, same_ids=False)


def test_converters_report_bad_input(dataset_kwargs, animalpose_root,
                                     tmp_path, capsys):
    root = Path(dataset_kwargs['data_root'])
    data = animalpose_root['data']
    data['annotations'][3]['keypoints'].pop()
    bad = write_json(root / 'bad.json', data)
    out = tmp_path / 'never.json'
    original2coco = load_tool('tools/dataset_converters/original2coco.py')
    with pytest.raises(SystemExit) as exc:
        original2coco.main([bad, str(out)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert 'bad.json' in err and 'annotations[3]' in err
    assert not out.exists()  # nothing half-written

    coco2original = load_tool('tools/dataset_converters/coco2original.py')
    (tmp_path / 'broken.json').write_text('[1, 2')
    with pytest.raises(SystemExit):
        coco2original.main([str(tmp_path / 'broken.json'), str(out)])
    assert 'broken.json' in capsys.readouterr().err
    assert not out.exists()


def test_browse_dataset_writes_images(dataset_kwargs, tmp_path):
    browse = load_tool('tools/misc/browse_dataset.py')
    out_dir = tmp_path / 'vis'
    assert browse.main([
        '--data-root', dataset_kwargs['data_root'], '--ann-file',
        'keypoints.json', '--output-dir',
        str(out_dir), '--max-images', '3'
    ]) == 0
    files = sorted(out_dir.iterdir())
    assert len(files) == 3
    src_dir = Path(dataset_kwargs['data_root']) / 'images'
    changed = 0
    for f in files:
        img = cv2.imread(str(f))
        assert img is not None and img.shape == (IMG_H, IMG_W, 3)
        src = cv2.imread(str(src_dir / f.name.split('_', 1)[1]))
        changed += int(np.abs(img.astype(int) - src.astype(int)).max() > 60)
    assert changed == 3  # something (skeleton, box) was drawn on each


def test_browse_dataset_from_config(dataset_kwargs, tmp_path):
    cfg = tmp_path / 'browse_cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['custom_pose'], "
        'allow_failed_imports=False)\n'
        "default_scope = 'mmpose'\n"
        'train_dataloader = dict(batch_size=1, dataset=dict(\n'
        "    type='OrgAnimalPoseDataset',\n"
        f"    data_root={dataset_kwargs['data_root']!r},\n"
        "    ann_file='keypoints.json', data_prefix=dict(img='images/'),\n"
        "    categories=['sheep'], pipeline=[]))\n")
    browse = load_tool('tools/misc/browse_dataset.py')
    out_dir = tmp_path / 'vis_cfg'
    assert browse.main([str(cfg), '--output-dir', str(out_dir)]) == 0
    # sheep live on two of the images
    assert len(list(out_dir.iterdir())) == 2
    assert NUM_IMAGES > 2
