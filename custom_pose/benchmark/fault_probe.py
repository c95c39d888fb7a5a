# Copyright (c) custom_pose contributors. All rights reserved.
"""Probe the command-line tools with faults and bad input, as a new user
would (``tools/analysis_tools/fault_probe.py``).

Every case (:mod:`.fault_cases`, :mod:`.fault_cases_input`) runs a real
tool of a checkout in a subprocess on a small synthetic dataset, a 2-epoch
training run and an untrained checkpoint made in the probe's folder
(nothing else is written, nothing is downloaded: the "download" cases use
a hub cache in that folder and a server on 127.0.0.1). A case *holds* when the tool keeps the user's
files intact, writes whole outputs or none, runs no code from a checkpoint,
and ends a bad input with one ``<tool>: error: ...`` line instead of a
traceback.
"""
import importlib
import json
import os
import os.path as osp
import resource
import shutil
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from custom_pose.errors import CustomPoseError
from custom_pose.utils.file_hash import file_sha256

#: The checkout the probed tools and configs are in (this package's).
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable
CFG = osp.join(ROOT,
               'configs/animal/custom_res18_quickstart_synthetic_128x128.py')
RES50 = osp.join(ROOT, 'configs/animal/custom_res50_animalpose_256x256.py')
TRAIN, TEST = 'tools/train.py', 'tools/test.py'
DEMO = 'demo/top_down_video_demo_full_frame_without_det.py'
WEBCAM = 'demo/webcam_demo.py'
ONNX = 'tools/deployment/pytorch2onnx.py'
GEN = 'tools/make_synthetic_animalpose.py'


class Run(NamedTuple):
    rc: int
    out: str
    err: str
    seconds: float


class Result(NamedTuple):
    held: bool
    detail: str


def run(cmd: List[str], timeout: float = 300, fsize: Optional[int] = None,
        env: Optional[Dict[str, str]] = None) -> Run:
    """Run ``python cmd...`` in the repository; ``fsize``: a file-size
    limit in bytes, as a shell's ``ulimit -f`` sets it."""

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    start = time.time()
    try:
        proc = subprocess.run(
            [PY] + cmd, cwd=ROOT, capture_output=True, text=True,
            timeout=timeout, preexec_fn=limit,
            env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})))
        return Run(proc.returncode, proc.stdout, proc.stderr,
                   time.time() - start)
    except subprocess.TimeoutExpired as exc:
        return Run(-9, _text(exc.stdout), _text(exc.stderr) + '\n(timeout)',
                   time.time() - start)


def _text(data) -> str:
    return data.decode(errors='replace') if isinstance(data, bytes) else (
        data or '')


def error_line(r: Run) -> str:
    """The tool's last ``prog: error:`` line, or the last stderr line."""
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ': error: ' in ln]
    return (errors or lines or [''])[-1]


def one_line(r: Run) -> bool:
    """A non-zero exit with one error line and no traceback."""
    return r.rc not in (0, -9) and 'Traceback' not in r.err and \
        ': error: ' in error_line(r)


def no_traceback(r: Run) -> bool:
    return 'Traceback' not in r.err and r.rc != -9


def sha(path: str) -> Optional[str]:
    """The SHA-256 of file ``path``; ``None`` where there is none."""
    return file_sha256(path) if osp.isfile(path) else None


def snapshot(folder: str) -> Dict[str, Optional[str]]:
    """Every file under ``folder`` and its hash."""
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = osp.join(base, name)
            out[osp.relpath(path, folder)] = sha(path)
    return out


def refused(r: Run, *unchanged: str, before: Dict[str, Optional[str]]
            ) -> Result:
    """One line, and ``unchanged`` files still hold what they held."""
    kept = all(sha(p) == before[p] for p in unchanged)
    return Result(one_line(r) and kept, ('' if kept else 'INPUT CHANGED; ') +
                  error_line(r))


def json_ok(path: str) -> bool:
    def no_nan(token):
        raise ValueError(token)
    try:
        with open(path, encoding='utf-8') as f:
            json.load(f, parse_constant=no_nan)
        return True
    except (OSError, ValueError):
        return False


def video_frames(path: str) -> int:
    import cv2
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.isOpened() and cap.read()[0]:
        n += 1
    cap.release()
    return n


def crafted_pickle(path: str, marker: str) -> None:
    """A file that creates ``marker`` when unpickled without
    ``weights_only``."""
    code = ('import torch, sys\n'
            'class Evil:\n'
            '    def __reduce__(self):\n'
            '        return (open, (sys.argv[2], "w"))\n'
            'torch.save({"state_dict": Evil()}, sys.argv[1])\n')
    subprocess.run([PY, '-c', code, path, marker], check=True)


class Probe:
    """The shared files of the cases, made once in ``work_dir``: a
    synthetic dataset, an untrained checkpoint and a 1-epoch training run
    (``exp1``: ``epoch_1.pth`` and its best checkpoint)."""

    def __init__(self, work_dir: str):
        self.w = work_dir
        self.data = osp.join(work_dir, 'data')
        self.opts = ['--cfg-options', f'data_root={self.data}/']
        self.exp1 = osp.join(work_dir, 'wd', 'exp1')
        # a schedule that learns from the first epoch (8 steps of 8
        # images) and a continuous best metric, so that a resumed run
        # writes a new best checkpoint
        self.schedule = [
            'param_scheduler=[]', 'optim_wrapper.optimizer.lr=0.003',
            'train_dataloader.batch_size=8',
            'default_hooks.checkpoint.save_best=EPE',
            'default_hooks.checkpoint.rule=less', 'train_cfg.val_interval=1']

    def p(self, *parts: str) -> str:
        return osp.join(self.w, *parts)

    def setup(self) -> None:
        os.makedirs(self.w, exist_ok=True)
        steps = [
            [GEN, '--out-dir', self.data, '--num-images', '64',
             '--image-size', '96', '96', '--clip-frames', '240',
             '--no-progress'],
            ['tools/misc/save_untrained_checkpoint.py', CFG,
             self.p('model.pth')] + self.opts,
            [TRAIN, CFG, '--work-dir', self.exp1] + self.opts +
            self.schedule + ['train_cfg.max_epochs=1'],
        ]
        for cmd in steps:
            r = run(cmd, timeout=900)
            if r.rc:
                raise CustomPoseError(
                    f'fault probe: setup step {cmd[0]} failed: '
                    f'{error_line(r)}')
        shutil.copytree(self.exp1, self.p('exp1_as_trained'))
        with open(self.p('config.py'), 'w') as f:
            f.write(f'_base_ = [{CFG!r}]\n')
        shutil.copy(osp.join(self.data, 'clip.mp4'), self.p('clip.mp4'))

    def copy(self, path: str, name: str) -> str:
        """A copy of file or folder ``path`` for a case that may destroy
        it."""
        out = self.p(name)
        (shutil.copytree if osp.isdir(path) else shutil.copy)(path, out)
        return out

    def run_copy(self, name: str) -> str:
        """A copy of the training run as setup left it, for a case that
        may change it (``exp1`` itself may have lost files to an earlier
        case)."""
        return self.copy(self.p('exp1_as_trained'), osp.join('wd', name))

    @staticmethod
    def checkpoint(run_dir: str, prefix: str) -> str:
        """The checkpoint of ``run_dir`` whose name starts with
        ``prefix`` (``'best_'``, ``'epoch_'``)."""
        return next(osp.join(run_dir, f) for f in sorted(os.listdir(run_dir))
                    if f.startswith(prefix))


def generate(p: Probe, out: str, *extra: str) -> Run:
    """Run the generator into ``out`` (2 small images, no clip)."""
    return run([GEN, '--out-dir', out, '--num-images', '2', '--image-size',
                '64', '64', '--no-clip', '--no-progress'] + list(extra))


def manifest_of(out: str) -> str:
    """The generator's list of the files it wrote in ``out``."""
    return next(osp.join(out, f) for f in os.listdir(out)
                if 'manifest' in f or 'synthetic_files' in f)


def run_demo(p: Probe, out: str, *extra: str, **kw) -> Run:
    """Run the video demo on the probe's clip into ``out``."""
    return run([DEMO, CFG, p.p('model.pth'), '--video-path', p.p('clip.mp4'),
                '--out-video-root', out, '--device', 'cpu',
                '--save-predictions'] + list(extra), **kw)


def frames_done(path: str) -> bool:
    """Whether ``path`` is a readable predictions JSON of part of the
    240-frame clip (the demo is still running)."""
    if not json_ok(path):
        return False
    with open(path, encoding='utf-8') as f:
        return 0 < len(json.load(f).get('frames', [])) < 240


def outputs_whole(out: str) -> List[str]:
    """Final outputs of the video demo in ``out`` that are not whole."""
    bad = []
    for name in sorted(os.listdir(out)) if osp.isdir(out) else []:
        path = osp.join(out, name)
        if name.startswith('.'):
            continue
        if name.endswith('.json') and not json_ok(path):
            bad.append(name)
        if name.endswith('.mp4') and video_frames(path) != 240:
            bad.append(name)
    return bad


def write_config(p: Probe, name: str, text: str) -> str:
    """Write a config file ``name`` of ``text`` in the probe's folder."""
    path = p.p(name)
    with open(path, 'w') as f:
        f.write(text)
    return path


Case = Callable[[Probe], Result]
CASES: List[tuple] = []


def case(group: str, name: str) -> Callable[[Case], Case]:
    """Register a case: ``fn(probe) -> Result``."""
    def add(fn: Case) -> Case:
        CASES.append((group, name, fn))
        return fn
    return add


def run_cases(probe: Probe, select: Sequence[str] = (),
              echo: Callable[[str], None] = print) -> List[str]:
    """Run every case (where ``select`` is given, those whose name
    contains one of its texts); one markdown table row each, also handed
    to ``echo`` as it is done."""
    for module in ('fault_cases', 'fault_cases_input'):  # the cases
        importlib.import_module(f'{__package__}.{module}')
    rows = []
    for group, name, fn in CASES:
        if select and not any(text in name for text in select):
            continue
        start = time.time()
        try:
            result = fn(probe)
        except Exception as exc:  # a probe that cannot run is a failure
            result = Result(False, f'probe error: {type(exc).__name__}: '
                            f'{exc}')
        detail = ' '.join(result.detail.split())[:110].replace('|', '/')
        rows.append(f'| {len(rows) + 1} | {group} | {name} | '
                    f'{"held" if result.held else "FAILED"} | '
                    f'{time.time() - start:.0f} | {detail} |')
        echo(rows[-1])
    return rows


def row_held(row: str) -> bool:
    """Whether a row of :func:`run_cases` is a case that held."""
    return row.split('|')[4].strip() == 'held'


def table(rows: List[str]) -> str:
    """The summary line and the markdown table of :func:`run_cases`."""
    held = sum(map(row_held, rows))
    return '\n'.join([
        f'{len(rows)} cases: {held} held, {len(rows) - held} failed', '',
        '| # | kind | case | result | s | message |',
        '|---|---|---|---|---|---|'] + rows)

