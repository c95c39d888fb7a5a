"""What real labelled projects bring, through the real tools: a keypoint set
without a skeleton (train, test, resume, the video demo, ONNX export), the
checkpoints of earlier versions (numpy arrays in ``meta``), a project of 3
images with the default split, top-level dataset options from
``--cfg-options`` and a user config's own ``data_root``, and a data error
printed before the Runner's environment and config dump."""
import json
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from custom_pose.datasets.formats import write_coco
from custom_pose.utils.checkpoint import (checkpoint_dataset_meta,
                                          load_checkpoint_file)
from custom_pose.utils.config import load_config
from conftest import load_tool, subprocess_env

from .conftest import REPO_ROOT
from .keypoint_projects import dlc_project, place_images, synthetic_annotations

CONFIG = str(REPO_ROOT / 'configs' / 'custom' /
             'custom_res18_keypoints_128x128.py')
#: a CPU-sized run: batch 2, no worker processes, one epoch
SMALL = [
    f'{loader}.{key}={value}'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    for key, value in (('batch_size', 2), ('num_workers', 0),
                       ('persistent_workers', False))
] + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
     'default_hooks.logger.interval=1']


def _run(main, argv):
    """A tool's ``main(argv)``: its exit status (0 when it returns)."""
    try:
        return main(argv) or 0
    except SystemExit as exc:
        return exc.code


def _walk(value, path='meta'):
    """``(path, type name)`` of every numpy object below ``value``."""
    if isinstance(value, (np.ndarray, np.generic)):
        yield path, type(value).__name__
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f'{path}[{k!r}]')
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(v, f'{path}[{i}]')


@pytest.fixture(scope='module')
def tools():
    return dict(
        train=load_tool('tools/train.py'), test=load_tool('tools/test.py'),
        demo=load_tool('demo/top_down_video_demo_full_frame_without_det.py'),
        onnx=load_tool('tools/deployment/pytorch2onnx.py'))


@pytest.fixture(scope='module')
def no_skeleton(tmp_path_factory):
    """A DeepLabCut project of 8 images whose config says ``skeleton: []``
    (DeepLabCut's own open-field example has none), and a clip of them."""
    root = tmp_path_factory.mktemp('no_skeleton')
    annots = synthetic_annotations(str(root / 'gen'), skeleton=(),
                                   num_images=8, seed=3, image_size=(96, 96),
                                   occlusion_prob=0.0, truncation_prob=0.0)
    project = root / 'project'
    dlc_project(annots, str(project))
    config = (project / 'config.yaml').read_text()
    assert 'skeleton: []' in config, config
    clip = root / 'clip.mp4'
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (96, 96))
    for img in sorted(annots.images, key=lambda i: i.id):
        writer.write(cv2.imread(img.path))
    writer.release()
    return dict(project=project, clip=clip)


@pytest.fixture(scope='module')
def trained(no_skeleton, tools, tmp_path_factory):
    """``tools/train.py`` for one epoch on the project without a skeleton."""
    work = tmp_path_factory.mktemp('no_skeleton_work')
    assert _run(tools['train'].main, [
        CONFIG, '--work-dir', str(work), '--cfg-options',
        f'data_root={no_skeleton["project"]}',
        'train_dataloader.dataset.split_ratio=0.75',
        'val_dataloader.dataset.split_ratio=0.75', *SMALL
    ]) == 0
    return work / 'epoch_1.pth'


def _numpy_meta_copy(ckpt_path, dest):
    """The checkpoint with its dataset metainfo's colours, weights and
    sigmas as numpy arrays (an empty ``(0, 3)`` array of link colours), as
    mmengine's Runner writes ``meta`` and earlier versions of the package
    did."""
    ckpt = torch.load(str(ckpt_path), map_location='cpu', weights_only=False)
    meta = ckpt['meta']['dataset_meta']
    for key, dtype in (('keypoint_colors', np.uint8),
                       ('skeleton_link_colors', np.uint8),
                       ('dataset_keypoint_weights', np.float32),
                       ('sigmas', np.float32)):
        meta[key] = np.asarray(meta[key], dtype).reshape(
            (-1, 3) if key.endswith('colors') else (-1, ))
    assert meta['skeleton_link_colors'].shape == (0, 3)
    torch.save(ckpt, str(dest))
    return dest


_PROBE_WITHOUT_BYTES = """
import sys, torch
from custom_pose.utils.checkpoint_safety import checkpoint_safe_globals
torch.serialization.clear_safe_globals()
torch.serialization.add_safe_globals([
    g for g in checkpoint_safe_globals()
    if not (isinstance(g, tuple) and g[1] == 'builtins.bytes')])
torch.load(sys.argv[1], weights_only=True)
"""


def _tool_runs(tools, config, ckpt, no_skeleton, tmp_path):
    """Exit statuses of test.py, train.py --resume, the video demo and the
    ONNX export with ``ckpt``."""
    data = [f'data_root={no_skeleton["project"]}',
            'val_dataloader.dataset.split_ratio=0.75',
            'train_dataloader.dataset.split_ratio=0.75']
    resume_dir = tmp_path / 'resumed'
    resume_dir.mkdir()
    out = {}
    out['test'] = _run(tools['test'].main, [
        config, str(ckpt), '--work-dir', str(tmp_path / 'test'),
        '--cfg-options', *data, *SMALL])
    out['resume'] = _run(tools['train'].main, [
        config, '--work-dir', str(resume_dir), '--resume', str(ckpt),
        '--cfg-options', *data, *SMALL[:-3], 'train_cfg.max_epochs=2',
        'train_cfg.val_interval=1'])
    out['resumed_epoch'] = (resume_dir / 'epoch_2.pth').is_file()
    out['demo'] = _run(tools['demo'].main, [
        config, str(ckpt), '--video-path', str(no_skeleton['clip']),
        '--out-video-root', str(tmp_path / 'vis'), '--save-predictions',
        '--device', 'cpu'])
    out['onnx'] = _run(tools['onnx'].main, [
        config, str(ckpt), '--output', str(tmp_path / 'model.onnx')])
    return out


@pytest.mark.slow
def test_no_skeleton_trains_tests_resumes_and_runs_the_demo(
        trained, no_skeleton, tools, tmp_path):
    ckpt = load_checkpoint_file(str(trained))
    # meta is plain Python: torch's safe loading needs no allow-list for it
    assert list(_walk(ckpt['meta'])) == []
    assert ckpt['meta']['dataset_meta']['skeleton_links'] == []
    # the metainfo a tool reads back has mmpose's arrays again
    meta = checkpoint_dataset_meta(ckpt)
    assert meta['skeleton_link_colors'].shape == (0, 3)
    assert meta['keypoint_colors'].shape == (4, 3)
    assert meta['sigmas'].dtype == np.float32

    runs = _tool_runs(tools, CONFIG, trained, no_skeleton, tmp_path)
    assert runs == dict(test=0, resume=0, resumed_epoch=True, demo=0,
                        onnx=0), runs
    preds = json.loads((tmp_path / 'vis' / 'vis_clip.json').read_text())
    assert preds['num_keypoints'] == 4 and len(preds['frames']) == 8


@pytest.mark.slow
def test_checkpoint_with_numpy_meta_loads_in_every_tool(
        trained, no_skeleton, tools, tmp_path):
    old = _numpy_meta_copy(trained, tmp_path / 'numpy_meta.pth')
    # with every allowed type but bytes, torch refuses the file: its empty
    # array pickles through builtins.bytes
    probe = subprocess.run(
        [sys.executable, '-c', _PROBE_WITHOUT_BYTES, str(old)],
        capture_output=True, text=True, env=subprocess_env())
    assert probe.returncode != 0 and 'GLOBAL bytes ' in probe.stderr, \
        probe.stderr[-2000:]

    meta = checkpoint_dataset_meta(load_checkpoint_file(str(old)))
    assert meta['skeleton_link_colors'].shape == (0, 3)
    runs = _tool_runs(tools, CONFIG, old, no_skeleton, tmp_path)
    assert runs == dict(test=0, resume=0, resumed_epoch=True, demo=0,
                        onnx=0), runs
    # what the resumed run wrote is plain again
    resumed = load_checkpoint_file(str(tmp_path / 'resumed' / 'epoch_2.pth'))
    assert list(_walk(resumed['meta'])) == []


class RefusedType:
    """A type no allow-list has."""


def test_a_refused_object_is_named_without_blaming_the_file(tmp_path):
    path = tmp_path / 'custom.pth'
    torch.save({'state_dict': {}, 'meta': {'x': RefusedType()}}, str(path))
    from custom_pose.errors import CheckpointError
    with pytest.raises(CheckpointError) as info:
        load_checkpoint_file(str(path))
    text = str(info.value)
    assert 'RefusedType' in text and 'weights_only=True' in text
    assert 'not a model checkpoint' not in text and '\n' not in text


# ---------------------------------------------------------------------------
# a project of a few images
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def three_images(tmp_path_factory):
    root = tmp_path_factory.mktemp('three')
    annots = synthetic_annotations(str(root / 'gen'), num_images=3, seed=4,
                                   image_size=(96, 96), occlusion_prob=0.0,
                                   truncation_prob=0.0)
    return annots, root


@pytest.mark.slow
def test_three_images_with_the_default_split_validate_on_training_images(
        three_images, tools, tmp_path, capfd):
    annots, root = three_images
    project = tmp_path / 'project'
    dlc_project(annots, str(project))
    work = tmp_path / 'work'
    # the config's own split: train / val of split_ratio 0.9
    assert _run(tools['train'].main, [
        CONFIG, '--work-dir', str(work), '--cfg-options',
        f'data_root={project}', *SMALL]) == 0
    out = capfd.readouterr().out
    warnings = [line for line in out.splitlines()
                if 'leaves no labelled image of 3 for validation' in line]
    assert len(warnings) >= 1, out[-3000:]
    assert 'training error, not held-out error' in warnings[0]
    logs = sorted(work.glob('*/vis_data/scalars.json'))
    scalars = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    assert any('px/mean' in s for s in scalars)  # validation ran


def test_validation_fallback_only_for_the_seeded_val_split(three_images):
    from custom_pose.datasets import CustomPoseKeypointDataset
    from custom_pose.datasets.org_animal_pose_dataset import \
        EmptySelectionError
    annots, root = three_images
    project = root / 'project'
    if not project.exists():
        dlc_project(annots, str(project))
    val = CustomPoseKeypointDataset(data_root=str(project), split='val',
                                    test_mode=True)
    train = CustomPoseKeypointDataset(data_root=str(project), split='train')
    assert val.validates_on_training_images
    assert val.summary['validates_on_training_images']
    assert [d['img_id'] for d in val] == [d['img_id'] for d in train]
    assert len(val) == 3
    # an explicit selection that is empty stays an error
    with pytest.raises(EmptySelectionError):
        CustomPoseKeypointDataset(data_root=str(project), image_ids=[],
                                  test_mode=True)


# ---------------------------------------------------------------------------
# dataset options at the top level
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def coco_in_subfolder(three_images, tmp_path_factory):
    """A COCO file whose ``file_name``s lie in ``images/`` below it."""
    annots, _ = three_images
    root = tmp_path_factory.mktemp('coco_subfolder')
    placed = place_images(annots, str(root / 'images'),
                          lambda n, img: osp.basename(img.path))
    write_coco(placed, str(root / 'labels.json'))
    data = json.loads((root / 'labels.json').read_text())
    for img in data['images']:
        img['file_name'] = osp.basename(img['file_name'])
    (root / 'labels.json').write_text(json.dumps(data))
    return root


def test_data_prefix_and_split_from_the_top_level(coco_in_subfolder):
    cfg = load_config(CONFIG, {
        'data_root': str(coco_in_subfolder), 'ann_file': 'labels.json',
        'data_prefix': 'images/', 'split': 'all', 'format': 'coco',
        'val_dataloader.dataset.split_ratio': 0.5})
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.split == 'all', loader
        assert dataset.data_prefix == dict(img='images/'), loader
        assert dataset.format == 'coco' and \
            dataset.data_root == str(coco_in_subfolder)
    assert cfg.val_dataloader.dataset.split_ratio == 0.5
    # a loader's own option wins over the top-level one
    cfg = load_config(CONFIG, {'split': 'all',
                               'val_dataloader.dataset.split': 'val'})
    assert cfg.train_dataloader.dataset.split == 'all'
    assert cfg.val_dataloader.dataset.split == 'val'
    # dotted: data_prefix.img=...
    cfg = load_config(CONFIG, {'data_prefix.img': 'frames/'})
    assert cfg.train_dataloader.dataset.data_prefix == dict(img='frames/')
    # a misspelt one is refused with a suggestion
    from custom_pose.utils.config import CfgOptionsError
    with pytest.raises(CfgOptionsError, match="did you mean 'split'"):
        load_config(CONFIG, {'splt': 'all'})


@pytest.mark.parametrize('prefix', [
    'images/', "dict(img='images/')", "{'img': 'images/'}",
    dict(img='images/')])
def test_data_prefix_forms(prefix, coco_in_subfolder):
    from custom_pose.datasets import CustomPoseKeypointDataset
    dataset = CustomPoseKeypointDataset(
        data_root=str(coco_in_subfolder), ann_file='labels.json',
        data_prefix=prefix)
    assert len(dataset) == 3
    assert all(osp.dirname(d['img_path']) ==
               osp.join(str(coco_in_subfolder), 'images') for d in dataset)


def test_a_bad_data_prefix_is_one_line(coco_in_subfolder):
    from custom_pose.datasets import CustomPoseKeypointDataset
    with pytest.raises(ValueError, match=r'^data_prefix: expected the image '
                       r'folder, e\.g\. data_prefix=images/ or'):
        CustomPoseKeypointDataset(data_root=str(coco_in_subfolder),
                                  ann_file='labels.json',
                                  data_prefix=dict(ann='x'))


@pytest.mark.slow
def test_train_with_data_prefix_and_split_options(coco_in_subfolder, tools,
                                                  tmp_path, capfd):
    work = tmp_path / 'work'
    assert _run(tools['train'].main, [
        CONFIG, '--work-dir', str(work), '--cfg-options',
        f'data_root={coco_in_subfolder}', 'ann_file=labels.json',
        'data_prefix=images/', 'split=all', *SMALL]) == 0
    out = capfd.readouterr().out
    assert 'coco, split=all):' in out and 'images: 3, instances: 3' in out


def test_a_user_config_sets_data_root_at_its_top_level(tmp_path):
    user = tmp_path / 'my_mice.py'
    user.write_text(f'_base_ = [{CONFIG!r}]\n'
                    f"data_root = '/data/mice/'\n"
                    f"ann_file = 'labels.slp'\n")
    cfg = load_config(str(user))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == '/data/mice/', loader
        assert cfg[loader].dataset.ann_file == 'labels.slp', loader
    # a loader the user set on purpose keeps its value
    user.write_text(user.read_text() + "val_dataloader = dict(dataset=dict("
                    "data_root='/data/other/'))\n")
    cfg = load_config(str(user))
    assert cfg.train_dataloader.dataset.data_root == '/data/mice/'
    assert cfg.val_dataloader.dataset.data_root == '/data/other/'


# ---------------------------------------------------------------------------
# errors first
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('tool', ['train', 'test'])
def test_data_error_is_within_the_first_20_lines(tool, no_skeleton, tmp_path):
    project = tmp_path / 'project'
    shutil.copytree(no_skeleton['project'], project)
    csv = next(project.glob('labeled-data/*/CollectedData_*.csv'))
    # a body part name the config does not have
    csv.write_text(csv.read_text().replace('snout', 'snoot'))
    args = [CONFIG]
    if tool == 'test':  # a checkpoint file, read only after the data
        args.append(str(tmp_path / 'model.pth'))
        torch.save({'state_dict': {}}, args[-1])
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools' / f'{tool}.py'), *args,
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'data_root={project}', *SMALL],
        capture_output=True, text=True, env=subprocess_env(),
        cwd=str(tmp_path), timeout=600)
    lines = (proc.stdout + proc.stderr).splitlines()
    errors = [i for i, line in enumerate(lines)
              if line.startswith(f'{tool}.py: error:')]
    assert proc.returncode == 1, lines[-20:]
    assert len(errors) == 1 and errors[0] < 20, lines[:30]
    assert errors[0] == len(lines) - 1
    assert 'snoot' in lines[errors[0]]
    assert not any('Environment info' in line for line in lines)
