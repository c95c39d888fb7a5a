"""No tool writes over its inputs, and tool outputs are whole or absent.

The real tools run on a copy of the tiny synthetic dataset and an untrained
checkpoint of the quickstart config: an output that is an input (the
config, the checkpoint, the config's annotation file; also through a
symbolic or hard link) is refused in one line with nothing written; an
existing file of another kind is replaced only with ``--overwrite``; a
write over the file-size limit (``ulimit -f``) ends in one line naming the
file and leaves the previous file as it was, with no temporary file.
"""
import errno
import json
import os
import resource
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT, load_tool, small_train_cfg, subprocess_env

QUICKSTART = str(REPO_ROOT / 'configs/animal/'
                 'custom_res18_quickstart_synthetic_128x128.py')


def _eval_config(data, work_dir):
    """The quickstart config on ``data``: evaluation of all 20 images on
    the CPU, logging errors only, no visualisation backend."""
    from custom_pose.utils.cli import load_config
    cfg = load_config(QUICKSTART, {'data_root': str(data)})
    small_train_cfg(cfg, data, work_dir, batch_size=10)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.split = 'all'
    cfg.log_level = 'ERROR'
    cfg.visualizer.vis_backends = []
    return cfg


@pytest.fixture(scope='module')
def untrained(tmp_path_factory, synthetic_root):
    """An untrained checkpoint of the quickstart config (its weights only,
    as torch saves them)."""
    from custom_pose.apis import save_untrained_checkpoint
    root = tmp_path_factory.mktemp('untrained')
    cfg = _eval_config(synthetic_root, root / 'work')
    ckpt = root / 'untrained.pth'
    save_untrained_checkpoint(cfg, str(ckpt), seed=0)
    state = torch.load(str(ckpt), map_location='cpu', weights_only=False)
    torch.save({'state_dict': state['state_dict']}, str(ckpt))
    return ckpt


@pytest.fixture
def project(tmp_path, synthetic_root, untrained):
    """This test's copy of the small synthetic dataset (``data/``), a config
    of it (``eval.py``, see :func:`_eval_config`) and of the untrained
    checkpoint (``untrained.pth``)."""
    data = tmp_path / 'data'
    shutil.copytree(synthetic_root, data)
    config = tmp_path / 'eval.py'
    _eval_config(data, tmp_path / 'work').dump(str(config))
    ckpt = tmp_path / 'untrained.pth'
    shutil.copy(untrained, ckpt)
    return dict(root=tmp_path, data=data, config=config, ckpt=ckpt,
                ann=data / 'keypoints.json')


def _one_line(main, argv, capsys, code=1):
    """Run ``main(argv)``; it must exit with ``code`` and print one error
    line and no traceback. Returns that line."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == code, err[-2000:]
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if ': error: ' in line]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def _snapshot(*paths):
    return {str(p): p.read_bytes() for p in paths}


def _limited(limit_bytes):
    """``preexec_fn``: a file-size limit of ``limit_bytes`` (``ulimit -f``).
    Python ignores SIGXFSZ, so a write over it fails with EFBIG."""
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def _run(cmd, cwd, **kwargs):
    return subprocess.run(
        [str(c) for c in cmd], cwd=str(cwd), capture_output=True, text=True,
        timeout=300, env=subprocess_env(PYTHONDONTWRITEBYTECODE='1'),
        **kwargs)


def _assert_one_line_error(run, prog):
    assert run.returncode == 1, run.stderr[-3000:]
    assert 'Traceback' not in run.stderr, run.stderr[-3000:]
    lines = [line for line in run.stderr.splitlines() if ': error: ' in line]
    assert len(lines) == 1 and lines[0].startswith(f'{prog}: error: '), \
        run.stderr[-3000:]
    return lines[0]


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith('.')]


# ---------------------------------------------------------------------------
# tools/test.py
# ---------------------------------------------------------------------------
def test_test_tool_refuses_outputs_over_its_inputs(project, capsys):
    """--out / --metrics-out on the config's annotation file (also through
    a hard link), on the config, and both on one file: refused before the
    evaluation, nothing written."""
    tool = load_tool('tools/test.py')
    ann, config = project['ann'], project['config']
    link = project['root'] / 'hard_link.json'
    if not link.exists():
        os.link(ann, link)
    before = _snapshot(ann, config)
    base = [config, project['ckpt'], '--work-dir', project['root'] / 'w']
    line = _one_line(tool.main, base + ['--out', ann], capsys)
    assert line == (
        f'test.py: error: --out {ann} is the annotation file of the config '
        f'{ann}: writing it would destroy the input; give another output '
        'file')
    line = _one_line(tool.main, base + ['--metrics-out', link], capsys)
    assert line.startswith(f'test.py: error: --metrics-out {link} is the '
                           f'annotation file of the config {ann}: ')
    other = project['root'] / 'preds.json'
    line = _one_line(tool.main,
                     base + ['--out', other, '--metrics-out', other], capsys)
    assert line == (f'test.py: error: --metrics-out {other} is also --out: '
                    'give two different files')
    assert _snapshot(ann, config) == before
    assert not other.exists()


def test_test_tool_metrics_out_suffix_checked_first(project, capsys):
    """--metrics-out x.pth: a usage error before any work."""
    tool = load_tool('tools/test.py')
    out = project['root'] / 'metrics.pth'
    line = _one_line(tool.main, [project['config'], project['ckpt'],
                                 '--metrics-out', out], capsys, code=2)
    assert line.endswith(f'error: --metrics-out must be a .json file, got '
                         f'{out}')
    assert not out.exists()


def test_test_tool_existing_annotations_need_overwrite(project, capsys):
    """An existing annotation file that is not an input of the config is
    no predictions file: --out replaces it only with --overwrite."""
    tool = load_tool('tools/test.py')
    other = project['root'] / 'other_annotations.json'
    shutil.copy(project['ann'], other)
    before = other.read_bytes()
    line = _one_line(tool.main, [project['config'], project['ckpt'],
                                 '--out', other], capsys)
    assert line == (
        f'test.py: error: --out {other} exists and is an annotation file, '
        'not a predictions file of test.py: pass --overwrite to replace it, '
        'or give another file')
    assert other.read_bytes() == before


def test_test_tool_out_over_the_file_size_limit(project):
    """--out over the file-size limit: one line naming the file; the
    previous predictions are kept whole and no temporary file is left. (The
    limit, 12 KiB, is above the config's size, which mmengine copies, and
    below the predictions of 20 instances.)"""
    out_dir = project['root'] / 'efbig'
    out_dir.mkdir()
    out = out_dir / 'preds.json'
    old = json.dumps([{'keypoints': [[1.0, 2.0]]}])
    out.write_text(old)
    run = _run([sys.executable, REPO_ROOT / 'tools/test.py',
                project['config'], project['ckpt'], '--work-dir',
                project['root'] / 'efbig_work', '--out', out],
               project['root'], preexec_fn=_limited(12 << 10))
    line = _assert_one_line_error(run, 'test.py')
    assert line == ('test.py: error: file too large for the file-size limit '
                    f'(ulimit -f) while writing {out}: raise the limit or '
                    'write a smaller file')
    assert out.read_text() == old
    assert _no_temp_files(out_dir) == []


def test_test_tool_with_workers_under_a_file_size_limit(project):
    """DataLoader workers hand batches over in shared-memory files, which
    a file-size limit stops growing; the main process would then wait for
    the batch forever. Under such a limit the loaders run in the main
    process, with a warning."""
    out = project['root'] / 'workers' / 'metrics.json'
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools/test.py'),
         str(project['config']), str(project['ckpt']), '--work-dir',
         str(project['root'] / 'workers_work'), '--metrics-out', str(out),
         '--cfg-options', 'test_dataloader.num_workers=1',
         'test_dataloader.persistent_workers=False', 'log_level=WARNING',
         # CocoMetric writes a ground-truth file over the limit
         "test_evaluator=[dict(type='CustomPosePCKMetric')]"],
        cwd=str(project['root']), capture_output=True, text=True,
        timeout=120, env=subprocess_env(PYTHONDONTWRITEBYTECODE='1'),
        preexec_fn=_limited(44 << 10))  # below a 128x128 crop's 48 KiB
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'load in the main process (num_workers=0)' in run.stdout + \
        run.stderr
    assert 'EPE' in json.loads(out.read_text())


# ---------------------------------------------------------------------------
# tools/deployment/pytorch2onnx.py
# ---------------------------------------------------------------------------
def test_pytorch2onnx_refuses_outputs_over_its_inputs(project, capsys):
    pytest.importorskip('onnx')
    tool = load_tool('tools/deployment/pytorch2onnx.py')
    config, ckpt = project['config'], project['ckpt']
    before = _snapshot(config, ckpt)
    link = project['root'] / 'ckpt_link.pth'
    if not link.exists():
        link.symlink_to(ckpt)
    for out, what in ((ckpt, 'the checkpoint'), (link, 'the checkpoint'),
                      (config, 'the config')):
        line = _one_line(tool.main, [config, ckpt, '--output', out], capsys)
        source = config if what == 'the config' else ckpt
        assert line == (f'pytorch2onnx.py: error: --output {out} is {what} '
                        f'{source}: writing it would destroy the input; '
                        'give another output file')
    # another existing checkpoint: a file of another kind than ONNX
    other = project['root'] / 'other.pth'
    other.write_bytes(b'weights')
    line = _one_line(tool.main, [config, ckpt, '--output', other], capsys)
    assert line == (f'pytorch2onnx.py: error: --output {other} exists and is '
                    'a checkpoint, not an ONNX model: pass --overwrite to '
                    'replace it, or give another file')
    assert other.read_bytes() == b'weights'
    assert _snapshot(config, ckpt) == before


def test_pytorch2onnx_over_the_file_size_limit(project):
    """A failed export (the file-size limit) leaves the previous model as it
    was and no partial or temporary file."""
    pytest.importorskip('onnx')
    out_dir = project['root'] / 'onnx_efbig'
    out_dir.mkdir()
    out = out_dir / 'model.onnx'
    out.write_bytes(b'the previous model')
    run = _run([sys.executable, REPO_ROOT / 'tools/deployment/pytorch2onnx.py',
                project['config'], project['ckpt'], '--output', out],
               project['root'], preexec_fn=_limited(1 << 20))
    line = _assert_one_line_error(run, 'pytorch2onnx.py')
    assert str(out) in line and 'ulimit -f' in line, line
    assert out.read_bytes() == b'the previous model'
    assert sorted(p.name for p in out_dir.iterdir()) == ['model.onnx']


# ---------------------------------------------------------------------------
# tools/analysis_tools/arena_tracking.py
# ---------------------------------------------------------------------------
def test_arena_tracking_refuses_outputs_over_its_inputs(project, capsys):
    tool = load_tool('tools/analysis_tools/arena_tracking.py')
    config, ckpt = project['config'], project['ckpt']
    before = _snapshot(config, ckpt)
    base = [config, ckpt, '--work-dir', project['root'] / 'arena',
            '--frames', 4, '--size', 64, 48, '--device', 'cpu']
    line = _one_line(tool.main, base + ['--out-json', ckpt], capsys)
    assert line == (f'arena_tracking.py: error: --out-json {ckpt} is the '
                    f'checkpoint {ckpt}: writing it would destroy the input; '
                    'give another output file')
    line = _one_line(tool.main, base + ['--render', config,
                                        '--render-frame', 1], capsys)
    assert line.startswith(f'arena_tracking.py: error: --render {config} is '
                           f'the config {config}: ')
    line = _one_line(tool.main, base + ['--out-json', project['ann']],
                     capsys)
    assert 'is the annotation file of the config' in line
    assert _snapshot(config, ckpt) == before


# ---------------------------------------------------------------------------
# the dataset converters
# ---------------------------------------------------------------------------
def test_converter_other_annotations_need_overwrite(synthetic_root, tmp_path,
                                                    capsys):
    """original2coco.py onto an existing original-format file (not its
    input): refused without --overwrite, replaced with it."""
    tool = load_tool('tools/dataset_converters/original2coco.py')
    source = synthetic_root / 'keypoints.json'
    other = tmp_path / 'keypoints.json'
    shutil.copy(source, other)
    before = other.read_bytes()
    line = _one_line(tool.main, [source, other], capsys)
    assert line == (
        f'original2coco.py: error: output file {other} exists and is an '
        'annotation file, not a COCO keypoint file: pass --overwrite to '
        'replace it, or give another file')
    assert other.read_bytes() == before
    assert tool.main([str(source), str(other), '--overwrite']) == 0
    assert isinstance(json.loads(other.read_text())['images'], list)
    # a COCO file (its own kind) is replaced as it is
    assert tool.main([str(source), str(other), '--split', 'val']) == 0


def test_converter_over_the_file_size_limit_with_bash_ulimit(synthetic_root,
                                                             tmp_path):
    """``ulimit -f 1`` in bash (1 KiB): one line naming the file, the
    previous file kept, no temporary file."""
    out = tmp_path / 'coco.json'
    previous = '{"images": [], "annotations": [], "categories": []}'
    out.write_text(previous)
    script = (f'ulimit -f 1; exec {sys.executable} '
              f'{REPO_ROOT}/tools/dataset_converters/original2coco.py '
              f'{synthetic_root}/keypoints.json {out}')
    run = _run(['bash', '-c', script], tmp_path)
    line = _assert_one_line_error(run, 'original2coco.py')
    assert line == ('original2coco.py: error: file too large for the '
                    f'file-size limit (ulimit -f) while writing {out}: raise '
                    'the limit or write a smaller file')
    assert out.read_text() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ['coco.json']


# ---------------------------------------------------------------------------
# the shared check
# ---------------------------------------------------------------------------
def test_check_outputs_links_folders_and_kinds(tmp_path):
    from custom_pose.errors import InputError
    from custom_pose.utils.cli import (JSON_REPORT, Folder, OutputKind,
                                       check_outputs)
    source = tmp_path / 'labels.json'
    source.write_text('{"images": [], "annotations": []}')
    hard = tmp_path / 'hard.json'
    os.link(source, hard)
    inputs = [('the labels', str(source)), ('the image folder', None)]
    with pytest.raises(InputError, match=r'^--out .*hard.json is the labels '):
        check_outputs([('--out', str(hard), None)], inputs)
    # a folder output: not an input folder, and no file written in it may
    # replace an input
    with pytest.raises(InputError, match='is the image folder'):
        check_outputs([('--dir', str(tmp_path), Folder())],
                      [('the image folder', str(tmp_path))])
    with pytest.raises(InputError, match='writing labels.json there would '
                       'replace the labels'):
        check_outputs([('--dir', str(tmp_path), Folder(('labels.json', )))],
                      inputs)
    # kinds: annotations are no report; a report is replaced
    with pytest.raises(InputError, match='pass --overwrite'):
        check_outputs([('--out-json', str(source), JSON_REPORT)])
    check_outputs([('--out-json', str(source), JSON_REPORT)], overwrite=True)
    report = tmp_path / 'report.json'
    report.write_text('{"mean_px": 1.0}')
    check_outputs([('--out-json', str(report), JSON_REPORT)])
    onnx = OutputKind('an ONNX model', ('.onnx', ))
    check_outputs([('--output', str(tmp_path / 'new.onnx'), onnx)])


def test_one_line_errors_names_the_file_of_efbig(capsys):
    from custom_pose.utils.cli import one_line_errors

    @one_line_errors('tool.py')
    def main():
        raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), 'out.json')

    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    assert capsys.readouterr().err == (
        'tool.py: error: file too large for the file-size limit (ulimit -f) '
        'while writing out.json: raise the limit or write a smaller file\n')
