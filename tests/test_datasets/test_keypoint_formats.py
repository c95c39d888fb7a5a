"""Readers and writers of DeepLabCut, SLEAP and COCO keypoint files."""
import csv
import os
import os.path as osp
import sys
from dataclasses import replace

import cv2
import numpy as np
import pytest
import yaml

from custom_pose.datasets.animalpose_format import (MMPOSE_KEYPOINT_NAMES,
                                                    ORIGINAL_KEYPOINT_NAMES)
from custom_pose.datasets.formats import (KeypointFormatError,
                                          atomic_output, detect_format,
                                          read_coco, read_deeplabcut,
                                          read_keypoint_names, read_sleap,
                                          write_coco, write_deeplabcut,
                                          write_sleap)
from custom_pose.datasets.formats.deeplabcut_tables import (
    read_csv_table, table_from_frame)
from .keypoint_projects import (MOUSE_KEYPOINTS, SEVEN_KEYPOINTS,
                                dlc_project, edit_dlc_csv,
                                synthetic_annotations)


@pytest.fixture(scope='module')
def mouse(tmp_path_factory):
    """Eight 64x64 synthetic images labelled with 4 keypoints of their own
    names (one animal each)."""
    return synthetic_annotations(str(tmp_path_factory.mktemp('mouse_src')))


@pytest.fixture(scope='module')
def herd(tmp_path_factory):
    """Six images with up to three animals each."""
    return synthetic_annotations(
        str(tmp_path_factory.mktemp('herd_src')), num_images=6, seed=3,
        max_animals=3)


def by_basename(img, annots):
    return osp.basename(img.path)


def by_position(img, annots):
    return annots.images.index(img)


def assert_same_instances(a, b, key=by_basename):
    """Same instances (keypoints, visibility, track), image by image; images
    are matched by ``key(image, annotations)``."""
    def grouped(annots):
        imgs = annots.image_by_id()
        out = {}
        for inst in annots.instances:
            out.setdefault(key(imgs[inst.image_id], annots), []).append(inst)
        return out

    assert len(a.images) == len(b.images)
    ga, gb = grouped(a), grouped(b)
    assert ga.keys() == gb.keys()
    for k in ga:
        assert len(ga[k]) == len(gb[k])
        for ia, ib in zip(ga[k], gb[k]):
            np.testing.assert_array_equal(ia.visibility > 0,
                                          ib.visibility > 0)
            np.testing.assert_allclose(ia.keypoints, ib.keypoints, atol=1e-9)
            assert ia.track == ib.track


def one_line_error(excinfo, *parts):
    msg = str(excinfo.value)
    assert '\n' not in msg, msg
    for part in parts:
        assert str(part) in msg, (part, msg)
    return msg


# ---------------------------------------------------------------------------
# DeepLabCut
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('index_columns', [1, 3])
def test_deeplabcut_single_animal_round_trip(mouse, tmp_path, index_columns):
    project = str(tmp_path / 'mouse-alice-2024-01-01')
    placed = dlc_project(mouse, project, index_columns=index_columns)
    csv_file = osp.join(project, 'labeled-data', 'video0',
                        'CollectedData_alice.csv')
    with open(csv_file, newline='') as f:
        rows = list(csv.reader(f))
    assert [r[0] for r in rows[:3]] == ['scorer', 'bodyparts', 'coords']
    assert rows[0][1:index_columns] == [''] * (index_columns - 1)
    if index_columns == 3:
        assert rows[3][:2] == ['labeled-data', 'video0']

    read = read_deeplabcut(project)
    assert read.format == 'deeplabcut'
    assert read.keypoint_names == ('snout', 'leftear', 'rightear',
                                   'spine_mid')
    # a body part no Animal-Pose name matches is a keypoint like any other
    assert 'spine_mid' not in MMPOSE_KEYPOINT_NAMES + ORIGINAL_KEYPOINT_NAMES
    assert read.skeleton == ((0, 1), (0, 2), (0, 3))
    assert read.flip_pairs is None  # DeepLabCut states no symmetries
    assert [img.file_name for img in read.images] == sorted(
        img.file_name for img in placed.images)
    assert all(osp.isfile(img.path) and (img.width, img.height) == (64, 64)
               for img in read.images)
    assert_same_instances(placed, read)
    assert all(i.visibility.max() == 2 for i in read.instances)

    # config.yaml, and the CSV alone (config.yaml found two folders up)
    assert_same_instances(read,
                          read_deeplabcut(osp.join(project, 'config.yaml')))
    one = read_deeplabcut(csv_file)
    assert one.keypoint_names == read.keypoint_names
    assert {i.file_name for i in one.images} == {
        i.file_name for i in read.images if '/video0/' in i.file_name}
    assert read_keypoint_names(project) == read.keypoint_names


def test_deeplabcut_csv_without_config(mouse, tmp_path):
    project = str(tmp_path / 'proj')
    dlc_project(mouse, project)
    os.remove(osp.join(project, 'config.yaml'))
    csv_file = osp.join(project, 'labeled-data', 'video1',
                        'CollectedData_alice.csv')
    read = read_deeplabcut(csv_file)
    assert read.keypoint_names == tuple(MOUSE_KEYPOINTS)
    assert read.skeleton == ()
    assert len(read.images) == 4
    assert all(img.path.startswith(project) for img in read.images)


def test_deeplabcut_multi_animal(herd, tmp_path):
    project = str(tmp_path / 'herd')
    placed = dlc_project(herd, project, scorer='bob', videos=1)
    counts = [sum(i.image_id == img.id for i in herd.instances)
              for img in herd.images]
    assert max(counts) > 1, 'the fixture needs an image with several animals'
    cfg = yaml.safe_load(open(osp.join(project, 'config.yaml')))
    assert cfg['multianimalproject'] is True
    assert cfg['bodyparts'] == 'MULTI!'
    assert cfg['multianimalbodyparts'] == list(MOUSE_KEYPOINTS)
    assert cfg['individuals'] == ['animal1', 'animal2', 'animal3'][:max(
        counts)]
    csv_file = osp.join(project, 'labeled-data', 'video0',
                        'CollectedData_bob.csv')
    rows = list(csv.reader(open(csv_file, newline='')))
    assert [r[0] for r in rows[:4]] == ['scorer', 'individuals', 'bodyparts',
                                       'coords']

    read = read_deeplabcut(project)
    tracked = [replace(i, track=f'animal{k}') for i, k in zip(
        placed.instances, _order_in_image(placed.instances))]
    assert_same_instances(replace(placed, instances=tracked), read)
    assert read.notes == []

    # with unique_bodyparts='drop', the unique body parts (individual
    # "single") are read past and noted (the default keeps them:
    # test_dlc_unique_bodyparts.py)
    cfg['uniquebodyparts'] = ['arena_corner']
    with open(osp.join(project, 'config.yaml'), 'w') as f:
        yaml.safe_dump(cfg, f)
    extra = [['bob', 'bob'], ['single', 'single'],
             ['arena_corner', 'arena_corner'], ['x', 'y']]
    rows = [r + (extra[k] if k < 4 else ['1.5', '2.5'])
            for k, r in enumerate(rows)]
    with open(csv_file, 'w', newline='') as f:
        csv.writer(f).writerows(rows)
    with_unique = read_deeplabcut(project, unique_bodyparts='drop')
    assert with_unique.keypoint_names == tuple(MOUSE_KEYPOINTS)
    assert_same_instances(read, with_unique)
    assert with_unique.notes == [
        "unique body parts ['arena_corner'] (not on any animal) left out"]


def _order_in_image(instances):
    seen = {}
    for inst in instances:
        seen[inst.image_id] = seen.get(inst.image_id, 0) + 1
        yield seen[inst.image_id]


@pytest.mark.parametrize('index_columns', [1, 3])
def test_deeplabcut_h5_table_matches_csv(mouse, tmp_path, index_columns):
    """The .h5 files hold the same DataFrame DeepLabCut writes as CSV; the
    DataFrame is read into the same table as the CSV."""
    import pandas as pd  # installed with sleap-io (the sleap extra)
    project = str(tmp_path / 'proj')
    dlc_project(mouse, project, index_columns=index_columns)
    csv_file = osp.join(project, 'labeled-data', 'video0',
                        'CollectedData_alice.csv')
    df = pd.read_csv(csv_file, header=[0, 1, 2],
                     index_col=list(range(index_columns)))
    from_csv = read_csv_table(csv_file)
    from_frame = table_from_frame(df, csv_file)
    assert from_frame.rows == from_csv.rows
    assert from_frame.bodyparts == from_csv.bodyparts
    assert from_frame.coords == from_csv.coords
    np.testing.assert_array_equal(np.isnan(from_frame.values),
                                  np.isnan(from_csv.values))
    np.testing.assert_allclose(np.nan_to_num(from_frame.values),
                               np.nan_to_num(from_csv.values))

    h5 = csv_file[:-4] + '.h5'
    try:
        import tables  # noqa: F401
    except ImportError:
        with open(h5, 'wb') as f:
            f.write(b'\x89HDF\r\n\x1a\n')
        with pytest.raises(KeypointFormatError) as err:
            read_deeplabcut(h5)
        one_line_error(err, h5, 'pip install pandas tables',
                       'CollectedData_*.csv')
    else:
        df.to_hdf(h5, key='df_with_missing', mode='w')
        os.remove(csv_file)
        from_h5 = read_deeplabcut(project)
        assert len(from_h5.images) == len(mouse.images)


# ---------------------------------------------------------------------------
# SLEAP
# ---------------------------------------------------------------------------
def test_sleap_round_trip(herd, tmp_path):
    src = replace(
        herd,
        flip_pairs=((1, 2), ),
        instances=[replace(i, track=f'mouse{k}') for i, k in zip(
            herd.instances, _order_in_image(herd.instances))])
    path = str(tmp_path / 'labels.slp')
    write_sleap(src, path)
    read = read_sleap(path)
    assert read.format == 'sleap'
    assert read.keypoint_names == tuple(MOUSE_KEYPOINTS)
    assert read.skeleton == src.skeleton
    assert read.flip_pairs == ((1, 2), )
    assert [osp.normpath(img.path) for img in read.images] == [
        osp.normpath(img.path) for img in src.images]
    assert_same_instances(src, read)
    assert sorted({i.track for i in read.instances}) == sorted(
        {i.track for i in src.instances})
    assert read_keypoint_names(path) == tuple(MOUSE_KEYPOINTS)
    # no symmetries in the file: None, so the dataset derives pairs
    write_sleap(replace(src, flip_pairs=None), path)
    assert read_sleap(path).flip_pairs is None


def test_sleap_package_with_embedded_frames(mouse, tmp_path):
    path = str(tmp_path / 'labels.pkg.slp')
    write_sleap(mouse, path, embed=True)
    frames = str(tmp_path / 'frames')
    read = read_sleap(path, frames_dir=frames)
    assert_same_instances(mouse, read, key=by_position)
    for img, src in zip(read.images, mouse.images):
        assert img.path.startswith(frames) and img.path.endswith('.png')
        got = cv2.imread(img.path).astype(np.float64)
        want = cv2.imread(src.path).astype(np.float64)
        assert got.shape == want.shape == (64, 64, 3)
        assert np.abs(got - want).mean() < 1.0
    # a second read uses the frames written the first time
    stamps = [os.stat(img.path).st_mtime_ns for img in read.images]
    again = read_sleap(path, frames_dir=frames)
    assert [img.path for img in again.images] == [i.path for i in read.images]
    assert [os.stat(i.path).st_mtime_ns for i in again.images] == stamps
    assert not [f for _, _, files in os.walk(frames) for f in files
                if '.tmp' in f]


def test_sleap_without_sleap_io_is_one_line(mouse, tmp_path, monkeypatch):
    path = str(tmp_path / 'labels.slp')
    write_sleap(mouse, path)
    monkeypatch.setitem(sys.modules, 'sleap_io', None)  # as if not installed
    with pytest.raises(KeypointFormatError) as err:
        read_sleap(path)
    one_line_error(err, path, 'sleap-io', "pip install -e '.[sleap]'")
    with pytest.raises(KeypointFormatError):
        read_keypoint_names(path)


# ---------------------------------------------------------------------------
# COCO
# ---------------------------------------------------------------------------
def test_coco_seven_keypoints_round_trip(tmp_path):
    src = synthetic_annotations(
        str(tmp_path / 'src'), keypoints=SEVEN_KEYPOINTS,
        skeleton=((0, 1), (0, 2), (0, 3), (3, 4), (4, 5), (3, 6)),
        num_images=5, seed=2)
    # a box from the file, and a labelled-but-occluded keypoint (v = 1)
    first = src.instances[0]
    labelled = np.flatnonzero(first.visibility)
    vis = first.visibility.copy()
    vis[labelled[0]] = 1
    src.instances[0] = replace(first, visibility=vis,
                               bbox=(1.0, 2.0, 40.5, 50.25))
    path = str(tmp_path / 'ann' / 'keypoints.json')
    write_coco(src, path)
    read = read_coco(path)
    assert read.keypoint_names == tuple(SEVEN_KEYPOINTS)
    assert len(read.keypoint_names) == 7
    assert read.skeleton == src.skeleton
    assert read.instances[0].bbox == (1.0, 2.0, 40.5, 50.25)
    assert read.instances[0].visibility[labelled[0]] == 1
    np.testing.assert_array_equal(read.instances[0].visibility, vis)
    assert_same_instances(src, read)
    assert [(i.width, i.height) for i in read.images] == [(64, 64)] * 5
    # boxes the writer derived from the keypoints are read back as given
    for inst in read.instances[1:]:
        x1, y1, x2, y2 = inst.bbox
        pts = inst.keypoints[inst.labelled]
        assert x1 <= pts[:, 0].min() and pts[:, 0].max() <= x2
        assert y1 <= pts[:, 1].min() and pts[:, 1].max() <= y2
    assert read_keypoint_names(path) == tuple(SEVEN_KEYPOINTS)


def test_detect_format(tmp_path):
    assert detect_format(str(tmp_path)) == 'deeplabcut'
    for name, fmt in (('config.yaml', 'deeplabcut'),
                      ('CollectedData_a.csv', 'deeplabcut'),
                      ('CollectedData_a.h5', 'deeplabcut'),
                      ('x.slp', 'sleap'), ('x.pkg.slp', 'sleap'),
                      ('x.json', 'coco')):
        assert detect_format(name) == fmt
    assert detect_format('x.txt', format='coco') == 'coco'
    with pytest.raises(KeypointFormatError) as err:
        detect_format('labels.txt')
    one_line_error(err, 'labels.txt', "format=")
    with pytest.raises(ValueError, match='format'):
        detect_format('x.json', format='dlc')


# ---------------------------------------------------------------------------
# Bad inputs: one line naming the file and what to change
# ---------------------------------------------------------------------------
@pytest.fixture
def project(mouse, tmp_path):
    path = str(tmp_path / 'proj')
    dlc_project(mouse, path)
    return path


def _edit_config(project, **changes):
    path = osp.join(project, 'config.yaml')
    cfg = yaml.safe_load(open(path))
    cfg.update(changes)
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f)
    return path


def test_bad_csv_body_parts_disagree_with_config(project):
    _edit_config(project,
                 bodyparts=['snout', 'leftear', 'rightear', 'tailbase'],
                 skeleton=[])
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    msg = one_line_error(err, 'CollectedData_alice.csv', 'config.yaml',
                         "missing in this file: ['tailbase']",
                         "not in config.yaml: ['spine_mid']")
    assert 'video0' in msg


def test_bad_row_points_at_missing_image(project):
    rows = list(csv.reader(open(osp.join(
        project, 'labeled-data', 'video1', 'CollectedData_alice.csv'))))
    gone = rows[4][0]
    os.remove(osp.join(project, gone))
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    one_line_error(err, 'video1/CollectedData_alice.csv', 'line 5',
                   repr(gone), 'restore the image or remove its row')


def test_bad_keypoint_name_used_twice(project, tmp_path, mouse):
    config = _edit_config(
        project, bodyparts=['snout', 'leftear', 'leftear', 'spine_mid'])
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    one_line_error(err, config, "['leftear'] used more than once")
    with pytest.raises(KeypointFormatError):
        read_keypoint_names(project)

    path = str(tmp_path / 'coco.json')
    write_coco(replace(mouse, keypoint_names=('a', 'b', 'a', 'c')), path)
    with pytest.raises(KeypointFormatError) as err:
        read_coco(path)
    one_line_error(err, path, "['a'] used more than once")


def test_bad_non_numeric_coordinate(project, tmp_path, mouse):
    def edit(rows):
        rows[3][5] = '12,5px'  # rightear x
    path = edit_dlc_csv(project, 'video0', edit)
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    one_line_error(err, path, 'line 4', 'column 6', 'rightear x',
                   "'12,5px' is not a number", 'leave the cell empty')

    coco = str(tmp_path / 'coco.json')
    write_coco(mouse, coco)
    import json
    data = json.load(open(coco))
    data['annotations'][1]['keypoints'][3] = 'x'
    json.dump(data, open(coco, 'w'))
    with pytest.raises(KeypointFormatError) as err:
        read_coco(coco)
    one_line_error(err, coco, 'annotations[1]', "keypoints[3] = 'x'")


def test_bad_multi_animal_file_in_single_animal_project(herd, tmp_path):
    project = str(tmp_path / 'herd')
    dlc_project(herd, project, videos=1)
    config = _edit_config(project, multianimalproject=False,
                          bodyparts=list(MOUSE_KEYPOINTS))
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    one_line_error(err, 'CollectedData_alice.csv', 'multi-animal file',
                   'multianimalproject')
    assert config.endswith('config.yaml')


def test_bad_project_without_labels(tmp_path):
    (tmp_path / 'labeled-data' / 'video0').mkdir(parents=True)
    (tmp_path / 'config.yaml').write_text(
        yaml.safe_dump(dict(bodyparts=['a', 'b'], scorer='me')))
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(str(tmp_path))
    one_line_error(err, str(tmp_path), 'no labeled-data/*/CollectedData_*',
                   'label frames first')


def test_bad_folder_without_config_yaml(tmp_path):
    """A folder that is not a project (e.g. the one above it): the same one
    line whether the names alone or the whole project are read."""
    (tmp_path / 'labeled-data').mkdir()
    for read in (read_deeplabcut, read_keypoint_names):
        with pytest.raises(KeypointFormatError) as err:
            read(str(tmp_path))
        one_line_error(err, f'{tmp_path}: no config.yaml in this folder',
                       'point ann_file at a DeepLabCut project folder')


def test_writers_are_all_or_nothing(mouse, tmp_path):
    # a bad image layout fails before anything is written
    with pytest.raises(ValueError, match='labeled-data/<video>/<image>'):
        write_deeplabcut(mouse, str(tmp_path / 'proj'))
    assert not (tmp_path / 'proj').exists() or not os.listdir(
        tmp_path / 'proj')
    # a failure in the middle of writing leaves neither file nor temp file
    out_dir = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with atomic_output() as out:
            out.write(str(out_dir / 'a.txt'), 'first')
            out.write(str(out_dir / 'b.txt'), b'second')
            raise RuntimeError('disk full')
    assert os.listdir(out_dir) == []
    with atomic_output() as out:
        out.write(str(out_dir / 'a.txt'), 'first')
    assert (out_dir / 'a.txt').read_text() == 'first'
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out_dir / 'a.txt').st_mode & 0o777 == 0o666 & ~umask
