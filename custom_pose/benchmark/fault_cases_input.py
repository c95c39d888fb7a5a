# Copyright (c) custom_pose contributors. All rights reserved.
"""The cases of :mod:`.fault_probe` about bad input: silently wrong
results, tracebacks, unclear messages, and faults that held before (kept
as regressions)."""
import os
import os.path as osp
import random
import re
import shutil
import signal
import subprocess
import time

from .fault_probe import (CFG, DEMO, PY, ROOT, TEST, TRAIN, Result, case,
                          error_line, generate, json_ok, manifest_of,
                          no_traceback, one_line, outputs_whole, run,
                          run_demo, write_config)


# ----------------------------------------------------------- silently wrong
@case('silently wrong', '--resume a checkpoint with 4 KB of random bytes')
def _(p):
    bad = p.p('damaged.pth')
    shutil.copy(p.checkpoint(p.p('exp1_as_trained'), 'epoch_'), bad)
    size = osp.getsize(bad)
    with open(bad, 'r+b') as f:
        f.seek(size // 2)
        f.write(random.Random(0).randbytes(4096))
    r = run([TRAIN, CFG, '--work-dir', p.p('wd', 'damaged'), '--resume',
             bad] + p.opts + ['train_cfg.max_epochs=2'])
    return Result(one_line(r) and 'damaged' in error_line(r),
                  error_line(r))


@case('silently wrong', '--resume best_*.pth (no optimizer state)')
def _(p):
    r = run([TRAIN, CFG, '--work-dir', p.p('wd', 'best'), '--resume',
             p.checkpoint(p.run_copy('exp1_c'), 'best_')] + p.opts +
            p.schedule + ['train_cfg.max_epochs=3'])
    said = 'holds no optimizer' in r.out + r.err
    return Result(said and no_traceback(r), error_line(r) or f'rc={r.rc}')


@case('silently wrong', 'misspelled top-level key trian_cfg')
def _(p):
    cfg = write_config(p, 'typo.py', f'_base_ = [{CFG!r}]\n'
                       'trian_cfg = dict(max_epochs=1)\n')
    r = run([TRAIN, cfg, '--work-dir', p.p('wd', 'typo')] + p.opts)
    return Result(one_line(r) and 'train_cfg' in error_line(r),
                  error_line(r))


@case('silently wrong', '--cfg-options data_root="/a b/c d"')
def _(p):
    r = run([TEST, CFG, p.p('model.pth'), '--cfg-options',
             'data_root=/a b/c d'])
    return Result(one_line(r) and '/a b/c d' in error_line(r),
                  error_line(r))


@case('silently wrong', '--smooth-param beta=nan')
def _(p):
    out = p.p('demo_nan')
    r = run_demo(p, out, '--smooth', 'oneeuro', '--smooth-param', 'beta=nan')
    if r.rc == 0:
        return Result(not outputs_whole(out), 'accepted; JSON checked')
    return Result(one_line(r), error_line(r))


@case('silently wrong', '--batch-size 100000 under a 400 MiB budget')
def _(p):
    """Peak RSS growth of the video demo over a batch-1 run, against the
    25 % share of the available memory it states."""
    env = dict(os.environ, PYTHONPATH=ROOT,
               CUSTOM_POSE_AVAILABLE_MEMORY='400M')

    def peak(batch: str, out: str) -> int:
        with open(p.p(out + '.log'), 'w') as log:
            proc = subprocess.Popen(
                [PY, DEMO, CFG, p.p('model.pth'), '--video-path',
                 p.p('clip.mp4'), '--out-video-root', p.p(out), '--device',
                 'cpu', '--batch-size', batch], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss * 1024 if proc.returncode == 0 else -1

    base, big = peak('1', 'demo_b1'), peak('100000', 'demo_b100000')
    if min(base, big) < 0:
        return Result(False, 'a demo run failed')
    growth = (big - base) / 2**20
    return Result(growth <= 100 + 32, f'peak RSS {growth:+.0f} MiB over '
                  'batch 1 (share 100 MiB, 32 MiB allowed for noise)')


# ---------------------------------------------------------------- tracebacks
@case('traceback', 'train_cfg = dict(max_epoch=1) in a config')
def _(p):
    cfg = write_config(p, 'max_epoch.py', f'_base_ = [{CFG!r}]\n'
                       'train_cfg = dict(max_epoch=1)\n')
    r = run([TRAIN, cfg, '--work-dir', p.p('wd', 'max_epoch')] + p.opts)
    return Result(one_line(r), error_line(r))


@case('traceback', '--cfg-options key (no =)')
def _(p):
    r = run([TRAIN, CFG, '--cfg-options', 'key'])
    return Result(one_line(r), error_line(r))


@case('traceback', '--smooth gaussian --smooth-param sigma=1e9')
def _(p):
    r = run_demo(p, p.p('demo_sigma'), '--smooth', 'gaussian',
                 '--smooth-param', 'sigma=1e9')
    return Result(no_traceback(r) and (r.rc == 0 or one_line(r)),
                  error_line(r) or f'rc={r.rc}')


@case('traceback', '--roi=nan,0,10,10')
def _(p):
    r = run_demo(p, p.p('demo_roi'), '--roi=nan,0,10,10')
    return Result(one_line(r), error_line(r))


@case('traceback', 'test.py --metrics-out x.pth')
def _(p):
    r = run([TEST, CFG, p.p('model.pth'), '--metrics-out', p.p('x.pth'),
             '--work-dir', p.p('wd', 'metrics')] + p.opts)
    return Result(one_line(r), f'{error_line(r)} ({r.seconds:.0f} s)')


@case('traceback', 'original2coco.py under a file-size limit')
def _(p):
    out = p.p('coco.json')
    r = run(['tools/dataset_converters/original2coco.py',
             osp.join(p.data, 'keypoints.json'), out], fsize=2048)
    whole = not osp.exists(out) or json_ok(out)
    return Result(one_line(r) and whole, error_line(r))


@case('traceback', 'test.py --out under a file-size limit')
def _(p):
    out = p.p('pred.json')
    r = run([TEST, CFG, p.p('model.pth'), '--out', out, '--work-dir',
             p.p('wd', 'fsize')] + p.opts, fsize=4096)
    whole = not osp.exists(out) or json_ok(out)
    return Result(one_line(r) and whole, error_line(r))


@case('traceback', 'test.py with DataLoader workers under a file-size limit')
def _(p):
    out = p.p('metrics_workers.json')
    r = run([TEST, CFG, p.p('model.pth'), '--metrics-out', out,
             '--work-dir', p.p('wd', 'workers')] + p.opts +
            ['test_dataloader.num_workers=1',
             'test_dataloader.persistent_workers=False',
             "test_evaluator=[dict(type='CustomPosePCKMetric')]"],
            fsize=44 << 10, timeout=120)
    return Result(r.rc == 0 and json_ok(out),
                  'hung (killed after 120 s)' if r.rc == -9 else
                  error_line(r) or f'rc={r.rc}')


# ------------------------------------------------------------------- unclear
def _exception_name(message: str) -> bool:
    """Whether ``message`` passes on a Python exception's name
    (``RecursionError: ...``) instead of saying what is wrong."""
    return re.search(r'\b[A-Z]\w*(?:Error|Exception)\b', message) is not None


@case('unclear', 'a .yaml config holding Python')
def _(p):
    cfg = write_config(p, 'python.yaml', f'_base_ = [{CFG!r}]\n')
    r = run([TRAIN, cfg] + p.opts)
    return Result(one_line(r) and 'python.yaml' in error_line(r) and
                  not _exception_name(error_line(r)), error_line(r))


@case('unclear', 'a _base_ that includes itself')
def _(p):
    cfg = write_config(p, 'self_base.py', "_base_ = ['self_base.py']\n")
    r = run([TRAIN, cfg] + p.opts)
    return Result(one_line(r) and not _exception_name(error_line(r)),
                  error_line(r))


@case('unclear', 'a corrupt generator manifest')
def _(p):
    out = p.p('gen2')
    generate(p, out)
    manifest = manifest_of(out)
    with open(manifest, 'w') as f:
        f.write('{"files": [')
    r = generate(p, out, '--overwrite')
    return Result(one_line(r) and manifest in error_line(r), error_line(r))


@case('unclear', '--resume a finished run')
def _(p):
    r = run([TRAIN, CFG, '--work-dir', p.exp1, '--resume'] + p.opts +
            p.schedule + ['train_cfg.max_epochs=1'])
    return Result(r.rc == 0 and 'finished' in (r.out + r.err).lower(),
                  f'rc={r.rc}')


# -------------------------------------------------------------- regression
@case('regression', 'missing config')
def _(p):
    r = run([TRAIN, p.p('nope.py')])
    return Result(one_line(r), error_line(r))


@case('regression', 'empty and truncated checkpoints')
def _(p):
    empty, cut = p.p('empty.pth'), p.p('cut.pth')
    open(empty, 'wb').close()
    with open(p.p('model.pth'), 'rb') as f, open(cut, 'wb') as g:
        g.write(f.read()[:50000])
    runs = [run([TEST, CFG, c] + p.opts) for c in (empty, cut)]
    return Result(all(map(one_line, runs)) and
                  'truncated' in error_line(runs[-1]), error_line(runs[-1]))


@case('regression', 'missing video')
def _(p):
    r = run([DEMO, CFG, p.p('model.pth'), '--video-path', p.p('no.mp4'),
             '--out-video-root', p.p('demo_missing')])
    return Result(one_line(r), error_line(r))


@case('regression', 'missing data_root')
def _(p):
    r = run([TRAIN, CFG, '--work-dir', p.p('wd', 'nodata'), '--cfg-options',
             f'data_root={p.p("no_data")}/'])
    return Result(one_line(r), error_line(r))


@case('regression', 'misspelled --cfg-options key')
def _(p):
    r = run([TRAIN, CFG, '--cfg-options', 'model.backbone.dept=18'])
    return Result(one_line(r), error_line(r))


@case('regression', 'training killed after epoch 1, then --resume')
def _(p):
    wd = p.p('wd', 'killed')
    proc = subprocess.Popen(
        [PY, TRAIN, CFG, '--work-dir', wd] + p.opts +
        ['train_cfg.max_epochs=3', 'default_hooks.checkpoint.interval=1'],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=ROOT))
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and \
            not osp.isfile(osp.join(wd, 'epoch_1.pth')):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = run([TRAIN, CFG, '--work-dir', wd, '--resume'] + p.opts +
            ['train_cfg.max_epochs=3'])
    done = osp.isfile(osp.join(wd, 'epoch_3.pth'))
    return Result(r.rc == 0 and done, error_line(r) or f'rc={r.rc}')
