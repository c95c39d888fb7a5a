"""The unique body parts of a multi-animal DeepLabCut project: kept as the
keypoints of one ``single`` instance per frame (``unique_bodyparts=
'instance'``, the default) or left out (``'drop'``), through the readers,
the dataset, the config tools and a short training run."""
import csv
import os
import os.path as osp
from dataclasses import replace

import numpy as np
import pytest
import yaml
from mmengine.config import Config
from mmengine.runner import Runner

from conftest import small_train_cfg
from custom_pose.datasets import (CustomPoseKeypointDataset,
                                  KeypointCountError, resolve_num_keypoints)
from custom_pose.datasets.formats import (KeypointFormatError,
                                          read_deeplabcut, read_keypoint_names,
                                          read_keypoints)
from custom_pose.errors import InputError
from custom_pose.utils.config import CfgOptionsError, load_config
from .keypoint_projects import (MOUSE_KEYPOINTS, UNIQUE_BODYPARTS,
                                edit_dlc_csv, place_images,
                                synthetic_annotations,
                                write_dlc_unique_project)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CUSTOM = osp.join(REPO_ROOT, 'configs', 'custom',
                  'custom_res18_keypoints_128x128.py')
ANIMAL_PARTS = tuple(MOUSE_KEYPOINTS)
ALL_PARTS = ANIMAL_PARTS + UNIQUE_BODYPARTS
K, U = len(ANIMAL_PARTS), len(UNIQUE_BODYPARTS)


def _unique_labels(images):
    """``{file_name: (2, 2)}``: both landmarks on most frames, only the nest
    on the second, none on the third."""
    labels = {}
    for n, img in enumerate(images):
        if n == 2:
            continue
        xy = np.array([[10.5 + n, 20.25], [80.0 - n, 12.75]])
        if n == 1:
            xy[1] = np.nan
        labels[img.file_name] = xy
    return labels


@pytest.fixture(scope='module')
def labels(tmp_path_factory):
    """Six 96x96 images with up to two animals (tracks ``animal1``,
    ``animal2``), spread over two ``labeled-data`` folders, and the unique
    body parts' labels."""
    root = tmp_path_factory.mktemp('unique_src')
    src = synthetic_annotations(
        str(root / 'src'), num_images=6, seed=3, image_size=(96, 96),
        max_animals=2, occlusion_prob=0.0, truncation_prob=0.0)
    placed = place_images(
        src, str(root / 'images'), lambda n, img:
        f'labeled-data/video{n % 2}/{osp.basename(img.path)}')
    order = {}
    tracked = []
    # DeepLabCut has no row for an animal without a labelled body part
    for inst in (i for i in placed.instances if i.visibility.any()):
        order[inst.image_id] = order.get(inst.image_id, 0) + 1
        tracked.append(replace(inst, track=f'animal{order[inst.image_id]}'))
    assert max(order.values()) == 2, 'the fixture needs two animals'
    return replace(placed, instances=tracked), _unique_labels(placed.images)


def _project(labels, project, **kwargs):
    """The fixture's images and labels as a project in ``project``."""
    placed, unique = labels
    placed = place_images(placed, project, lambda n, img: img.file_name)
    write_dlc_unique_project(placed, project, unique, **kwargs)
    return project


@pytest.fixture(scope='module')
def project(labels, tmp_path_factory):
    """The project with CSV files."""
    return _project(labels, str(tmp_path_factory.mktemp('nest-alice')),
                    containers=('csv', ))


def _by_image(annots):
    """``{file_name: [(track, keypoints, visibility), ...]}``."""
    imgs = annots.image_by_id()
    out = {}
    for inst in annots.instances:
        out.setdefault(imgs[inst.image_id].file_name, []).append(
            (inst.track, inst.keypoints, inst.visibility))
    return out


def _check_kept(read, labels):
    placed, unique = labels
    assert read.keypoint_names == ALL_PARTS
    assert read.notes == []
    got = _by_image(read)
    animals = _by_image(placed)
    assert set(got) == {img.file_name for img in placed.images}
    for file_name, insts in got.items():
        want = animals.get(file_name, [])
        # the individuals in column order, then the frame's "single"
        assert [t for t, _, _ in insts] == [t for t, _, _ in want] + (
            ['single'] if file_name in unique else [])
        for (_, kpts, vis), (_, want_kpts, want_vis) in zip(insts, want):
            assert not vis[K:].any()  # an animal has no unique body part
            np.testing.assert_array_equal(vis[:K] > 0, want_vis > 0)
            np.testing.assert_allclose(kpts[:K][want_vis > 0],
                                       want_kpts[want_vis > 0])
        if file_name in unique:
            _, kpts, vis = insts[-1]
            xy = unique[file_name]
            labelled = ~np.isnan(xy).any(axis=1)
            assert not vis[:K].any()
            np.testing.assert_array_equal(vis[K:], np.where(labelled, 2, 0))
            np.testing.assert_allclose(kpts[K:][labelled], xy[labelled])


def test_dlc_writes_unique_body_parts_under_single(project):
    """The test project has DeepLabCut's layout: four header rows, the
    unique body parts under the individual ``single`` after the animals,
    three index columns."""
    path = osp.join(project, 'labeled-data', 'video0',
                    'CollectedData_alice.csv')
    rows = list(csv.reader(open(path, newline='')))
    assert [r[0] for r in rows[:4]] == ['scorer', 'individuals', 'bodyparts',
                                       'coords']
    assert rows[1][3:] == ['animal1'] * 2 * K + ['animal2'] * 2 * K + [
        'single'] * 2 * U
    assert rows[2][-4:] == ['nest', 'nest', 'lamp', 'lamp']
    assert rows[4][:2] == ['labeled-data', 'video0']
    cfg = yaml.safe_load(open(osp.join(project, 'config.yaml')))
    assert cfg['uniquebodyparts'] == list(UNIQUE_BODYPARTS)
    assert cfg['multianimalbodyparts'] == list(ANIMAL_PARTS)


@pytest.mark.parametrize('container', ['csv', 'h5'])
def test_unique_body_parts_are_kept_as_a_single_instance(
        labels, tmp_path, container):
    if container == 'h5':
        pytest.importorskip('tables')
    project = _project(labels, str(tmp_path / 'proj'),
                       containers=(container, ))
    assert any(f.endswith('.' + container)
               for f in os.listdir(osp.join(project, 'labeled-data',
                                            'video1')))
    read = read_deeplabcut(project)
    _check_kept(read, labels)
    # links inside each group stay; snout-nest joins no instance's points
    assert read.skeleton == ((0, 1), (4, 5))
    assert read_keypoints(project).keypoint_names == ALL_PARTS


def test_drop_leaves_unique_body_parts_out(project, labels):
    kept = read_deeplabcut(project)
    dropped = read_deeplabcut(project, unique_bodyparts='drop')
    assert dropped.keypoint_names == ANIMAL_PARTS
    assert dropped.skeleton == ((0, 1), )
    assert dropped.notes == [
        "unique body parts ['nest', 'lamp'] (not on any animal) left out"]
    assert 'single' not in {i.track for i in dropped.instances}
    animals = [i for i in kept.instances if i.track != 'single']
    assert len(dropped.instances) == len(animals)
    for a, b in zip(animals, dropped.instances):
        assert (a.track, a.image_id) == (b.track, b.image_id)
        np.testing.assert_array_equal(a.keypoints[:K], b.keypoints)
        np.testing.assert_array_equal(a.visibility[:K], b.visibility)


@pytest.mark.parametrize('mode', ['instance', 'drop'])
def test_read_keypoint_names_agrees_with_the_dataset(project, mode):
    cfg = dict(type='CustomPoseKeypointDataset', data_root=project)
    kwargs = {} if mode == 'instance' else dict(unique_bodyparts=mode)
    names = CustomPoseKeypointDataset.read_keypoint_names(dict(cfg, **kwargs))
    dataset = CustomPoseKeypointDataset(data_root=project, **kwargs)
    assert names == tuple(dataset.metainfo['keypoint_id2name'][k]
                          for k in range(dataset.metainfo['num_keypoints']))
    assert names == (ALL_PARTS if mode == 'instance' else ANIMAL_PARTS)
    assert read_keypoint_names(project, unique_bodyparts=mode) == names
    assert read_deeplabcut(project, unique_bodyparts=mode).keypoint_names == \
        names


def test_lone_csv_without_config_keeps_single_columns(project, tmp_path):
    path = osp.join(project, 'labeled-data', 'video1',
                    'CollectedData_alice.csv')
    lone = tmp_path / 'labeled-data' / 'video1'
    lone.mkdir(parents=True)
    for name in os.listdir(osp.dirname(path)):
        os.link(osp.join(osp.dirname(path), name), lone / name)
    lone_csv = str(lone / 'CollectedData_alice.csv')
    read = read_deeplabcut(lone_csv)
    assert read.keypoint_names == read_keypoint_names(lone_csv) == ALL_PARTS
    assert sum(i.track == 'single' for i in read.instances) == 3
    dropped = read_deeplabcut(lone_csv, unique_bodyparts='drop')
    assert dropped.keypoint_names == read_keypoint_names(
        lone_csv, unique_bodyparts='drop') == ANIMAL_PARTS


def _file_name(data_info, project):
    """The ``labeled-data/<video>/<image>`` of a data info."""
    return osp.relpath(data_info['img_path'], project).replace(os.sep, '/')


def test_dataset_single_instance_and_its_box(project, labels):
    placed, unique = labels
    dataset = CustomPoseKeypointDataset(data_root=project, bbox_margin=0.1,
                                        bbox_min_size=16)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    singles = [d for d in infos if d['track'] == 'single']
    assert len(singles) == len(unique) == 5
    assert len(infos) == len(placed.instances) + len(unique)
    assert dataset.summary['tracks']['single'] == 5
    assert dataset.summary['labelled_per_keypoint'] == dict(
        zip(ALL_PARTS,
            [int(sum(i.visibility[k] > 0 for i in placed.instances))
             for k in range(K)] + [5, 4]))
    for d in singles:
        xy = unique[_file_name(d, project)]
        labelled = ~np.isnan(xy).any(axis=1)
        assert d['keypoints'].shape == (1, K + U, 2)
        np.testing.assert_array_equal(
            d['keypoints_visible'][0], [0] * K + labelled.tolist())
        np.testing.assert_allclose(d['keypoints'][0, K:][labelled],
                                   xy[labelled])
        x1, y1, x2, y2 = d['bbox'][0]
        lo, hi = xy[labelled].min(0), xy[labelled].max(0)
        assert x1 <= lo[0] and y1 <= lo[1] and x2 >= hi[0] and y2 >= hi[1]
        assert min(x2 - x1, y2 - y1) >= 16 - 1e-4
    # one landmark: a bbox_min_size square around it
    one = next(d for d in singles if d['num_keypoints'] == 1)
    x, y = unique[_file_name(one, project)][0]
    np.testing.assert_allclose(one['bbox'][0], [x - 8, y - 8, x + 8, y + 8],
                               atol=1e-4)

    dropped = CustomPoseKeypointDataset(data_root=project,
                                        unique_bodyparts='drop')
    assert len(dropped) == len(placed.instances)
    assert 'single' not in dropped.summary['tracks']
    assert dropped.summary['notes'] == [
        "unique body parts ['nest', 'lamp'] (not on any animal) left out"]


def test_bad_unique_bodyparts_value(project):
    for call in (
            lambda: read_deeplabcut(project, unique_bodyparts='keep'),
            lambda: read_keypoint_names(project, unique_bodyparts='keep'),
            lambda: CustomPoseKeypointDataset(data_root=project,
                                              unique_bodyparts='keep')):
        with pytest.raises(InputError) as err:
            call()
        msg = str(err.value)
        assert '\n' not in msg
        assert "unique_bodyparts: expected 'instance'" in msg
        assert "'drop'" in msg and "got 'keep'" in msg


def test_bad_unique_body_part_columns(labels, tmp_path):
    project = _project(labels, str(tmp_path / 'proj'), containers=('csv', ))

    def under_an_animal(rows):
        rows[1][-2:] = ['animal2', 'animal2']  # the lamp's x and y
    path = edit_dlc_csv(project, 'video0', under_an_animal)
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    msg = str(err.value)
    assert '\n' not in msg and path in msg
    assert "'lamp' is a uniquebodyparts entry" in msg
    assert 'under the individual "single"' in msg

    def without_lamp(rows):
        for row in rows:
            del row[-2:]
    path = edit_dlc_csv(project, 'video0', without_lamp)
    with pytest.raises(KeypointFormatError) as err:
        read_deeplabcut(project)
    msg = str(err.value)
    assert '\n' not in msg and path in msg
    assert 'no "x" column for single/lamp' in msg
    assert "unique_bodyparts='drop'" in msg
    # the same file is read with drop
    assert read_deeplabcut(project, unique_bodyparts='drop').num_keypoints == K


def test_single_columns_of_a_config_without_uniquebodyparts(labels,
                                                             tmp_path):
    project = _project(labels, str(tmp_path / 'proj'), containers=('csv', ))
    path = osp.join(project, 'config.yaml')
    cfg = yaml.safe_load(open(path))
    cfg['uniquebodyparts'] = []
    cfg['skeleton'] = []
    yaml.safe_dump(cfg, open(path, 'w'))
    read = read_deeplabcut(project)
    assert read.keypoint_names == ANIMAL_PARTS == read_keypoint_names(project)
    assert 'single' not in {i.track for i in read.instances}
    assert read.notes == [
        f'columns of the individual "single" left out: {path} lists no '
        'uniquebodyparts (list them there to train on them)']


def test_cfg_options_choose_drop(project):
    opts = dict(data_root=project)
    cfg = load_config(CUSTOM, opts)
    assert resolve_num_keypoints(cfg) == K + U
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    cfg = load_config(CUSTOM, dict(opts, **{
        f'{key}.dataset.unique_bodyparts': 'drop' for key in loaders}))
    assert all(cfg[key].dataset.unique_bodyparts == 'drop'
               for key in loaders)
    assert resolve_num_keypoints(cfg) == K
    assert cfg.model.head.out_channels == K
    # a top-level option reaches every loader's dataset
    cfg = load_config(CUSTOM, dict(opts, unique_bodyparts='drop'))
    assert [cfg[key].dataset.unique_bodyparts for key in loaders] == [
        'drop'] * 3
    assert resolve_num_keypoints(cfg) == K
    # only the training set dropping them: the loaders disagree
    cfg = load_config(CUSTOM, dict(
        opts, **{'train_dataloader.dataset.unique_bodyparts': 'drop'}))
    with pytest.raises(KeypointCountError) as err:
        resolve_num_keypoints(cfg)
    assert "'spine_mid', 'nest', 'lamp']" in str(err.value)
    with pytest.raises(CfgOptionsError) as err:
        load_config(CUSTOM, {'train_dataloader.dataset.unique_bodypart':
                             'drop'})
    assert 'unique_bodyparts' in str(err.value)


@pytest.mark.slow
def test_train_on_animals_and_unique_body_parts(project, tmp_path):
    cfg = Config.fromfile(CUSTOM)
    small_train_cfg(cfg, project, tmp_path / 'work', batch_size=4)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.split = 'all'
    cfg.train_cfg = dict(by_epoch=False, max_iters=2, val_interval=100)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=-1)
    assert resolve_num_keypoints(cfg) == K + U
    assert cfg.model.head.out_channels == K + U

    runner = Runner.from_cfg(cfg)
    before = {n: p.detach().clone()
              for n, p in runner.model.head.named_parameters()}
    runner.train()
    assert runner.iter == 2
    dataset = runner.train_dataloader.dataset
    assert dataset.metainfo['num_keypoints'] == K + U
    assert dataset.summary['tracks']['single'] == 5
    final = runner.model.head.final_layer.weight
    assert final.shape[0] == K + U
    assert any(not np.allclose(before[n].numpy(), p.detach().numpy())
               for n, p in runner.model.head.named_parameters())
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert np.isfinite(loss)
