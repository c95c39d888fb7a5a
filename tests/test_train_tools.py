"""tools/train.py and tools/test.py: resume, robustness, error messages."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from conftest import REPO_ROOT, load_tool, small_train_cfg

QUICKSTART = 'animal/custom_res18_quickstart_synthetic_128x128.py'
TRAIN = str(REPO_ROOT / 'tools' / 'train.py')
TEST = str(REPO_ROOT / 'tools' / 'test.py')


def _tiny_cfg(config_path, data_root, work_dir, **kw):
    cfg = Config.fromfile(config_path(QUICKSTART))
    small_train_cfg(cfg, data_root, work_dir, **kw)
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] not in ('RandomFlip', 'RandomHalfBody', 'RandomBBoxTransform')]
    cfg.randomness = dict(seed=0)
    return cfg


def _adam_state(runner):
    state = runner.optim_wrapper.optimizer.state_dict()['state']
    return {k: {n: v.clone() if torch.is_tensor(v) else v for n, v in s.items()}
            for k, s in state.items()}


def test_resume_round_trip(tmp_path, config_path, tiny_root):
    """Train 2 iterations, stop, resume, train to 4: the iteration counter,
    optimizer state and LR schedule continue where they stopped."""
    # reference: 4 iterations in one go
    ref = _tiny_cfg(config_path, tiny_root, tmp_path / 'ref', batch_size=1)
    ref.train_cfg.max_epochs = 2
    ref_runner = Runner.from_cfg(ref)
    ref_runner.train()
    assert ref_runner.iter == 4
    ref_lr = ref_runner.optim_wrapper.get_lr()['lr'][0]

    # first half: 2 iterations (one epoch of 2 images at batch 1)
    cfg = _tiny_cfg(config_path, tiny_root, tmp_path / 'run', batch_size=1)
    cfg.train_cfg.max_epochs = 1
    first = Runner.from_cfg(cfg)
    first.train()
    assert first.iter == 2
    saved_state = _adam_state(first)
    saved_lr = first.optim_wrapper.get_lr()['lr'][0]
    ckpt = tmp_path / 'run' / 'epoch_1.pth'
    assert ckpt.is_file()

    # resume in a new runner (weights_only loading, as torch >= 2.6 does)
    cfg = _tiny_cfg(config_path, tiny_root, tmp_path / 'run', batch_size=1)
    cfg.train_cfg.max_epochs = 2
    cfg.resume = True
    cfg.load_from = str(ckpt)
    second = Runner.from_cfg(cfg)

    class Probe(Hook):
        """Records the state train() starts from, right after resuming."""

        def before_train(self, runner):
            self.iter, self.epoch = runner.iter, runner.epoch
            self.lr = runner.optim_wrapper.get_lr()['lr'][0]
            self.state = _adam_state(runner)

    probe = Probe()
    second.register_hook(probe)
    second.train()
    assert probe.iter == 2 and probe.epoch == 1
    assert probe.lr == pytest.approx(saved_lr)
    assert probe.state.keys() == saved_state.keys()
    for k in saved_state:
        assert probe.state[k]['step'] == saved_state[k]['step'] == 2
        assert torch.equal(probe.state[k]['exp_avg'], saved_state[k]['exp_avg'])
    assert second.iter == 4
    assert _adam_state(second)[0]['step'] == 4
    assert second.optim_wrapper.get_lr()['lr'][0] == pytest.approx(ref_lr)
    assert second.param_schedulers[0].last_step == \
        ref_runner.param_schedulers[0].last_step


def _run(args, cwd, timeout=600):
    return subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _data_opts(root):
    # data_root=...: the config's top-level data_root reaches its loaders
    return [f'data_root={root}'] + [
        f'{k}.{n}={v}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        for n, v in (('num_workers', 0), ('persistent_workers', False),
                     ('batch_size', 2), ('dataset.split_ratio', 0.5))] + [
        'default_hooks.logger.interval=1', 'log_processor.window_size=1']


@pytest.mark.slow
def test_sigkill_then_resume_finishes(tmp_path, config_path, synthetic_root):
    work = tmp_path / 'work'
    args = [TRAIN, config_path(QUICKSTART), '--work-dir', str(work),
            '--cfg-options', *_data_opts(synthetic_root),
            'train_cfg.max_epochs=3', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1']
    proc = subprocess.Popen([sys.executable] + args, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (work / 'epoch_1.pth').exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (work / 'epoch_3.pth').exists()

    out = _run(args + ['--resume'], cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    # 10 train images at batch 2: 5 iterations an epoch, 3 epochs
    ckpt = torch.load(work / 'epoch_3.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 15 and ckpt['meta']['epoch'] == 3
    best = sorted(work.glob('best_coco_AP_epoch_*.pth'))
    assert len(best) == 1
    best_ckpt = torch.load(best[0], map_location='cpu')
    assert 'state_dict' in best_ckpt
    assert 'Resumed' in out.stdout + out.stderr or 'resumed' in out.stdout + out.stderr


def test_nan_loss_stops_with_iteration(tmp_path, config_path, tiny_root):
    work = tmp_path / 'work'
    out = _run([TRAIN, config_path(QUICKSTART), '--work-dir', str(work),
                '--cfg-options', *_data_opts(tiny_root),
                'model.head.loss.loss_weight=nan'], cwd=tmp_path)
    assert out.returncode != 0
    assert 'Traceback' not in out.stderr
    assert 'at iteration 1 ' in out.stderr, out.stderr[-2000:]
    assert not list(work.glob('*.pth')), 'a broken checkpoint was written'


def test_missing_dataset_says_what_and_how(tmp_path, config_path):
    missing = tmp_path / 'no_such_data'
    out = _run([TRAIN, config_path(QUICKSTART), '--work-dir',
                str(tmp_path / 'w'), '--cfg-options', *_data_opts(missing)],
               cwd=tmp_path)
    assert out.returncode != 0
    assert 'Traceback' not in out.stderr
    assert str(missing) in out.stderr
    assert 'make_synthetic_animalpose.py' in out.stderr


@pytest.mark.parametrize('option,message', [
    ('modle.backbone.depth=50', "no 'modle' (did you mean 'model'?)"),
    ('model.backbone.dpth.x=1', "no 'model.backbone.dpth'"),
    ('train_dataloader.batch_size=abc', 'expected a number'),
    ('param_scheduler.7.begin=0', 'indexes a list of 2 items'),
])
def test_wrong_cfg_options(tmp_path, config_path, option, message):
    out = _run([TRAIN, config_path(QUICKSTART), '--cfg-options', option],
               cwd=tmp_path)
    assert out.returncode != 0
    assert 'Traceback' not in out.stderr
    assert message in out.stderr


def test_gpus_without_gpu_says_so(tmp_path, config_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has a GPU')  # the check is for CPU machines
    out = _run([TRAIN, config_path(QUICKSTART), '--gpus', '1'], cwd=tmp_path)
    assert out.returncode != 0
    assert 'no CUDA GPU is available' in out.stderr


def _pck_and_epe(records, config, data_root) -> dict:
    """EPE and PCK@0.1 of prediction records (``--out``) against the val
    split of ``data_root`` as the config's dataset reads it."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    ds_cfg = Config.fromfile(config).val_dataloader.dataset
    ds_cfg.update(data_root=str(data_root), split_ratio=0.5, pipeline=[])
    dataset = DATASETS.build(ds_cfg)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    gt = {int(info['id']): info for info in infos}
    assert sorted(int(r['id']) for r in records) == sorted(gt)
    dist, norm = [], []
    for record in records:
        info = gt[int(record['id'])]
        vis = info['keypoints_visible'][0] > 0
        d = np.linalg.norm(
            np.asarray(record['keypoints'])[vis] - info['keypoints'][0][vis],
            axis=1)
        x1, y1, x2, y2 = info['bbox'][0]
        dist.append(d)
        norm.append(d / max(x2 - x1, y2 - y1))
    dist, norm = np.concatenate(dist), np.concatenate(norm)
    return {'EPE': float(dist.mean()), 'PCK@0.1': float((norm < 0.1).mean())}


@pytest.mark.slow
def test_train_then_test_tool(tmp_path, config_path, tiny_root):
    """CPU training through the CLI, then tools/test.py with --out."""
    work = tmp_path / 'work'
    out = _run([TRAIN, config_path(QUICKSTART), '--work-dir', str(work),
                '--cfg-options', *_data_opts(tiny_root),
                'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'],
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'training on the CPU' in out.stdout + out.stderr
    ckpt = work / 'epoch_1.pth'
    preds = tmp_path / 'preds.json'
    metrics = tmp_path / 'metrics.json'
    out = _run([TEST, config_path(QUICKSTART), str(ckpt), '--work-dir',
                str(tmp_path / 'test'), '--out', str(preds), '--metrics-out',
                str(metrics), '--show-dir', 'vis', '--kpt-thr', '0',
                '--cfg-options', *_data_opts(tiny_root)],
               cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    records = json.loads(preds.read_text())
    assert len(records) >= 1
    # --show-dir: one drawing per instance, in <work-dir>/<timestamp>/vis,
    # named as mmpose names them, with the prediction drawn on the image
    drawn = sorted((tmp_path / 'test').glob('*/vis/*'))
    assert len(drawn) == len(records)
    for path in drawn:
        stem, index = path.stem.rsplit('_', 1)
        assert index.isdigit()
        source = cv2.imread(str(tiny_root / 'images' / (stem + path.suffix)))
        image = cv2.imread(str(path))
        assert image.shape == source.shape
        assert (np.abs(image.astype(int) - source).max(axis=2) > 60).mean() \
            > 0.001
    assert len(records[0]['keypoints']) == 20
    values = json.loads(metrics.read_text())
    assert 'coco/AP' in values
    # the metrics are those of the --out predictions, scored here against
    # the dataset's ground truth (PCK of the larger box side)
    expected = _pck_and_epe(records, config_path(QUICKSTART), tiny_root)
    assert values['EPE'] == pytest.approx(expected['EPE'], rel=1e-4)
    assert values['PCK@0.1'] == pytest.approx(expected['PCK@0.1'])


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path, config_path, tiny_root):
    """tools/dist_train.sh: torchrun + mmengine's launcher, 2 gloo processes."""
    import socket
    with socket.socket() as s:  # a free port on the loopback interface
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    work = tmp_path / 'work'
    env = dict(os.environ, PORT=str(port), PYTHON=sys.executable)
    out = subprocess.run(
        ['bash', str(REPO_ROOT / 'tools' / 'dist_train.sh'),
         config_path(QUICKSTART), '2', '--work-dir', str(work),
         '--cfg-options', *_data_opts(tiny_root), 'train_dataloader.batch_size=1',
         'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    assert "launcher = 'pytorch'" in log
    # 2 train images, batch 1 per process, 2 processes: one iteration each
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 1
    assert 'coco/AP' in log and 'PCK@0.1' in log  # validated
    assert len(list(work.glob('best_coco_AP_epoch_1.pth'))) == 1


# ---------------------------------------------------------------------------
# one-line errors of tools/train.py and tools/test.py
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def tools():
    return dict(train=load_tool(TRAIN), test=load_tool(TEST))


def _one_line_error(main, argv, capsys, code=1):
    """Run a tool's ``main(argv)``; it must stop with ``code`` and end with
    one ``<prog>: error:`` line (and print no other). Returns that line."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == code, err[-2000:]
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ': error: ' in line]
    assert len(errors) == 1 and errors[0] == lines[-1], err[-2000:]
    return errors[0]


def test_train_config_errors(tools, tmp_path, config_path, capsys):
    main = tools['train'].main
    (tmp_path / 'broken.py').write_text('model = dict(\n')
    (tmp_path / 'child.py').write_text("_base_ = ['./broken.py']\n")
    (tmp_path / 'orphan.py').write_text("_base_ = ['./gone.py']\n")
    line = _one_line_error(main, [str(tmp_path / 'child.py')], capsys)
    assert line == (f"train.py: error: syntax error in {tmp_path / 'broken.py'}"
                    f" (a _base_ of config {tmp_path / 'child.py'}), line 1: "
                    "'(' was never closed")
    line = _one_line_error(main, [str(tmp_path / 'orphan.py')], capsys)
    assert line.endswith(f"the _base_ file {tmp_path / 'gone.py'} does not "
                         'exist')
    line = _one_line_error(main, [str(tmp_path / 'none.py')], capsys)
    assert line == f"train.py: error: config file not found: {tmp_path / 'none.py'}"


@pytest.mark.parametrize('option,message', [
    ('train_dataloader.batch_sise=4',
     "DataLoader takes no argument 'batch_sise' (did you mean 'batch_size'?)"),
    ('train_cfg.max_epochs=1.5', 'expected a whole number >= 1'),
    ('train_dataloader.batch_size=-1', 'batch_size=-1: must be >= 1'),
])
def test_train_option_value_errors(tools, config_path, tmp_path, capsys,
                                   option, message):
    line = _one_line_error(tools['train'].main, [
        config_path(QUICKSTART), '--work-dir', str(tmp_path / 'w'),
        '--cfg-options', option], capsys)
    assert message in line
    assert not (tmp_path / 'w').exists()  # stopped before any work


def test_work_dir_and_outputs_checked_first(tools, config_path, tmp_path,
                                            capsys):
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    ckpt = tmp_path / 'some.pth'
    torch.save({'state_dict': {}}, ckpt)
    cfg = config_path(QUICKSTART)
    line = _one_line_error(tools['train'].main,
                           [cfg, '--work-dir', str(a_file)], capsys)
    assert line == f'train.py: error: --work-dir {a_file} is a file, not a folder'
    line = _one_line_error(tools['test'].main,
                           [cfg, str(ckpt), '--work-dir', str(a_file / 'x')],
                           capsys)
    assert f'{a_file} is a file, not a folder' in line
    work = tmp_path / 'eval'
    for option, path, message in (
            ('--out', a_file / 'preds.json', 'is a file, not a folder'),
            ('--metrics-out', tmp_path, 'is a folder, not a file')):
        line = _one_line_error(
            tools['test'].main,
            [cfg, str(ckpt), '--work-dir', str(work), option, str(path)],
            capsys)
        assert line.startswith(f'test.py: error: {option} ') and message in line
        assert not work.exists()  # before any evaluation


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tiny_root):
    """A quickstart (ResNet-18, 20 keypoints) checkpoint of a real run
    (1 epoch, 2 iterations), a weights-only copy, and broken files."""
    from conftest import CONFIG_DIR
    root = tmp_path_factory.mktemp('trained')
    cfg = Config.fromfile(str(CONFIG_DIR / QUICKSTART))
    small_train_cfg(cfg, tiny_root, root / 'run', batch_size=1)
    cfg.train_cfg.max_epochs = 1
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.pop('save_best', None)
    Runner.from_cfg(cfg).train()
    files = dict(ckpt=root / 'run' / 'epoch_1.pth')
    ckpt = torch.load(files['ckpt'], map_location='cpu')
    files['weights_only'] = root / 'weights_only.pth'
    torch.save(ckpt['state_dict'], files['weights_only'])
    # the same run as if trained on 17 keypoints: the config (20, like its
    # data) is consistent, the file is not
    head = 'head.final_layer.'
    ckpt['state_dict'] = {k: v[:17] if k.startswith(head) else v
                          for k, v in ckpt['state_dict'].items()}
    ckpt['meta']['dataset_meta'] = dict(ckpt['meta']['dataset_meta'],
                                        num_keypoints=17)
    files['ckpt17'] = root / 'epoch_1_17_keypoints.pth'
    torch.save(ckpt, files['ckpt17'])
    files['weights_only17'] = root / 'weights_only_17_keypoints.pth'
    torch.save(ckpt['state_dict'], files['weights_only17'])
    data = files['ckpt'].read_bytes()
    files['truncated'] = root / 'truncated.pth'
    files['truncated'].write_bytes(data[:len(data) // 2])
    files['empty'] = root / 'empty.pth'
    files['empty'].write_bytes(b'')
    return files


# (a head of another count than the data's is refused when the config is
# loaded, test_custom_keypoint_tools.py; here the checkpoint's count differs)
@pytest.mark.parametrize('tool,which,extra,message', [
    # tools/test.py evaluated random weights with AP 0.000 and exit 0 here
    ('test', 'ckpt', ['model.backbone.depth=50', 'model.head.in_channels=2048'],
     'backbone: a ResNet-18 in the file, a ResNet-50 in the model'),
    ('test', 'ckpt17', [],
     "was trained with 17 keypoints (dataset 'animalpose') but the model of "
     f'{REPO_ROOT}/configs/{QUICKSTART} predicts 20'),
    ('train-load_from', 'ckpt', ['model.backbone.depth=34'],
     'backbone: a ResNet-18 in the file, a ResNet-34 in the model'),
    ('train-resume', 'ckpt17', [],
     "was trained with 17 keypoints (dataset 'animalpose') but the model of "
     f'{REPO_ROOT}/configs/{QUICKSTART} predicts 20'),
    ('train-load_from', 'ckpt17', [], 'was trained with 17 keypoints'),
    ('train-resume', 'ckpt',
     ['model.backbone.depth=50', 'model.head.in_channels=2048'],
     'backbone: a ResNet-18 in the file, a ResNet-50 in the model'),
])
def test_strict_loading_in_the_tools(tools, trained, config_path, tiny_root,
                                     tmp_path, capsys, tool, which, extra,
                                     message):
    ckpt = str(trained[which])
    opts = ['--cfg-options', *_data_opts(tiny_root), *extra]
    work = ['--work-dir', str(tmp_path / 'w')]
    if tool == 'test':
        main, argv = tools['test'].main, [config_path(QUICKSTART), ckpt]
    elif tool == 'train-load_from':
        main, argv = tools['train'].main, [config_path(QUICKSTART)]
        opts.append(f'load_from={ckpt}')
    else:
        main, argv = tools['train'].main, [config_path(QUICKSTART),
                                           '--resume', ckpt]
    line = _one_line_error(main, argv + work + opts, capsys)
    prog = 'test.py' if tool == 'test' else 'train.py'
    assert line.startswith(f'{prog}: error: ')
    assert ckpt in line and message in line
    assert not list((tmp_path / 'w').glob('*.pth'))  # nothing trained


def test_weights_only_checkpoint_without_meta(tools, trained, config_path,
                                              tiny_root, tmp_path, capsys):
    """No metainfo in the file: the keypoint count is read from the shape
    of the head's last layer."""
    line = _one_line_error(tools['test'].main, [
        config_path(QUICKSTART), str(trained['weights_only17']), '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *_data_opts(tiny_root)], capsys)
    assert line.startswith(
        f"test.py: error: keypoint-count mismatch: checkpoint "
        f"{trained['weights_only17']} predicts 17 keypoints "
        '(head.final_layer.')
    assert line.endswith(f'but the model of {config_path(QUICKSTART)} '
                         'predicts 20')
    # and --resume needs the training state
    line = _one_line_error(tools['train'].main, [
        config_path(QUICKSTART), '--resume', str(trained['weights_only']),
        '--work-dir', str(tmp_path / 'w'), '--cfg-options',
        *_data_opts(tiny_root)], capsys)
    assert 'cannot be resumed: it has no training state' in line
    assert f"load_from={trained['weights_only']}" in line


@pytest.mark.parametrize('which,message', [
    ('truncated', 'the file is truncated or corrupt'),
    ('empty', 'is empty (0 bytes)'),
    ('missing', 'not found'),
])
def test_bad_resume_file(tools, trained, config_path, tiny_root, tmp_path,
                         capsys, which, message):
    path = trained.get(which, tmp_path / 'missing.pth')
    line = _one_line_error(tools['train'].main, [
        config_path(QUICKSTART), '--resume', str(path), '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *_data_opts(tiny_root)], capsys)
    assert str(path) in line and message in line


def test_resume_of_a_good_checkpoint_still_works(tools, trained, config_path,
                                                 tiny_root, tmp_path):
    """The strict loader and torch's weights_only loading let mmengine's
    resume continue where the run stopped."""
    work = tmp_path / 'w'
    assert tools['train'].main([
        config_path(QUICKSTART), '--resume', str(trained['ckpt']),
        '--work-dir', str(work), '--no-validate', '--cfg-options',
        *_data_opts(tiny_root), 'train_dataloader.batch_size=1',
        'train_cfg.max_epochs=2', 'default_hooks.checkpoint.interval=1'
    ]) == 0
    ckpt = torch.load(work / 'epoch_2.pth', map_location='cpu')
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 4


@pytest.mark.slow
def test_ctrl_c_says_where_to_continue(tmp_path, config_path, tiny_root):
    work = tmp_path / 'work'
    proc = subprocess.Popen(
        [sys.executable, TRAIN, config_path(QUICKSTART), '--work-dir',
         str(work), '--no-validate', '--cfg-options', *_data_opts(tiny_root),
         'train_dataloader.batch_size=1', 'train_cfg.max_epochs=1000',
         'default_hooks.checkpoint.interval=1',
         'default_hooks.checkpoint.max_keep_ckpts=-1'],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 300
        while not (work / 'last_checkpoint').exists():  # one to name
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.time() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    match = re.fullmatch(
        r'train\.py: error: interrupted at iteration (\d+); continue with '
        r'--resume \(from (.+)\)', lines[-1])
    assert match, lines[-3:]
    assert int(match.group(1)) >= 3  # 2 iterations an epoch, epoch 1 done
    assert match.group(2).endswith('.pth') and os.path.isfile(match.group(2))
