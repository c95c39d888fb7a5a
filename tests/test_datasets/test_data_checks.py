"""Bad data stops with one line naming it:
keypoints far outside their image, an image id given twice, and an image
file that exists but does not decode (or skipped with skip_undecodable)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from mmpose.datasets.transforms import GetBBoxCenterScale

from custom_pose.datasets import AnimalPoseFormatError, OrgAnimalPoseDataset
from custom_pose.datasets.animalpose_format import ORIGINAL_KEYPOINT_NAMES
from custom_pose.datasets.transforms import (CustomPoseLoadImage,
                                             ImageLoadError)
from custom_pose.datasets.validation import check_labelled_keypoints
from conftest import load_tool

from .conftest import IMG_H, IMG_W, write_json

PIPELINE = [CustomPoseLoadImage(), GetBBoxCenterScale()]


def _first_labelled(ann):
    return next(j for j, k in enumerate(ann['keypoints']) if k[2] > 0)


@pytest.mark.parametrize('value', [-500.0, 1e30, 3 * IMG_W])
def test_keypoint_far_outside_the_image(dataset_kwargs, animalpose_root,
                                        value):
    """-500 and 1e30 are refused (training on them gives an EPE of
    about 5e28)."""
    data = animalpose_root['data']
    ann = data['annotations'][3]
    j = _first_labelled(ann)
    y = ann['keypoints'][j][1]
    ann['keypoints'][j][0] = value
    path = write_json(Path(dataset_kwargs['data_root']) / 'bad.json', data)
    with pytest.raises(AnimalPoseFormatError) as err:
        OrgAnimalPoseDataset(**{**dataset_kwargs, 'ann_file': 'bad.json'})
    assert str(err.value) == (
        f'{path}: annotations[3] (image_id={ann["image_id"]}): labelled '
        f'keypoint {ORIGINAL_KEYPOINT_NAMES[j]!r} at ({value:g}, {y:g}) lies '
        f'more than one image size outside the {IMG_W}x{IMG_H} image '
        f'(allowed x in [-{IMG_W}, {2 * IMG_W}], y in [-{IMG_H}, '
        f'{2 * IMG_H}]); fix the annotation or mark the keypoint unlabelled '
        '(v=0)')


def test_keypoint_rule():
    """Finite and within one image size of a 100x50 image; unlabelled
    keypoints are not checked."""
    xy = np.array([[-100.0, -50.0], [200.0, 100.0], [50.0, 25.0],
                   [1e30, np.nan]])
    labelled = np.array([True, True, True, False])
    check_labelled_keypoints(xy, labelled, 'f: a', (100, 50))  # the limits
    check_labelled_keypoints(xy[:3] * 5, labelled[:3], 'f: a')  # no size
    with pytest.raises(ValueError, match=r"f: a: labelled keypoint 1 at "
                       r"\(200.5, 100\) lies more than one image size"):
        check_labelled_keypoints(xy + [[0, 0], [0.5, 0], [0, 0], [0, 0]],
                                 labelled, 'f: a', (100, 50))
    with pytest.raises(AnimalPoseFormatError,
                       match=r"'tail' at \(inf, 3\) is not a finite number"):
        check_labelled_keypoints(
            np.array([[np.inf, 3.0]]), np.array([True]), 'f: a',
            names=['tail'], error=AnimalPoseFormatError)


def test_image_id_given_twice(dataset_kwargs, animalpose_root):
    """Two files under one id: JSON keeps the last, and the first image's
    labels would land on the second image's pixels."""
    data = animalpose_root['data']
    text = json.dumps(data, indent=1)
    first = '"100": "img_0100.jpg"'
    assert first in text
    text = text.replace(first, first + ',\n  "100": "img_0101.jpg"')
    path = Path(dataset_kwargs['data_root']) / 'dup.json'
    path.write_text(text)
    with pytest.raises(AnimalPoseFormatError) as err:
        OrgAnimalPoseDataset(**{**dataset_kwargs, 'ann_file': 'dup.json'})
    assert str(err.value) == (
        f'{path}: key "100" is given twice in one object (lines 3, 4), first '
        'as "img_0100.jpg", then as "img_0101.jpg"; JSON keeps only the last '
        'one. In "images" this is one image id for two files: give every '
        'image its own id')
    # any other JSON (a COCO file read by the same loader): no such hint
    from custom_pose.datasets.animalpose_format import load_json
    coco = path.parent / 'coco.json'
    coco.write_text('{"annotations": [{"id": 1, "id": 2}]}')
    with pytest.raises(AnimalPoseFormatError) as err:
        load_json(str(coco))
    assert str(err.value) == (
        f'{coco}: key "id" is given twice in one object (lines 1, 1), first '
        'as 1, then as 2; JSON keeps only the last one.')


def _break_image(root: Path, data, content: bytes) -> str:
    name = data['images']['101']  # image 101 holds two cats
    (root / 'images' / name).write_bytes(content)
    return str(root / 'images' / name)


def _samples_of(ds, path):
    return [i for i in range(len(ds)) if ds.get_data_info(i)['img_path']
            == path]


@pytest.mark.parametrize('content,problem', [
    (b'\xff\xd8\xff\xe0 not really a jpeg' * 3,
     r'exists \(66 bytes\) but does not decode as an image \(truncated or '
     r'not an image file\)'),
    (b'', r'is empty \(0 bytes\)'),
])
def test_undecodable_image_named(dataset_kwargs, animalpose_root, content,
                                 problem):
    root = Path(dataset_kwargs['data_root'])
    path = _break_image(root, animalpose_root['data'], content)
    ds = OrgAnimalPoseDataset(**dataset_kwargs, pipeline=PIPELINE)
    idx = _samples_of(ds, path)[0]
    with pytest.raises(ImageLoadError) as err:
        ds[idx]
    assert re.fullmatch(
        rf'image file {re.escape(path)} {problem}; replace the file or '
        'remove its annotations, or set skip_undecodable=True on the '
        'training dataset to skip such images with a warning',
        str(err.value)), str(err.value)
    assert 'check whether the file exists' not in str(err.value)


def test_skip_undecodable(dataset_kwargs, animalpose_root):
    root = Path(dataset_kwargs['data_root'])
    path = _break_image(root, animalpose_root['data'], b'garbage' * 10)
    ds = OrgAnimalPoseDataset(
        **dataset_kwargs, pipeline=PIPELINE, skip_undecodable=True)
    broken = _samples_of(ds, path)
    assert len(broken) == 2
    with pytest.warns(UserWarning, match='skipping a sample') as record:
        samples = [ds[i] for i in broken * 2]
    assert len(record) == 1  # once per image
    assert str(record[0].message).endswith(
        f'image file {path} exists (70 bytes) but does not decode as an image '
        '(truncated or not an image file)')  # no hint to set the option
    # another sample, of another image, was drawn in each one's place
    assert all(s['img_path'] != path and s['img'].shape == (IMG_H, IMG_W, 3)
               for s in samples)

    # never in test mode: the evaluation would cover fewer images
    test_ds = OrgAnimalPoseDataset(**dataset_kwargs, pipeline=PIPELINE,
                                   skip_undecodable=True, test_mode=True)
    with pytest.raises(ImageLoadError, match='does not decode'):
        test_ds[_samples_of(test_ds, path)[0]]


def test_skip_undecodable_when_no_image_loads(dataset_kwargs,
                                              animalpose_root):
    root = Path(dataset_kwargs['data_root'])
    for image in (root / 'images').iterdir():
        image.write_bytes(b'x')
    ds = OrgAnimalPoseDataset(
        **dataset_kwargs, pipeline=PIPELINE, skip_undecodable=True)
    with pytest.warns(UserWarning), pytest.raises(ImageLoadError) as err:
        ds[0]
    assert str(err.value).startswith(
        f'none of the 7 images of OrgAnimalPoseDataset ({root}/keypoints.json'
        ') loads; the last: image file ')


# ---------------------------------------------------------------------------
# through tools/train.py: one line, also from a data-loader worker
# ---------------------------------------------------------------------------
def _train_tool():
    from test_train_tools import TRAIN
    return load_tool(TRAIN).main


def _train_args(config_path, data_root, work, *extra):
    from test_train_tools import QUICKSTART, _data_opts
    return [config_path(QUICKSTART), '--work-dir', str(work), '--no-validate',
            '--cfg-options', *_data_opts(data_root), 'train_cfg.max_epochs=1',
            *extra]


def _error_line(main, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 1, err[-2000:]
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert ': error: ' in lines[-1] and sum(': error: ' in x
                                            for x in lines) == 1, err[-2000:]
    return lines[-1]


def _copy_data(tiny_root, tmp_path):
    import shutil
    data = tmp_path / 'data'
    shutil.copytree(tiny_root, data)
    return data


def _first_train_sample(data):
    """Data info of the first sample of the train split the tools use."""
    return OrgAnimalPoseDataset(
        data_root=str(data), data_prefix=dict(img='images/'), split='train',
        split_ratio=0.5).get_data_info(0)


def test_train_tool_bad_keypoint(tmp_path, tiny_root, config_path, capsys):
    data = _copy_data(tiny_root, tmp_path)
    index = _first_train_sample(data)['id'] - 1  # ids: 1-based positions
    content = json.loads((data / 'keypoints.json').read_text())
    ann = content['annotations'][index]
    ann['keypoints'][_first_labelled(ann)][1] = -500.0
    (data / 'keypoints.json').write_text(json.dumps(content))
    line = _error_line(_train_tool(),
                       _train_args(config_path, data, tmp_path / 'w'), capsys)
    assert line.startswith(
        f'train.py: error: {data}/keypoints.json: annotations[{index}] '
        f'(image_id={ann["image_id"]}): labelled keypoint ')
    assert ', -500) lies more than one image size outside the 96x96 ' in line


def test_train_tool_bad_dataset_option(tmp_path, tiny_root, config_path,
                                       capsys):
    """A dataset option its class rejects (a ``ValueError`` raised when the
    train loop builds the data loader) is one line, not a traceback."""
    line = _error_line(_train_tool(), _train_args(
        config_path, tiny_root, tmp_path / 'w',
        'train_dataloader.dataset.split_ratio=1.0'), capsys)
    assert line == (
        'train.py: error: cannot build the data loader of '
        'org_animal_pose_dataset: ValueError: split_ratio: expected a number '
        'in (0, 1), got 1.0')


def test_train_tool_undecodable_image(tmp_path, tiny_root, config_path,
                                      capsys):
    """The error comes from a data-loader worker: still one line, the
    file named (torch re-raises it with the worker's traceback)."""
    data = _copy_data(tiny_root, tmp_path)
    for image in (data / 'images').iterdir():
        image.write_bytes(b'garbage')
    line = _error_line(_train_tool(), _train_args(
        config_path, data, tmp_path / 'w', 'train_dataloader.num_workers=1'),
        capsys)
    assert re.fullmatch(
        rf'train\.py: error: image file {re.escape(str(data))}/images/'
        r'synth_\d+\.jpg exists \(7 bytes\) but does not decode as an image '
        r'\(truncated or not an image file\); replace the file or remove its '
        r'annotations, or set skip_undecodable=True on the training dataset '
        'to skip such images with a warning', line), line


def test_train_tool_skip_undecodable(tmp_path, tiny_root, config_path):
    data = _copy_data(tiny_root, tmp_path)
    broken = _first_train_sample(data)['img_path']
    Path(broken).write_bytes(b'garbage')
    work = tmp_path / 'w'
    assert _train_tool()(_train_args(
        config_path, data, work,
        'train_dataloader.dataset.skip_undecodable=True')) == 0
    log = next(work.glob('*/*.log')).read_text()
    assert (f'skipping a sample (skip_undecodable=True): image file {broken} '
            'exists (7 bytes) but does not decode') in log
    assert (work / 'epoch_1.pth').is_file()


def test_custom_keypoint_dataset_shares_the_checks(tmp_path):
    """A keypoint far outside its image is one line naming the file, image
    and keypoint in CustomPoseKeypointDataset too, and skip_undecodable
    skips an image that does not decode."""
    import cv2

    from custom_pose.datasets import CustomPoseKeypointDataset
    from custom_pose.datasets.formats import KeypointFormatError

    (tmp_path / 'images').mkdir()
    for name in ('a.jpg', 'b.jpg'):
        cv2.imwrite(str(tmp_path / 'images' / name),
                    np.full((64, 96, 3), 127, np.uint8))
    coco = dict(
        images=[dict(id=1, file_name='images/a.jpg', width=96, height=64),
                dict(id=2, file_name='images/b.jpg', width=96, height=64)],
        annotations=[
            dict(id=i, image_id=i, category_id=1, iscrowd=0,
                 bbox=[10, 10, 40, 30], num_keypoints=2,
                 keypoints=[20, 20, 2, 40, 30, 2]) for i in (1, 2)],
        categories=[dict(id=1, name='mouse', keypoints=['nose', 'tail'],
                         skeleton=[[1, 2]])])
    ann = tmp_path / 'kp.json'
    ann.write_text(json.dumps(coco))
    pipeline = [CustomPoseLoadImage()]
    ds = CustomPoseKeypointDataset(ann_file=str(ann), data_root=str(tmp_path),
                                   pipeline=pipeline, skip_undecodable=True)
    (tmp_path / 'images' / 'b.jpg').write_bytes(b'not a jpeg')
    with pytest.warns(UserWarning, match='b.jpg'):
        samples = [ds[i] for i in range(len(ds))]
    assert all(s['img_path'].endswith('a.jpg') for s in samples)

    coco['annotations'][1]['keypoints'] = [20, 20, 2, -500, 30, 2]
    ann.write_text(json.dumps(coco))
    with pytest.raises(KeypointFormatError,
                       match=r"images/b.jpg.*'tail' at \(-500, 30\)"):
        CustomPoseKeypointDataset(ann_file=str(ann), data_root=str(tmp_path))
