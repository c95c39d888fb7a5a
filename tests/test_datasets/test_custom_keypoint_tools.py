"""Your own animals through the real tools: ``tools/train.py`` and
``tools/test.py`` with ``configs/custom/custom_res18_keypoints_128x128.py``
on generated DeepLabCut, SLEAP and COCO projects (each model predicts exactly
its file's keypoints), and bad inputs that end in one ``error:`` line."""
import json
import os
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch

from custom_pose.datasets.synthetic import (COCO_KEYPOINTS,
                                            DEEPLABCUT_KEYPOINTS,
                                            SLEAP_KEYPOINTS,
                                            generate_synthetic_animalpose)
from conftest import load_tool

from .conftest import REPO_ROOT

CONFIG = str(REPO_ROOT / 'configs' / 'custom' /
             'custom_res18_keypoints_128x128.py')
CSV = osp.join('labeled-data', 'synthetic', 'CollectedData_synthetic.csv')

#: format -> (data_root below the generated folder, ann_file, keypoints)
PROJECTS = {
    'deeplabcut': ('deeplabcut', '', DEEPLABCUT_KEYPOINTS.names),
    'sleap': ('', 'labels.pkg.slp', SLEAP_KEYPOINTS.names),
    'coco': ('', 'coco_keypoints.json', COCO_KEYPOINTS.names),
}
#: a CPU-sized run: 8 images split 6 / 2, batch 2, no worker processes
SMALL = [
    f'{loader}.{key}={value}'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    for key, value in (('batch_size', 2), ('num_workers', 0),
                       ('persistent_workers', False),
                       ('dataset.split_ratio', 0.75))
] + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
     'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp('own_animals')
    generate_synthetic_animalpose(
        str(root), num_images=8, seed=5, image_size=(96, 96),
        occlusion_prob=0.0, truncation_prob=0.0, with_clip=False,
        formats=('deeplabcut', 'sleap', 'coco'))
    return root


@pytest.fixture(scope='module')
def tools():
    return load_tool('tools/train.py'), load_tool('tools/test.py')


def _run(main, argv):
    """A tool's ``main(argv)``: its exit status (0 when it returns)."""
    try:
        return main(argv) or 0
    except SystemExit as exc:
        return exc.code


def _data(root, fmt):
    sub, ann_file, _ = PROJECTS[fmt]
    return [f'data_root={osp.join(str(root), sub)}', f'ann_file={ann_file}']


@pytest.mark.slow
@pytest.mark.parametrize('fmt', list(PROJECTS))
def test_train_and_test_on_your_own_keypoints(fmt, generated, tools, tmp_path,
                                              capfd):
    train, test = tools
    names = PROJECTS[fmt][2]
    work = tmp_path / 'work'
    assert _run(train.main, [CONFIG, '--work-dir', str(work),
                             '--cfg-options', *_data(generated, fmt),
                             *SMALL]) == 0
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    state = torch.load(str(ckpt), map_location='cpu',
                       weights_only=False)['state_dict']
    assert state['head.final_layer.weight'].shape[0] == len(names)
    capfd.readouterr()

    # what the demos, the ONNX export and the arena tool load: the config
    # as it is (num_keypoints = None, no data_root) and the checkpoint,
    # whose metainfo gives the count
    from custom_pose.apis import TopdownBatchInferencer, init_pose_model
    model = init_pose_model(CONFIG, str(ckpt), device='cpu')
    assert model.head.out_channels == len(names)
    assert model.dataset_meta['num_keypoints'] == len(names)
    kpts, scores = TopdownBatchInferencer(model).infer_bboxes(
        np.zeros((96, 96, 3), np.uint8), np.array([[8., 8., 88., 88.]]))
    assert kpts.shape == (1, len(names), 2) and scores.shape == (1, len(names))

    preds, metrics = tmp_path / 'preds.json', tmp_path / 'metrics.json'
    assert _run(test.main, [CONFIG, str(ckpt), '--work-dir',
                            str(tmp_path / 'test'), '--out', str(preds),
                            '--metrics-out', str(metrics), '--cfg-options',
                            *_data(generated, fmt), *SMALL]) == 0
    out = capfd.readouterr().out
    values = json.loads(metrics.read_text())
    for key in ['coco/AP', 'PCK@0.1', 'px/mean', 'px/rmse', 'px/PCK@5']:
        assert np.isfinite(values[key]), key
    assert values['px/rmse'] >= values['px/mean'] > 0
    # every keypoint has its entries (NaN for one never visible in the 2
    # validation images)
    per_keypoint = [values[f'px/{m}/{n}'] for m in ('mean', 'rmse')
                    for n in names]
    assert np.isfinite(per_keypoint).sum() >= len(names)
    # the metric's per-keypoint table, then test.py's summary: AP, PCK and
    # pixel error side by side, the pixel error per keypoint
    assert 'CustomPosePixelErrorMetric (errors in image pixels' in out
    summary = out[out.index('Evaluation summary:'):].splitlines()
    assert [c.strip() for c in summary[2].split('|')[1:4]] == [
        'Keypoints', 'AP', 'AR']
    assert f'{values["px/mean"]:.3f}' in summary[4]
    table = summary[summary.index('Pixel error per keypoint (image '
                                  'pixels):'):]
    rows = [line.split('|')[1].strip() for line in table
            if line.startswith('|')]
    assert rows == ['Keypoint', *names, 'all']
    records = json.loads(preds.read_text())
    assert len(records) == 2  # the val images, one animal each
    for rec in records:
        assert np.asarray(rec['keypoints']).shape == (len(names), 2)
        assert len(rec['keypoint_scores']) == len(names)


# ---------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------
def _project_copy(generated, tmp_path):
    project = tmp_path / 'project'
    shutil.copytree(generated / 'deeplabcut', project)
    return project


def _edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def _break_csv_body_parts(project):
    _edit(project / CSV, ',spine_mid,spine_mid', ',spine,spine')
    return str(project / CSV), "body parts ['snout', 'leftear', " \
        "'rightear', 'spine'] do not match"


def _break_missing_image(project):
    os.remove(project / 'labeled-data' / 'synthetic' / 'synth_000003.jpg')
    return str(project / CSV), "image 'labeled-data/synthetic/" \
        "synth_000003.jpg' not found"


def _break_name_used_twice(project):
    _edit(project / 'config.yaml', 'bodyparts:\n- snout\n- leftear\n'
          '- rightear\n- spine_mid', 'bodyparts:\n- snout\n- leftear\n'
          '- rightear\n- leftear')
    return str(project / 'config.yaml'), "keypoint name(s) ['leftear'] " \
        'used more than once'


def _break_coordinate(project):
    lines = (project / CSV).read_text().splitlines()
    cells = lines[5].split(',')
    cells[1] = 'abc'
    lines[5] = ','.join(cells)
    (project / CSV).write_text('\n'.join(lines) + '\n')
    return str(project / CSV), "line 6, column 2 (snout x): 'abc' is not " \
        'a number'


@pytest.mark.slow
@pytest.mark.parametrize('breaker', [
    _break_csv_body_parts, _break_missing_image, _break_name_used_twice,
    _break_coordinate
], ids=lambda f: f.__name__[7:])
def test_bad_deeplabcut_project_is_one_line(breaker, generated, tools,
                                            tmp_path, capsys):
    project = _project_copy(generated, tmp_path)
    where, what = breaker(project)
    work = tmp_path / 'work'
    code = _run(tools[0].main, [CONFIG, '--work-dir', str(work),
                                '--cfg-options', f'data_root={project}',
                                *SMALL])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count('\n') == 1, err
    assert err.startswith(f'train.py: error: {where}')
    assert what in err
    assert not list(work.rglob('*.pth'))


@pytest.mark.slow
def test_sleap_file_without_sleap_io_is_one_line(generated, tools, tmp_path,
                                                 capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, 'sleap_io', None)  # not installed
    ckpt, preds = tmp_path / 'model.pth', tmp_path / 'preds.json'
    torch.save({'state_dict': {}}, str(ckpt))  # not read: the data fails first
    runs = {'train.py': (tools[0].main, [CONFIG]),
            'test.py': (tools[1].main, [CONFIG, str(ckpt), '--out',
                                        str(preds)])}
    for prog, (main, args) in runs.items():
        code = _run(main, args + ['--work-dir', str(tmp_path / 'work'),
                                  '--cfg-options',
                                  *_data(generated, 'sleap'), *SMALL])
        err = capsys.readouterr().err
        assert code != 0
        assert err.count('\n') == 1, err
        assert err.startswith(
            f'{prog}: error: {generated / "labels.pkg.slp"}: reading SLEAP '
            'files needs the optional package sleap-io'), err
    assert not preds.exists()
    assert not list((tmp_path / 'work').rglob('*.pth'))


@pytest.mark.slow
def test_head_of_another_keypoint_count_is_one_line(generated, tools,
                                                    tmp_path, capsys):
    work = tmp_path / 'work'
    code = _run(tools[0].main, [CONFIG, '--work-dir', str(work),
                                '--cfg-options', *_data(generated,
                                                        'deeplabcut'),
                                'model.head.out_channels=20', *SMALL])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count('\n') == 1, err
    assert err.startswith('train.py: error: model.head.out_channels=20 '
                          '(CustomPoseDeconvHead) but CustomPoseKeypointDataset')
    assert "has 4 keypoints ['snout', 'leftear', 'rightear', 'spine_mid']; " \
        'set model.head.out_channels=None' in err
    assert not list(work.rglob('*.pth'))
