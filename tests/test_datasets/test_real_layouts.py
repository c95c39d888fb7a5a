"""Keypoint files in the layouts the real tools write them.

- COCO skeletons with 1-based (standard COCO) and 0-based (mmpose's ATRW
  file) keypoint indices;
- SLEAP ``.slp`` files whose stored video (or image) paths point elsewhere,
  loaded from another working directory;
- DeepLabCut projects whose labels exist only as ``CollectedData_*.h5``,
  written by pandas as DeepLabCut writes them.

Every file is written here, at test time, by the real library (``json``,
sleap-io, OpenCV, pandas + PyTables) or the project's own writers.
"""
import json
import os
import os.path as osp
from typing import List, Sequence

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from custom_pose.datasets import CustomPoseKeypointDataset
from custom_pose.datasets.formats import KeypointFormatError, read_coco
from .keypoint_projects import dlc_project, synthetic_annotations

NAMES = ('snout', 'leftear', 'rightear')


@pytest.fixture(scope='module', autouse=True)
def mmpose_scope():
    init_default_scope('mmpose')


def one_line(excinfo, *parts) -> str:
    """The error's message, checked to be one line holding ``parts``."""
    msg = str(excinfo.value)
    assert '\n' not in msg, msg
    for part in parts:
        assert str(part) in msg, (part, msg)
    return msg


# ---------------------------------------------------------------------------
# COCO: the skeleton's index convention, decided per file
# ---------------------------------------------------------------------------
def write_coco_file(folder, skeleton: list) -> str:
    """A COCO keypoint file with 3 keypoints, two 32x24 images (written
    with OpenCV) and one annotation each; returns the JSON path."""
    os.makedirs(folder, exist_ok=True)
    images, anns = [], []
    for i in range(2):
        name = f'img{i}.png'
        cv2.imwrite(osp.join(folder, name), np.full((24, 32, 3), 60 * i,
                                                    np.uint8))
        images.append(dict(id=i + 1, file_name=name, width=32, height=24))
        anns.append(
            dict(id=10 + i, image_id=i + 1, category_id=1,
                 bbox=[2, 3, 20, 15], area=300, iscrowd=0, num_keypoints=3,
                 keypoints=[5 + i, 6, 2, 10, 7 + i, 2, 15, 8, 1]))
    cats = [dict(id=1, name='tiger', supercategory='animal',
                 keypoints=list(NAMES), skeleton=skeleton)]
    path = osp.join(folder, 'keypoints.json')
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    return path


@pytest.mark.parametrize('skeleton, links', [
    ([[0, 1], [0, 2], [1, 2]], ((0, 1), (0, 2), (1, 2))),  # ATRW: 0-based
    ([[1, 2], [1, 3], [2, 3]], ((0, 1), (0, 2), (1, 2))),  # standard COCO
    ([[2, 3]], ((1, 2), )),  # no 0 and index K: 1-based
    ([[0, 1]], ((0, 1), )),  # a 0: 0-based
    ([], ()),
])
def test_coco_skeleton_in_either_convention(tmp_path, skeleton, links):
    path = write_coco_file(tmp_path / 'coco', skeleton)
    annots = read_coco(path)
    assert annots.keypoint_names == NAMES
    assert annots.skeleton == links
    ds = CustomPoseKeypointDataset(data_root=str(tmp_path / 'coco'),
                                   ann_file='keypoints.json', test_mode=True)
    assert [tuple(l) for l in ds.metainfo['skeleton_links']] == list(links)
    np.testing.assert_allclose(ds.get_data_info(1)['keypoints'][0],
                               [[6, 6], [10, 8], [15, 8]])


@pytest.mark.parametrize('skeleton, link, indices', [
    ([[0, 1], [2, 3]], '[2, 3]', '0..2'),  # 0-based with index K
    ([[1, 2], [1, 4]], '[1, 4]', '1..3'),  # 1-based beyond K
    ([[-1, 1]], '[-1, 1]', '1..3'),
])
def test_coco_skeleton_out_of_range_is_one_line(tmp_path, skeleton, link,
                                                indices):
    path = write_coco_file(tmp_path / 'coco', skeleton)
    with pytest.raises(KeypointFormatError) as err:
        read_coco(path)
    one_line(err, path, 'categories[*].skeleton', link, indices,
             '3 keypoints')


@pytest.mark.parametrize('skeleton, shown', [
    ([[1, 2, 3]], '[1, 2, 3]'),
    ([[1, '2']], "[1, '2']"),
    ([[1.0, 2.0]], '[1.0, 2.0]'),
    ('1-2', "'1-2'"),
])
def test_coco_skeleton_not_pairs_is_one_line(tmp_path, skeleton, shown):
    path = write_coco_file(tmp_path / 'coco', skeleton)
    with pytest.raises(KeypointFormatError) as err:
        read_coco(path)
    one_line(err, path, 'skeleton', shown)


# ---------------------------------------------------------------------------
# SLEAP: a .slp whose stored video path is elsewhere
# ---------------------------------------------------------------------------
#: Gray level of each frame of the test video: frame k is uniform, so the
#: frame extracted from the (lossy) mp4 tells which frame it is.
LEVELS = (30, 90, 150, 210)
#: Labelled frame index -> its points (snout, leftear, rightear).
POINTS = {
    1: np.array([[10.5, 12.0], [20.0, 8.25], [30.0, 9.0]]),
    3: np.array([[40.0, 30.0], [44.0, 24.0], [np.nan, np.nan]]),
}


def write_video(path: str, levels: Sequence[int] = LEVELS) -> str:
    """A 64x48 mp4 (OpenCV, mp4v) with one uniform frame per level."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10,
                             (64, 48))
    assert writer.isOpened()
    for level in levels:
        writer.write(np.full((48, 64, 3), level, np.uint8))
    writer.release()
    return path


def write_slp(path: str, stored) -> str:
    """A SLEAP file (sleap-io) whose one video is stored as ``stored`` (a
    media path, or a list of image paths), with user instances on the
    frames of :data:`POINTS`."""
    import sleap_io as sio
    skeleton = sio.Skeleton(
        nodes=list(NAMES),
        edges=[('snout', 'leftear'), ('snout', 'rightear')],
        symmetries=[('leftear', 'rightear')])
    video = sio.Video.from_filename(stored, open_backend=False)
    frames = [
        sio.LabeledFrame(
            video=video, frame_idx=k,
            instances=[sio.Instance.from_numpy(xy, skeleton=skeleton)])
        for k, xy in POINTS.items()
    ]
    labels = sio.Labels(labeled_frames=frames, videos=[video],
                        skeletons=[skeleton])
    os.makedirs(osp.dirname(path), exist_ok=True)
    sio.save_slp(labels, path, embed=False, verbose=False)
    return path


def check_frames(ds: CustomPoseKeypointDataset, levels: Sequence[int],
                 folder: str) -> List[str]:
    """The dataset holds the two labelled frames, with their points, read
    from frames of the right gray level stored under ``folder``."""
    assert len(ds) == 2
    paths = []
    for i, (k, xy) in enumerate(POINTS.items()):
        info = ds.get_data_info(i)
        labelled = ~np.isnan(xy[:, 0])
        np.testing.assert_allclose(info['keypoints'][0][labelled],
                                   xy[labelled])
        assert (info['keypoints_visible'][0] > 0).tolist() == \
            labelled.tolist()
        img = cv2.imread(info['img_path'])
        assert img is not None and img.shape == (48, 64, 3)
        assert abs(float(img.mean()) - levels[k]) < 6, (k, img.mean())
        assert osp.abspath(info['img_path']).startswith(
            osp.abspath(folder) + os.sep)
        paths.append(info['img_path'])
    return paths


@pytest.mark.parametrize('stored', [
    '/nonexistent/recordings/session1.mp4',  # absolute, somewhere else
    'recordings/session1.mp4',  # relative to another folder
    'C:\\Users\\lab\\videos\\session1.mp4',  # labelled on Windows
])
def test_sleap_video_beside_the_slp(tmp_path, monkeypatch, stored):
    proj = tmp_path / 'proj'
    write_video(str(proj / 'session1.mp4'))
    slp = write_slp(str(proj / 'labels.slp'), stored)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ds = CustomPoseKeypointDataset(data_root=str(proj),
                                   ann_file='labels.slp', test_mode=True)
    # frames are extracted beside the .slp, not in the working directory
    check_frames(ds, LEVELS, slp + '.frames')
    assert os.listdir(elsewhere) == []


def test_sleap_video_relative_to_the_slp_folder(tmp_path, monkeypatch):
    proj = tmp_path / 'proj'
    write_video(str(proj / 'clips' / 'session1.mp4'))
    write_slp(str(proj / 'labels.slp'), 'clips/session1.mp4')
    monkeypatch.chdir(tmp_path)  # 'clips/session1.mp4' is not here
    ds = CustomPoseKeypointDataset(data_root=str(proj),
                                   ann_file='labels.slp', test_mode=True)
    check_frames(ds, LEVELS, str(proj))


def test_sleap_stored_video_that_exists_comes_first(tmp_path, monkeypatch):
    """A video at its stored path is used, not one of the same name beside
    the .slp."""
    stored = write_video(str(tmp_path / 'rig' / 'session1.mp4'))
    proj = tmp_path / 'proj'
    write_video(str(proj / 'session1.mp4'), levels=(250, 250, 250, 250))
    write_slp(str(proj / 'labels.slp'), stored)
    monkeypatch.chdir(tmp_path / 'rig')
    ds = CustomPoseKeypointDataset(data_root=str(proj),
                                   ann_file='labels.slp', test_mode=True)
    check_frames(ds, LEVELS, str(proj))


def test_sleap_missing_video_is_one_line(tmp_path, monkeypatch):
    proj = tmp_path / 'proj'
    stored = '/nonexistent/recordings/session1.mp4'
    slp = write_slp(str(proj / 'labels.slp'), stored)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeypointFormatError) as err:
        CustomPoseKeypointDataset(data_root=str(proj), ann_file='labels.slp',
                                  test_mode=True)
    one_line(err, slp, repr(stored), str(proj / 'session1.mp4'),
             'beside labels.slp')


def test_sleap_image_sequence_beside_the_slp(tmp_path, monkeypatch):
    """An image-sequence video stored with absolute paths of another
    machine; the images lie beside the .slp."""
    proj = tmp_path / 'proj'
    proj.mkdir()
    stored = []
    for k, level in enumerate(LEVELS):
        name = f'img{k:03d}.png'
        cv2.imwrite(str(proj / name), np.full((48, 64, 3), level, np.uint8))
        stored.append(f'/nonexistent/frames/{name}')
    write_slp(str(proj / 'labels.slp'), stored)
    monkeypatch.chdir(tmp_path)
    ds = CustomPoseKeypointDataset(data_root=str(proj),
                                   ann_file='labels.slp', test_mode=True)
    paths = check_frames(ds, LEVELS, str(proj))
    assert [osp.basename(p) for p in paths] == ['img001.png', 'img003.png']
    # a missing image names the stored path
    os.remove(proj / 'img003.png')
    with pytest.raises(KeypointFormatError) as err:
        CustomPoseKeypointDataset(data_root=str(proj), ann_file='labels.slp',
                                  test_mode=True)
    one_line(err, proj / 'labels.slp', "'/nonexistent/frames/img003.png'",
             str(proj / 'img003.png'))


# ---------------------------------------------------------------------------
# DeepLabCut: labels only as CollectedData_<scorer>.h5
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('hdf_format, index_levels', [
    ('fixed', 1), ('fixed', 3),  # DeepLabCut's CollectedData writers
    ('table', 1),  # its format='table' writers (no MultiIndex rows there)
])
def test_deeplabcut_labels_only_as_h5(tmp_path, hdf_format, index_levels):
    """The project's CSV files are replaced by the ``.h5`` files DeepLabCut
    writes (``DataFrame.to_hdf(key='df_with_missing', mode='w')``, columns
    scorer/bodyparts/coords, index ``labeled-data/<video>/<image>`` as one
    string or three levels)."""
    import pandas as pd
    src = synthetic_annotations(str(tmp_path / 'src'), num_images=6, seed=4)
    project = str(tmp_path / 'project')
    placed = dlc_project(src, project, scorer='bob')
    by_id = placed.image_by_id()
    per_video = {}
    for inst in placed.instances:
        parts = by_id[inst.image_id].file_name.split('/')
        xy = np.where(inst.labelled[:, None], inst.keypoints, np.nan)
        per_video.setdefault(parts[1], []).append((parts, xy.ravel()))
    columns = pd.MultiIndex.from_product(
        [['bob'], list(placed.keypoint_names), ['x', 'y']],
        names=['scorer', 'bodyparts', 'coords'])
    for video, rows in per_video.items():
        if index_levels == 1:
            index = pd.Index(['/'.join(p) for p, _ in rows])
        else:
            index = pd.MultiIndex.from_tuples([tuple(p) for p, _ in rows])
        df = pd.DataFrame(np.stack([v for _, v in rows]), columns=columns,
                          index=index)
        folder = osp.join(project, 'labeled-data', video)
        os.remove(osp.join(folder, 'CollectedData_bob.csv'))
        df.to_hdf(osp.join(folder, 'CollectedData_bob.h5'),
                  key='df_with_missing', mode='w', format=hdf_format)
    assert not [f for _, _, files in os.walk(project) for f in files
                if f.endswith('.csv')]

    ds = CustomPoseKeypointDataset(data_root=project, test_mode=True)
    assert ds.metainfo['num_keypoints'] == len(placed.keypoint_names)
    assert [ds.metainfo['keypoint_id2name'][i]
            for i in range(len(placed.keypoint_names))] == list(
                placed.keypoint_names)
    want = {osp.basename(by_id[i.image_id].path): i
            for i in placed.instances if i.labelled.any()}
    assert len(ds) == len(want) > 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        inst = want.pop(osp.basename(info['img_path']))
        vis = info['keypoints_visible'][0] > 0
        assert vis.tolist() == inst.labelled.tolist()
        np.testing.assert_allclose(info['keypoints'][0][vis],
                                   inst.keypoints[inst.labelled])
    assert not want

