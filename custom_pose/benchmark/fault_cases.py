# Copyright (c) custom_pose contributors. All rights reserved.
"""The cases of :mod:`.fault_probe` about what a tool may destroy or run:
data loss, outputs that are not whole, code run from a checkpoint."""
import functools
import http.server
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import threading
import time
from typing import Dict, List

from .fault_probe import (CFG, DEMO, ONNX, PY, RES50, ROOT, TEST, TRAIN,
                          WEBCAM, Probe, Result, case, crafted_pickle,
                          error_line, frames_done, generate, manifest_of,
                          no_traceback, one_line, outputs_whole, refused, run,
                          run_demo, sha, snapshot)


# ---------------------------------------------------------------- data loss
def _resume_keeps(p: Probe, source: str, name: str,
                  resume: List[str]) -> Result:
    """Resume into work dir ``name``; run folder ``source`` must keep every
    file as it was."""
    before = snapshot(source)
    wd = p.p('wd', name)
    if resume == ['--resume']:
        shutil.copytree(source, wd)
    r = run([TRAIN, CFG, '--work-dir', wd] + resume + p.opts + p.schedule +
            ['train_cfg.max_epochs=5'])
    after = snapshot(source)
    lost = sorted(set(before) - set(after))
    return Result(before == after and no_traceback(r),
                  f'removed {lost}' if lost else error_line(r) or f'rc={r.rc}')


@case('data loss', 'resume a copied work dir')
def _(p):
    return _resume_keeps(p, p.exp1, 'exp2', ['--resume'])


@case('data loss', '--resume another dir\'s best_*.pth')
def _(p):
    source = p.run_copy('exp1_b')
    return _resume_keeps(p, source, 'exp3',
                         ['--resume', p.checkpoint(source, 'best_')])


def _refuse_output(p: Probe, cmd: List[str], target: str) -> Result:
    before = {target: sha(target)}
    return refused(run(cmd), target, before=before)


@case('data loss', 'test.py --out <annotation file>')
def _(p):
    data = p.copy(p.data, 'data_out')
    ann = osp.join(data, 'keypoints.json')
    return _refuse_output(p, [TEST, CFG, p.p('model.pth'), '--out', ann,
                              '--cfg-options', f'data_root={data}/'], ann)


@case('data loss', 'pytorch2onnx.py --output <checkpoint>')
def _(p):
    ckpt = p.copy(p.p('model.pth'), 'model_onnx.pth')
    return _refuse_output(p, [ONNX, CFG, ckpt, '--output', ckpt], ckpt)


@case('data loss', 'pytorch2onnx.py --output <config>')
def _(p):
    cfg = p.copy(p.p('config.py'), 'config_onnx.py')
    return _refuse_output(p, [ONNX, cfg, p.p('model.pth'), '--output', cfg],
                          cfg)


@case('data loss', 'arena_tracking.py --out-json <checkpoint>')
def _(p):
    ckpt = p.copy(p.p('model.pth'), 'model_arena.pth')
    return _refuse_output(p, [
        'tools/analysis_tools/arena_tracking.py', CFG, ckpt, '--out-json',
        ckpt, '--frames', '8', '--work-dir', p.p('arena'), '--device',
        'cpu'], ckpt)


@case('data loss', 'webcam_demo.py --out-video-file <its input>')
def _(p):
    clip = p.copy(p.p('clip.mp4'), 'clip_webcam.mp4')
    return _refuse_output(p, [
        WEBCAM, '--animal-pose-config', CFG, '--animal-pose-checkpoint',
        p.p('model.pth'), '--cam-id', clip, '--box-mode', 'track', '--roi',
        '0,0,96,96', '--out-video-file', clip, '--device', 'cpu'], clip)


@case('data loss', 'generator --overwrite, manifest names ../x and /abs')
def _(p):
    out = p.p('gen1')
    generate(p, out)
    victims = [p.p('victim1.txt'), p.p('victim2.txt')]
    for v in victims:
        with open(v, 'w') as f:
            f.write('mine')
    path = manifest_of(out)
    with open(path) as f:
        manifest = json.load(f)
    entries = {'../victim1.txt': victims[0], victims[1]: victims[1]}
    if isinstance(manifest, dict):  # path -> {size, sha256}
        manifest.update({e: dict(size=osp.getsize(v), sha256=sha(v))
                         for e, v in entries.items()})
    else:  # a plain list of paths
        manifest.extend(entries)
    with open(path, 'w') as f:
        json.dump(manifest, f)
    r = generate(p, out, '--overwrite')
    kept = all(osp.isfile(v) for v in victims)
    return Result(kept and no_traceback(r),
                  ('' if kept else 'DELETED outside --out-dir; ') +
                  (error_line(r) or f'rc={r.rc}'))


def _foreign(p: Probe, name: str) -> str:
    out = p.p(name)
    os.makedirs(osp.join(out, 'images'), exist_ok=True)
    for f in ('keypoints.json', 'clip.mp4', 'images/a.jpg'):
        with open(osp.join(out, f), 'w') as fh:
            fh.write('mine')
    return out


@case('data loss', 'generator --overwrite in a folder it did not write')
def _(p):
    out = _foreign(p, 'foreign1')
    before = snapshot(out)
    r = generate(p, out, '--overwrite')
    return Result(one_line(r) and snapshot(out) == before, error_line(r))


@case('unclear', 'generator refusal of a folder it did not write')
def _(p):
    r = generate(p, _foreign(p, 'foreign2'))
    msg = error_line(r)
    return Result(one_line(r) and 'a generated dataset' not in msg, msg)


@case('not atomic', 'ONNX export over a good model, file-size limit')
def _(p):
    out = p.p('model.onnx')
    cmd = [ONNX, CFG, p.p('model.pth'), '--output', out]
    if run(cmd).rc:
        return Result(False, 'the unlimited export failed')
    before = {out: sha(out)}
    r = run(cmd, fsize=1 << 20)
    return refused(r, out, before=before)


@case('not atomic', 'video demo on a full disk (file-size limit)')
def _(p):
    out = p.p('demo_fsize')
    r = run_demo(p, out, fsize=64 << 10)
    bad = outputs_whole(out)
    return Result(one_line(r) and not bad,
                  f'broken: {bad}; ' * bool(bad) + error_line(r))


@case('not atomic', 'video demo killed mid-video')
def _(p):
    out = p.p('demo_kill')
    proc = subprocess.Popen(
        [PY, DEMO, CFG, p.p('model.pth'), '--video-path', p.p('clip.mp4'),
         '--out-video-root', out, '--device', 'cpu', '--save-predictions',
         '--batch-size', '4'], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=ROOT))
    deadline = time.time() + 240
    partial = []
    while time.time() < deadline and proc.poll() is None:
        partial = [f for f in (os.listdir(out) if osp.isdir(out) else [])
                   if f.endswith('.json') and frames_done(osp.join(out, f))]
        if partial:
            break
        time.sleep(0.2)
    if proc.poll() is not None:
        return Result(False, 'the demo ended before a partial JSON appeared')
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    bad = outputs_whole(out)
    return Result(bool(partial) and not bad,
                  f'readable JSON: {partial}, broken: {bad}')


# ----------------------------------------------------------- code execution
def _hub(p: Probe, name: str) -> Dict[str, str]:
    home = p.p(name)
    os.makedirs(osp.join(home, 'hub', 'checkpoints'), exist_ok=True)
    return dict(TORCH_HOME=home)


def _torchvision_cache(env: Dict[str, str], model: str, marker: str) -> None:
    code = ('from mmengine.runner.checkpoint import get_torchvision_models\n'
            f'print(get_torchvision_models()["{model}"])')
    url = subprocess.run([PY, '-c', code], capture_output=True, text=True,
                         check=True).stdout.strip()
    crafted_pickle(osp.join(env['TORCH_HOME'], 'hub', 'checkpoints',
                            osp.basename(url)), marker)


@case('code execution', 'crafted hub cache: stock res50 config')
def _(p):
    env, marker = _hub(p, 'hub50'), p.p('marker_res50')
    _torchvision_cache(env, 'resnet50', marker)
    r = run([TRAIN, RES50, '--work-dir', p.p('wd', 'res50')] + p.opts +
            ['train_cfg.max_epochs=1'], timeout=240, env=env)
    return Result(not osp.exists(marker) and no_traceback(r),
                  error_line(r))


@case('code execution', 'crafted hub cache: torchvision://resnet18')
def _(p):
    env, marker = _hub(p, 'hub18'), p.p('marker_res18')
    _torchvision_cache(env, 'resnet18', marker)
    r = run([TRAIN, CFG, '--work-dir', p.p('wd', 'res18')] + p.opts + [
        'train_cfg.max_epochs=1', 'model.backbone.init_cfg='
        "dict(type='Pretrained',checkpoint='torchvision://resnet18')"],
        env=env)
    return Result(not osp.exists(marker) and no_traceback(r),
                  error_line(r))


@case('code execution', 'crafted file served at a load_from URL')
def _(p):
    served, marker = p.p('served'), p.p('marker_url')
    os.makedirs(served, exist_ok=True)
    crafted_pickle(osp.join(served, 'evil.pth'), marker)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=served)
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/evil.pth'
        r = run([TRAIN, CFG, '--work-dir', p.p('wd', 'url')] + p.opts +
                ['train_cfg.max_epochs=1', f'load_from={url}'],
                env=_hub(p, 'hub_url'))
    finally:
        server.shutdown()
    return Result(not osp.exists(marker) and one_line(r), error_line(r))


@case('unclear', 'crafted local pickle: message')
def _(p):
    marker = p.p('marker_local')
    crafted_pickle(p.p('evil.pth'), marker)
    r = run([TEST, CFG, p.p('evil.pth')] + p.opts)
    msg = error_line(r)
    return Result(one_line(r) and not osp.exists(marker) and
                  'weights_only=False' not in msg, msg)
