"""The demos' outputs are whole or absent, no output is an input, and
numeric options are checked (demo/top_down_video_demo_full_frame_without_det.py,
demo/webcam_demo.py, run as subprocesses on small clips; the pose model is
the quickstart ResNet-18 with random weights, tests/test_video/conftest.py).

A full disk is a file-size limit (``RLIMIT_FSIZE``; Python ignores
``SIGXFSZ``, so a write past it fails with ``EFBIG``)."""
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_video, subprocess_env

REPO_ROOT = Path(__file__).resolve().parents[2]
VIDEO_DEMO = REPO_ROOT / 'demo' / 'top_down_video_demo_full_frame_without_det.py'
WEBCAM_DEMO = REPO_ROOT / 'demo' / 'webcam_demo.py'


def _write_clip(path, num_frames, size, noise=False, seed=0):
    """An mp4v clip of ``num_frames`` frames of ``size`` (w, h): a moving
    disc on grey, or (``noise``) random pixels, which compress badly."""
    rng = np.random.default_rng(seed)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'),
                             20.0, (w, h))
    for i in range(num_frames):
        if noise:
            frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        else:
            frame = np.full((h, w, 3), 40, np.uint8)
            cv2.circle(frame, (8 + i % (w - 16), h // 2), 6, (0, 200, 255),
                       -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp('integrity_clips')
    return dict(
        short=_write_clip(root / 'short.mp4', 6, (96, 64)),
        noise=_write_clip(root / 'noise.mp4', 12, (160, 120), noise=True),
        long=_write_clip(root / 'long.mp4', 600, (96, 64)))


def _popen(script, args, cwd, fsize=None):
    env = subprocess_env(OMP_NUM_THREADS='1',
                         PYTHONWARNINGS='ignore::DeprecationWarning')
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)

    def setup():
        # a shell without job control starts jobs with SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.Popen([sys.executable, str(script)] +
                            [str(a) for a in args], cwd=str(cwd), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=setup)


def _finish(proc, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _strict_json(path):
    """The data of a JSON file, refusing NaN and infinities (not JSON)."""

    def refuse(token):
        raise ValueError(f'{path}: {token} is not JSON')

    with open(path, encoding='utf-8') as f:
        return json.load(f, parse_constant=refuse)


def _error_line(err, prog):
    """The one ``prog: error: ...`` line, the last of stderr."""
    assert 'Traceback' not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ': error: ' in line]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    assert errors[0].startswith(f'{prog}: error: '), err
    return errors[0]


def _video_demo(files, clip, out, *extra):
    return [files[0], files[1], '--video-path', clip, '--out-video-root',
            out, '--device', 'cpu', '--box-mode', 'full-frame',
            '--save-predictions'] + list(extra)


def _temp_files(folder):
    return [name for name in os.listdir(folder) if name.startswith('.')]


# ---------------------------------------------------------------------------
# whole or absent
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_full_disk_leaves_no_broken_output(res18_files, clips, tmp_path):
    """Past the file-size limit: one error line, nothing broken at the
    final names (no truncated video, no 0-byte or truncated JSON), no
    temporary file left. ``noise``: the video outgrows the limit; ``long``:
    the predictions do (the frames-so-far JSON, before the video)."""
    limit = 48 << 10
    runs = {
        name: _popen(VIDEO_DEMO, _video_demo(res18_files, clips[name], name),
                     tmp_path, fsize=limit)
        for name in ('noise', 'long')
    }
    for name, proc in runs.items():
        rc, out, err = _finish(proc)
        assert rc == 1, (name, out, err)
        line = _error_line(err, VIDEO_DEMO.name)
        folder = tmp_path / name
        assert str(folder / f'vis_{name}') in line or \
            f'{name}/vis_{name}' in line, line
        assert not (folder / f'vis_{name}.mp4').exists(), name
        final = folder / f'vis_{name}.json'
        assert not final.exists() or _strict_json(final)['frames'], name
        partial = folder / f'vis_{name}.partial.json'
        if partial.exists():  # the frames done, whole
            assert _strict_json(partial)['partial'] is True
        assert _temp_files(folder) == [], name
    assert 'file' in line.lower()


def _wait_for(proc, path, timeout=240):
    """Wait until ``path`` exists; False when ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if proc.poll() is not None:
            return path.exists()
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_killed_or_interrupted_video_demo(res18_files, clips, tmp_path):
    """While the demo runs, the frames done so far are in
    ``vis_long.partial.json``. SIGKILL: that file is readable and nothing
    sits at the final names. Ctrl-C: the video and the JSON are finished
    and renamed, the partial JSON removed."""
    procs = {
        sig: _popen(VIDEO_DEMO, _video_demo(res18_files, clips['long'], name,
                                            '--batch-size', 4), tmp_path)
        for sig, name in ((signal.SIGKILL, 'killed'),
                          (signal.SIGINT, 'interrupted'))
    }
    try:
        for sig, proc in procs.items():
            name = 'killed' if sig == signal.SIGKILL else 'interrupted'
            partial = tmp_path / name / 'vis_long.partial.json'
            assert _wait_for(proc, partial), \
                f'{name}: the demo ended before {partial.name} appeared'
            proc.send_signal(sig)
        rc, out, err = _finish(procs[signal.SIGKILL], timeout=60)
        assert rc == -signal.SIGKILL
        rc_int, out_int, err_int = _finish(procs[signal.SIGINT], timeout=120)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()

    killed = tmp_path / 'killed'
    data = _strict_json(killed / 'vis_long.partial.json')
    assert data['partial'] is True
    assert 0 < data['num_frames'] == len(data['frames']) < 600
    assert [f['frame_id'] for f in data['frames']] == list(
        range(data['num_frames']))
    assert data['num_keypoints'] == 20 and data['width'] == 96
    assert not (killed / 'vis_long.mp4').exists()
    assert not (killed / 'vis_long.json').exists()

    done = tmp_path / 'interrupted'
    assert rc_int == 130, err_int
    assert 'Traceback' not in err_int
    assert '(interrupted)' in out_int
    data = _strict_json(done / 'vis_long.json')
    assert 'partial' not in data
    frames, fps, size = read_video(done / 'vis_long.mp4')
    assert 0 < data['num_frames'] == len(data['frames']) < 600
    # Ctrl-C may land between a frame's record and its write
    assert len(frames) in (data['num_frames'], data['num_frames'] - 1)
    assert size == (96, 64) and fps == pytest.approx(20.0)
    assert not (done / 'vis_long.partial.json').exists()
    assert _temp_files(done) == []


# ---------------------------------------------------------------------------
# no output is an input
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_outputs_that_are_inputs_are_refused(res18_files, clips, tmp_path):
    """The webcam demo writing its input video (by another spelling of its
    path, and through a link) or its checkpoint, and the video demo whose
    predictions would land on its checkpoint: one line, exit status 1,
    the inputs untouched."""
    clip = tmp_path / 'in.mp4'
    shutil.copy(clips['short'], clip)
    (tmp_path / 'link.mp4').symlink_to(clip)
    ckpt = tmp_path / 'out' / 'vis_short.json'  # a checkpoint, oddly named
    ckpt.parent.mkdir()
    shutil.copy(res18_files[1], ckpt)
    before = {p: p.read_bytes() for p in (clip, ckpt)}
    webcam = ['--animal-pose-config', res18_files[0],
              '--animal-pose-checkpoint', ckpt, '--cam-id', 'in.mp4',
              '--roi', '0,0,96,64', '--device', 'cpu']
    cases = {
        'same path': (WEBCAM_DEMO, webcam + ['--out-video-file', './in.mp4'],
                      '--out-video-file ./in.mp4 is the input file'),
        'a link': (WEBCAM_DEMO, webcam + ['--out-video-file', 'link.mp4'],
                   '--out-video-file link.mp4 is the input file'),
        'checkpoint': (WEBCAM_DEMO, webcam + ['--out-json', ckpt],
                       f'--out-json {ckpt} is the input file'),
        'video demo': (VIDEO_DEMO, [
            res18_files[0], ckpt, '--video-path', clips['short'],
            '--out-video-root', 'out', '--save-predictions', '--device',
            'cpu'], 'is the input file'),
    }
    procs = {name: _popen(script, args, tmp_path)
             for name, (script, args, _) in cases.items()}
    for name, proc in procs.items():
        rc, out, err = _finish(proc)
        script, _, expected = cases[name]
        assert rc == 1, (name, out, err)
        assert expected in _error_line(err, script.name), (name, err)
    for path, data in before.items():
        assert path.read_bytes() == data, path
    assert sorted(os.listdir(tmp_path / 'out')) == ['vis_short.json']


# ---------------------------------------------------------------------------
# numeric options
# ---------------------------------------------------------------------------
def test_non_finite_and_absurd_numbers_are_refused_by_the_library():
    """One ``ValueError`` (an ``InputError``) naming the parameter, before
    any allocation; no NaN reaches a JSON."""
    from custom_pose.errors import InputError
    from custom_pose.tracking import (BoxPropagator, TrackingOptions,
                                      WindowSmoother, build_smoother,
                                      smooth_keypoints)
    nan = float('nan')
    with pytest.raises(InputError, match='^beta=nan must be a finite number '
                       '>= 0$'):
        build_smoother('oneeuro', beta=nan)
    with pytest.raises(InputError, match='min_cutoff=inf must be a finite'):
        build_smoother('oneeuro', min_cutoff=math.inf)
    with pytest.raises(InputError, match=r'^sigma=1e\+09: .* at most 150 '
                       'frames'):
        WindowSmoother('gaussian', sigma=1e9)
    with pytest.raises(InputError, match='^sigma=1e\\+09'):
        smooth_keypoints(np.zeros((5, 3, 2)), np.ones((5, 3)), 'gaussian',
                         sigma=1e9)
    with pytest.raises(InputError, match='window_length=1e\\+06 must be a '
                       'whole number >= 3 and <= 301'):
        build_smoother('savgol', window_length=1e6)
    with pytest.raises(InputError, match='window_length=11.5 must be a '
                       'whole number'):
        build_smoother('savgol', window_length=11.5)
    with pytest.raises(InputError, match=r'^roi=\(nan, 0, 10, 10\) must be '
                       'four finite numbers'):
        TrackingOptions(roi=(nan, 0, 10, 10))
    with pytest.raises(InputError, match='^roi='):
        BoxPropagator('roi', roi=(0, 0, math.inf, 10))
    with pytest.raises(InputError, match='^search_scales must lie in'):
        TrackingOptions(search_scales=(1e-9, ))
    for name in ('enlarge', 'min_mean_score', 'init_track_thr', 'kpt_thr'):
        with pytest.raises(InputError, match=f'^{name}=nan must be a finite'):
            TrackingOptions(**{name: nan})
    with pytest.raises(InputError, match='^beta=nan'):
        TrackingOptions(smooth='oneeuro', smooth_params=dict(beta=nan))
    # what is accepted still works
    assert WindowSmoother('gaussian', sigma=50).lag == 150
    assert build_smoother('savgol', window_length=11.0).lag == 5


def test_predictions_json_is_strict(tmp_path):
    """Non-finite numbers are written as null; the partial JSON appears
    every ``every_frames`` frames and goes when the JSON is written."""
    from custom_pose.apis.video import open_video_file
    from custom_pose.apis.predictions_file import (PredictionsFile,
                                                   json_text)

    assert json.loads(json_text({'a': [1.5, math.nan, -math.inf]})) == {
        'a': [1.5, None, None]}
    clip = _write_clip(tmp_path / 'c.mp4', 3, (32, 32))
    source = open_video_file(str(clip))
    try:
        out = tmp_path / 'p.json'
        writer = PredictionsFile(str(out), str(clip), 'cfg.py', 'ckpt.pth',
                                 source, ['a'], every_frames=2,
                                 every_seconds=1e9)
        frames = [dict(frame_id=0, instances=[dict(
            keypoints=[[math.nan, 1.0]], keypoint_scores=[math.inf])])]
        assert not writer.update(frames)  # 1 frame: not due
        frames.append(dict(frame_id=1, instances=[]))
        assert writer.update(frames)
        partial = _strict_json(tmp_path / 'p.partial.json')
        assert partial['partial'] is True and partial['num_frames'] == 2
        assert partial['frames'][0]['instances'][0] == dict(
            keypoints=[[None, 1.0]], keypoint_scores=[None])
        writer.save(frames)
    finally:
        source.release()
    data = _strict_json(out)
    assert data['num_frames'] == 2 and 'partial' not in data
    assert data['frames'] == partial['frames']
    assert sorted(os.listdir(tmp_path)) == ['c.mp4', 'p.json']


@pytest.mark.slow
def test_demos_refuse_non_finite_and_absurd_options(res18_files, clips,
                                                    tmp_path):
    """One usage line naming the option (exit status 2), no traceback, no
    output."""
    video = _video_demo(res18_files, clips['short'], 'out')
    webcam = ['--animal-pose-config', res18_files[0],
              '--animal-pose-checkpoint', res18_files[1], '--cam-id',
              clips['short'], '--roi', '0,0,96,64', '--out-json', 'out/w.json']
    cases = {
        'beta=nan': (VIDEO_DEMO, video + [
            '--smooth', 'oneeuro', '--smooth-param', 'beta=nan'],
            '--smooth oneeuro --smooth-param: beta=nan must be a finite '
            'number >= 0'),
        'sigma=1e9': (VIDEO_DEMO, video + [
            '--smooth', 'gaussian', '--smooth-param', 'sigma=1e9'],
            '--smooth gaussian --smooth-param: sigma=1e+09: the Gaussian '
            'reaches'),
        'roi=nan': (VIDEO_DEMO, video + ['--roi=nan,0,10,10'],
                    '--roi nan,0,10,10: x1,y1,x2,y2 must be finite numbers'),
        'webcam d_cutoff': (WEBCAM_DEMO, webcam + [
            '--smooth', 'oneeuro', '--smooth-param', 'd_cutoff=-inf'],
            'd_cutoff=-inf must be a finite number > 0'),
    }
    procs = {name: _popen(script, args, tmp_path)
             for name, (script, args, _) in cases.items()}
    for name, proc in procs.items():
        rc, out, err = _finish(proc)
        script, _, expected = cases[name]
        assert rc == 2, (name, out, err)
        assert expected in _error_line(err, script.name), (name, err)
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('args, expected', [
    (['--search-scales', '1e-9'], '--search-scales 1e-9: each must be in '
     '[0.1, 1]'),
    (['--box-enlarge', 'inf'], '--box-enlarge must be a finite number >= 1'),
    (['--box-min-score', 'nan'], '--box-min-score must be a finite number'),
    (['--init-track-thr=-inf'], '--init-track-thr must be a finite'),
    (['--radius', str(2**40)], '--radius must be in [0, 1000]'),
    (['--thickness', '40000'], '--thickness in [1, 1000]'),
    (['--roi', '0,0,inf,10'], '--roi 0,0,inf,10: x1,y1,x2,y2 must be finite'),
    (['--smooth', 'savgol', '--smooth-param', 'window_length=1e9'],
     'window_length=1000000000 must be a whole number >= 3 and <= 301'),
])
def test_video_demo_options_are_checked(args, expected, capsys):
    """The other numeric options of the demos (their shared parser, in
    this process): a usage error naming the option."""
    from conftest import load_tool
    demo = load_tool('demo/top_down_video_demo_full_frame_without_det.py')
    with pytest.raises(SystemExit) as exc:
        demo.parse_args(['c.py', 'm.pth', '--video-path', 'v.mp4',
                         '--out-video-root', 'out'] + args)
    assert exc.value.code == 2
    assert expected in capsys.readouterr().err.splitlines()[-1]
