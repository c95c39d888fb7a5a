"""Runs that survive interruptions:
atomic checkpoints, the fallback to the newest good checkpoint, a full
disk, the work-dir lock and seeded runs that repeat bit for bit."""
import errno
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.fileio.backends import LocalBackend

from conftest import load_tool, small_train_cfg, subprocess_env
from custom_pose.engine import (CheckpointSaveError, CustomPoseRunner,
                                WorkDirLock, WorkDirLockedError, build_runner)
from custom_pose.utils.checkpoint import load_checkpoint_file
from test_train_tools import QUICKSTART, TRAIN, _data_opts

TEMP_GLOB = '.*.pth.*.tmp'


def _epoch(path) -> int:
    return int(load_checkpoint_file(str(path))['meta']['epoch'])


def _last_checkpoint(work) -> str:
    return (work / 'last_checkpoint').read_text().strip()


def _wait_for(condition, proc, what, timeout=300, poll=0.05):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f'the run ended before {what}'
        assert time.time() < deadline, f'no {what} after {timeout} s'
        time.sleep(poll)


def _lock_record(work):
    try:
        text = (work / 'train.lock').read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def _one_error_line(stderr: str) -> str:
    assert 'Traceback' not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ': error: ' in line]
    assert len(errors) == 1 and errors[0] == lines[-1], stderr[-3000:]
    return errors[0]


@pytest.mark.slow
def test_kill_while_a_checkpoint_is_written_then_resume(
        tmp_path, config_path, tiny_root):
    """Run A trains; run B in the same work dir stops with one line naming
    A; A is SIGKILLed while a checkpoint file grows: the previous checkpoint
    and last_checkpoint survive (mmengine deleted the previous one first),
    and --resume takes A's lock over and trains to the end."""
    work = tmp_path / 'work'
    args = [TRAIN, config_path(QUICKSTART), '--work-dir', str(work),
            '--cfg-options', *_data_opts(tiny_root),
            'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=1']
    with open(tmp_path / 'a.log', 'w') as log:
        run_a = subprocess.Popen(
            [sys.executable] + args + ['train_cfg.max_epochs=1000'],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: (_lock_record(work) or {}).get('pid') == run_a.pid,
                  run_a, 'the lock of run A')
        # run B: same work dir, other options -> one line naming run A
        run_b = subprocess.run(
            [sys.executable] + args + ['train_cfg.max_epochs=999'],
            cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert run_b.returncode == 1
        line = _one_error_line(run_b.stderr)
        assert re.fullmatch(
            rf'train\.py: error: work dir {re.escape(str(work))} is in use by '
            rf'another training: pid {run_a.pid} on host '
            rf'{re.escape(socket.gethostname())}, started '
            r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(train\.py .+\)\. Wait for it to '
            r'finish or stop it, or train in another --work-dir', line), line
        # B wrote no checkpoint and left A's config dump alone
        assert 'max_epochs=1000' in (
            work / 'custom_res18_quickstart_synthetic_128x128.py').read_text()

        # kill A as soon as a new epoch checkpoint starts to be written
        state = {}

        def writing():
            for tmp in work.glob('.epoch_*.pth.*.tmp'):
                step = int(re.match(r'\.epoch_(\d+)\.pth', tmp.name).group(1))
                try:
                    grows = tmp.stat().st_size > 0
                except FileNotFoundError:  # renamed meanwhile
                    continue
                if step >= 2 and grows:
                    state['tmp'], state['step'] = tmp, step
                    return True
            return False

        _wait_for(writing, run_a, 'a checkpoint being written', poll=0.001)
        run_a.send_signal(signal.SIGKILL)
        run_a.wait(timeout=60)
    finally:
        if run_a.poll() is None:
            run_a.kill()
    assert run_a.returncode == -signal.SIGKILL
    step = state['step']

    # a resumable checkpoint survived, and last_checkpoint names it
    last = _last_checkpoint(work)
    assert last in (str(work / f'epoch_{step - 1}.pth'),
                    str(work / f'epoch_{step}.pth'))  # a re-save after best
    resumed_epoch = _epoch(last)
    assert resumed_epoch in (step - 1, step)
    assert list(work.glob(TEMP_GLOB))  # the interrupted write
    assert _lock_record(work)['pid'] == run_a.pid  # A never released it

    # --resume: takes the dead run's lock over, continues, finishes
    final = resumed_epoch + 1
    out = subprocess.run(
        [sys.executable] + args + [f'train_cfg.max_epochs={final}',
                                   '--resume'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert (f'took over the lock of {work} from a run that ended without '
            f'releasing it: pid {run_a.pid} on host') in log
    assert f'Auto resumed from the latest checkpoint {last}' in log
    assert _last_checkpoint(work) == str(work / f'epoch_{final}.pth')
    ckpt = load_checkpoint_file(str(work / f'epoch_{final}.pth'))
    assert ckpt['meta']['epoch'] == final and ckpt['meta']['iter'] == final
    assert sorted(p.name for p in work.glob('epoch_*.pth')) == [
        f'epoch_{final}.pth']  # max_keep_ckpts=1, after the new one
    assert not list(work.glob(TEMP_GLOB))  # cleaned up
    assert _lock_record(work) is None  # released


def _limit_file_size(limit):

    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a kill

    return preexec


@pytest.mark.slow
def test_full_disk_keeps_the_previous_checkpoint(tmp_path, config_path,
                                                 tiny_root):
    """A checkpoint that cannot be written (a file size limit here, a full
    disk in the field) ends the run with one line; the previous checkpoint
    and last_checkpoint are untouched and no partial file is left."""
    work = tmp_path / 'work'
    args = [TRAIN, config_path(QUICKSTART), '--work-dir', str(work),
            '--no-validate', '--cfg-options', *_data_opts(tiny_root),
            'default_hooks.checkpoint.interval=1']
    out = subprocess.run([sys.executable] + args + ['train_cfg.max_epochs=1'],
                         cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    first = work / 'epoch_1.pth'
    before = first.read_bytes()
    assert len(before) > 10_000_000  # more than the limit below

    out = subprocess.run(
        [sys.executable] + args + ['train_cfg.max_epochs=2', '--resume'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        preexec_fn=_limit_file_size(10_000_000))
    assert out.returncode == 1, out.stderr[-3000:]
    line = _one_error_line(out.stderr)
    assert line == (
        f'train.py: error: cannot write checkpoint {work}/epoch_2.pth: File '
        f'too large; nothing was replaced ({first} is intact). Raise the '
        'file size limit (ulimit -f) and continue with --resume')
    assert first.read_bytes() == before
    assert _last_checkpoint(work) == str(first)
    assert not (work / 'epoch_2.pth').exists()
    assert not list(work.glob(TEMP_GLOB))


@pytest.fixture
def tiny_cfg(config_path, tiny_root, tmp_path):

    def make(work, **kw):
        cfg = Config.fromfile(config_path(QUICKSTART))
        small_train_cfg(cfg, tiny_root, work, batch_size=1)
        cfg.randomness = dict(seed=0)
        cfg.update(kw)
        return cfg

    return make


class _RisingScore(BaseMetric):
    """A metric that improves at every evaluation: 1, 2, 3, ..."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return {'score': float(self.calls)}


def test_failed_best_checkpoint_keeps_the_previous_best(tiny_cfg, tmp_path,
                                                        monkeypatch):
    """mmengine removes the previous best checkpoint before it writes the
    new one; here a write that fails (a full disk, injected into the file
    backend) leaves the previous best in place."""
    from mmpose.registry import METRICS
    METRICS.register_module('_RisingScore', module=_RisingScore, force=True)
    work = tmp_path / 'work'
    cfg = tiny_cfg(work, val_evaluator=dict(type='_RisingScore'))
    cfg.train_cfg.update(max_epochs=2, val_interval=1)
    cfg.default_hooks.checkpoint.update(save_best='score', rule='greater')
    runner = build_runner(cfg)
    assert isinstance(runner, CustomPoseRunner)

    put = LocalBackend.put

    def disk_full_at_second_best(self, obj, filepath):
        if 'best_score_epoch_2' in str(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 3])  # part of it, then no space
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', disk_full_at_second_best)
    with pytest.raises(CheckpointSaveError) as exc:
        runner.train()
    assert str(exc.value) == (
        f'cannot write checkpoint {work}/best_score_epoch_2.pth: No space '
        f'left on device; nothing was replaced ({work}/epoch_2.pth is '
        'intact). Free some space and continue with --resume')
    best = work / 'best_score_epoch_1.pth'
    assert _epoch(best) == 1
    assert not (work / 'best_score_epoch_2.pth').exists()
    assert not list(work.glob(TEMP_GLOB))
    assert _last_checkpoint(work) == str(work / 'epoch_2.pth')
    assert WorkDirLock(str(work)).holder() is None  # released on the error


def test_resume_adopts_a_best_checkpoint_written_after_the_latest(
        tiny_cfg, tmp_path):
    """mmengine writes the best checkpoint after the epoch's checkpoint,
    then saves the epoch's checkpoint again to record it. Killed in between,
    the resumed run would not know that best file: it stayed behind as a
    second best file. Here it is adopted, with its score."""
    from mmpose.registry import METRICS
    METRICS.register_module('_RisingScore', module=_RisingScore, force=True)
    work = tmp_path / 'work'

    def run(max_epochs, resume):
        cfg = tiny_cfg(work, val_evaluator=dict(type='_RisingScore'),
                       resume=resume)
        cfg.train_cfg.update(max_epochs=max_epochs, val_interval=1)
        cfg.default_hooks.checkpoint.update(save_best='score',
                                            rule='greater')
        build_runner(cfg).train()

    run(1, False)
    latest = work / 'epoch_1.pth'
    ckpt = torch.load(latest, map_location='cpu', weights_only=False)
    info = ckpt['message_hub']['runtime_info']
    assert info['best_ckpt'] == str(work / 'best_score_epoch_1.pth')
    del info['best_ckpt'], info['best_score']  # as before the second save
    torch.save(ckpt, latest)

    # a fresh metric scores 1 (epoch 2: not better than the adopted 1),
    # then 2 (epoch 3: the new best, which replaces the adopted one)
    run(3, True)
    assert sorted(p.name for p in work.glob('best_*.pth')) == [
        'best_score_epoch_3.pth'
    ]
    log = sorted(work.glob('*/*.log'))[-1].read_text()
    assert (f'adopted {work}/best_score_epoch_1.pth (score 1.0000) as the '
            'best checkpoint') in log, log[-3000:]


def test_resume_falls_back_from_a_corrupt_latest_checkpoint(
        config_path, tiny_root, tmp_path):
    """--resume without a path: a truncated latest checkpoint is skipped
    with a warning and the newest readable one is resumed."""
    train = load_tool(TRAIN).main
    work = tmp_path / 'work'
    args = [config_path(QUICKSTART), '--work-dir', str(work), '--no-validate',
            '--cfg-options', *_data_opts(tiny_root),
            'train_dataloader.batch_size=1',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=2']
    assert train(args + ['train_cfg.max_epochs=2']) == 0
    latest = work / 'epoch_2.pth'
    assert _last_checkpoint(work) == str(latest)
    data = latest.read_bytes()
    latest.write_bytes(data[:len(data) // 2])  # a disk fault, a copy cut off

    assert train(args + ['train_cfg.max_epochs=3', '--resume']) == 0
    logs = sorted(work.glob('*/*.log'))
    log = logs[-1].read_text()
    assert re.search(
        rf'--resume: skipped 1 unreadable checkpoint\(s\) \({latest} '
        r'\(cannot load checkpoint .+ the file is truncated or corrupt .+\)\);'
        rf' resumed from {work}/epoch_1\.pth, the newest good checkpoint, '
        'instead', log), log[-3000:]
    ckpt = load_checkpoint_file(str(work / 'epoch_3.pth'))
    # 2 images at batch 1: epoch 1 (2 iterations) + epochs 2 and 3 again
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 6


def test_work_dir_lock_two_processes(tmp_path):
    """A live holder in another process blocks; once it is killed its lock
    is taken over and its record reported."""
    work = tmp_path / 'work'
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import sys, time\n'
         'from custom_pose.engine.work_dir_lock import WorkDirLock\n'
         'WorkDirLock(sys.argv[1]).acquire()\n'
         'print("held", flush=True)\n'
         'time.sleep(600)\n', str(work)],
        stdout=subprocess.PIPE, text=True,
        env=subprocess_env())
    try:
        assert holder.stdout.readline().strip() == 'held'
        lock = WorkDirLock(str(work))
        with pytest.raises(WorkDirLockedError) as exc:
            lock.acquire()
        assert f'is in use by another training: pid {holder.pid} on host ' \
            f'{socket.gethostname()}, started ' in str(exc.value)
        assert not lock.held
        assert lock.holder()['pid'] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    stale = lock.acquire()
    assert stale['pid'] == holder.pid  # the killed run's record
    assert lock.held
    assert json.loads((work / 'train.lock').read_text())['pid'] == os.getpid()
    with pytest.raises(WorkDirLockedError):  # one holder, also in-process
        WorkDirLock(str(work)).acquire()
    lock.release()
    assert WorkDirLock(str(work)).holder() is None
    again = WorkDirLock(str(work))
    assert again.acquire() is None  # released cleanly: nothing stale
    again.release()


@pytest.fixture
def restore_determinism():
    """--deterministic switches torch's global flags on: restore them."""
    flags = (torch.are_deterministic_algorithms_enabled(),
             torch.backends.cudnn.deterministic,
             torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = \
        flags[1:]


def test_seeded_runs_repeat_bit_for_bit(config_path, tiny_root, tmp_path,
                                        restore_determinism):
    """Two runs with --seed 0 --deterministic (random flips, half-body and
    box jitter on) give identical weights and optimizer state; another seed
    gives other weights."""
    train = load_tool(TRAIN).main
    ckpts = []
    for name, seed in (('a', 0), ('b', 0), ('c', 1)):
        work = tmp_path / name
        assert train([
            config_path(QUICKSTART), '--work-dir', str(work), '--seed',
            str(seed), '--deterministic', '--no-validate', '--cfg-options',
            *_data_opts(tiny_root), 'train_dataloader.batch_size=1',
            'train_cfg.max_epochs=2', 'default_hooks.checkpoint.interval=2'
        ]) == 0
        ckpts.append(torch.load(work / 'epoch_2.pth', map_location='cpu'))
    a, b, c = ckpts
    assert a['meta']['iter'] == 4 and a['meta']['seed'] == 0
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    for k, state in a['optimizer']['state'].items():
        assert torch.equal(state['exp_avg'],
                           b['optimizer']['state'][k]['exp_avg'])
    assert c['meta']['seed'] == 1
    assert not all(
        torch.equal(value, c['state_dict'][key])
        for key, value in a['state_dict'].items())
