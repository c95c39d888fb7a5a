"""Tests of the demos (demo/*.py, run end to end as subprocesses) and of the
shared code they use (custom_pose.apis).

The models are small stand-ins built here from the repository's configs: a
ResNet-18 SimpleBaseline at 64x64 input (random weights) for the pose
models, and mmdet's own YOLOv3 (Darknet-53, built from the config inside
the mmdet package) whose prediction convs are set so that every image gives
a few ``dog`` and ``person`` boxes. The demos run headless, from a temporary
working directory, on clips written by the synthetic data generator.
"""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import read_video

REPO_ROOT = Path(__file__).resolve().parents[1]
VIDEO_DEMO = REPO_ROOT / 'demo' / 'top_down_video_demo_full_frame_without_det.py'
WEBCAM_DEMO = REPO_ROOT / 'demo' / 'webcam_demo.py'
POSE_BASE_CONFIG = REPO_ROOT / 'configs' / 'animal' / \
    'custom_res50_animalpose_256x256.py'
INPUT_SIZE = (64, 64)
DOG, PERSON = 16, 0  # COCO label indices


# ---------------------------------------------------------------------------
# helpers and fixtures
# ---------------------------------------------------------------------------
def _env():
    """Subprocess environment: headless, one thread per process."""
    env = dict(os.environ)
    env.pop('DISPLAY', None)
    env.pop('WAYLAND_DISPLAY', None)
    env['OMP_NUM_THREADS'] = '1'  # several demos run at once
    env['PYTHONWARNINGS'] = 'ignore::DeprecationWarning'
    return env


def _default_sigint():
    # a shell without job control starts background jobs with SIGINT
    # ignored, and Python keeps an inherited SIG_IGN: undo that, so that
    # the demos get KeyboardInterrupt however the suite was started
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _popen(script, args, cwd):
    return subprocess.Popen([sys.executable, str(script)] +
                            [str(a) for a in args],
                            cwd=str(cwd),
                            env=_env(),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=_default_sigint)


def _run(script, args, cwd, timeout=240):
    proc = _popen(script, args, cwd)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _write_pose_model(out_dir, name, num_keypoints, metainfo_file=None):
    """A 64x64 ResNet-18 SimpleBaseline config (dumped from the repo's
    ResNet-50 config) and a checkpoint of it with ``meta['dataset_meta']``
    saved as mmengine does."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint
    from mmpose.apis.inference import dataset_meta_from_config
    from mmpose.models.builder import build_pose_estimator

    cfg = Config.fromfile(str(POSE_BASE_CONFIG))
    cfg.model.backbone.depth = 18
    cfg.model.backbone.init_cfg = None
    cfg.model.head.in_channels = 512
    cfg.model.head.out_channels = num_keypoints
    cfg.model.head.num_deconv_filters = (32, 32, 32)
    cfg.model.head.decoder = dict(
        type='MSRAHeatmap', input_size=INPUT_SIZE, heatmap_size=(16, 16),
        sigma=2)
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        for t in loader.dataset.pipeline:
            if t['type'] == 'TopdownAffine':
                t['input_size'] = INPUT_SIZE
    if metainfo_file is not None:
        cfg.train_dataloader.dataset.metainfo = dict(from_file=metainfo_file)
    cfg_path = osp.join(out_dir, f'{name}.py')
    cfg.dump(cfg_path)

    init_default_scope('mmpose')
    torch.manual_seed(0)
    model = build_pose_estimator(cfg.model)
    meta = dataset_meta_from_config(cfg, 'train')
    assert meta['num_keypoints'] == num_keypoints
    ckpt_path = osp.join(out_dir, f'{name}.pth')
    save_checkpoint(
        dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)),
        ckpt_path)
    return cfg_path, ckpt_path


def _write_detector(out_dir):
    """mmdet's bundled YOLOv3 config at a 64x64 test scale, and a
    checkpoint whose prediction convs answer, on every image, 'dog' for the
    first and 'person' for the second anchor of the coarsest level."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import mmdet.models  # noqa: F401
    from custom_pose.apis import mmdet_config_path
    from mmdet.registry import MODELS as DET_MODELS

    base = mmdet_config_path()
    cfg_path = osp.join(out_dir, 'yolov3_test.py')
    with open(cfg_path, 'w') as f:
        f.write(f"""_base_ = {base!r}
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
""")
    cfg = Config.fromfile(base)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = DET_MODELS.build(cfg.model)
    head = model.bbox_head
    with torch.no_grad():
        for conv in head.convs_pred:
            conv.weight.zero_()
            bias = conv.bias.view(head.num_base_priors, head.num_attrib)
            bias.zero_()
            bias[:, 4] = -20.  # objectness off
            bias[:, 5:] = -10.  # all classes off
        bias = head.convs_pred[0].bias.view(head.num_base_priors,
                                            head.num_attrib)
        bias[0, 4], bias[0, 5 + DOG] = 8., 10.
        bias[1, 4], bias[1, 5 + PERSON] = 8., 10.
    ckpt_path = osp.join(out_dir, 'yolov3_test.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt_path)
    return cfg_path, ckpt_path


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    """Clips, configs and checkpoints shared by the tests of this file."""
    import mmpose

    from custom_pose.datasets.synthetic import make_clip

    root = tmp_path_factory.mktemp('demo_assets')
    a = {}
    # non-square frames: the crop must keep the model's aspect ratio
    make_clip(str(root / 'clip'), seed=1, num_frames=12,
              image_size=(160, 120))
    a['clip'] = root / 'clip' / 'clip.mp4'
    make_clip(str(root / 'short'), seed=2, num_frames=5,
              image_size=(128, 96))
    a['short_clip'] = root / 'short' / 'clip.mp4'
    # long and plain, for the Ctrl-C test
    long_clip = root / 'long.mp4'
    writer = cv2.VideoWriter(str(long_clip), cv2.VideoWriter_fourcc(*'mp4v'),
                             20.0, (96, 64))
    for i in range(300):
        frame = np.full((64, 96, 3), 40, np.uint8)
        cv2.circle(frame, (10 + i % 76, 32), 8, (0, 200, 255), -1)
        writer.write(frame)
    writer.release()
    a['long_clip'] = long_clip

    a['animal_cfg'], a['animal_ckpt'] = _write_pose_model(
        str(root), 'animal_r18_64', 20)
    coco_meta = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
        'datasets', 'coco.py')
    a['human_cfg'], a['human_ckpt'] = _write_pose_model(
        str(root), 'human_r18_64', 17, metainfo_file=coco_meta)
    a['det_cfg'], a['det_ckpt'] = _write_detector(str(root))

    # broken inputs
    a['text_mp4'] = root / 'not_a_video.mp4'
    a['text_mp4'].write_text('this is not a video\n')
    a['garbage_ckpt'] = root / 'garbage.pth'
    a['garbage_ckpt'].write_bytes(np.random.default_rng(0).bytes(4096))
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(),
                                torch.nn.Linear(8, 2))
    a['other_ckpt'] = root / 'other_model.pth'
    torch.save(dict(state_dict=other.state_dict()), a['other_ckpt'])
    a['a_file'] = root / 'a_file'
    a['a_file'].write_text('not a folder\n')
    a['bad_onnx'] = root / 'bad.onnx'
    a['bad_onnx'].write_text('not an onnx model\n')
    # an ONNX model of the 17-keypoint human model (run with the animal one)
    from custom_pose.apis import init_pose_model
    from custom_pose.deploy import export_onnx
    a['human_onnx'] = root / 'human.onnx'
    export_onnx(init_pose_model(a['human_cfg'], a['human_ckpt'], 'cpu'),
                str(a['human_onnx']), dynamic_batch=True)
    return a


@pytest.fixture(scope='module')
def animal_model(assets):
    from custom_pose.apis import init_pose_model
    return init_pose_model(assets['animal_cfg'], assets['animal_ckpt'],
                           'cpu')


# ---------------------------------------------------------------------------
# custom_pose.apis
# ---------------------------------------------------------------------------
def test_batched_inference_matches_mmpose(assets, animal_model):
    """Batched crops + vectorised decoding give what mmpose's
    ``inference_topdown`` gives, frame by frame and box by box."""
    from custom_pose.apis import TopdownBatchInferencer
    from mmpose.apis import inference_topdown

    frames = read_video(assets['clip'])[0][:4]
    model = animal_model
    fast = TopdownBatchInferencer(model, batch_size=3)  # batches of 3 + 1
    assert fast.fast and fast.vector_decode
    kpts, scores = fast.infer_frames(frames)
    assert kpts.shape == (4, 20, 2) and scores.shape == (4, 20)

    ref = [inference_topdown(model, f)[0].pred_instances for f in frames]
    np.testing.assert_allclose(
        kpts, np.stack([r.keypoints[0] for r in ref]), atol=1e-3)
    np.testing.assert_allclose(
        scores, np.stack([r.keypoint_scores[0] for r in ref]), atol=1e-5)

    # mmpose's own model.predict on the same batch (the generic path)
    slow_kpts, slow_scores = TopdownBatchInferencer(
        model, fast=False).infer_frames(frames)
    np.testing.assert_allclose(slow_kpts, kpts, atol=1e-3)
    np.testing.assert_allclose(slow_scores, scores, atol=1e-5)

    # several boxes of one image, partly outside it
    boxes = np.array([[10, 20, 90, 100], [50, 5, 170, 110], [-20, 0, 30, 60]],
                     np.float32)
    kb, sb = fast.infer_bboxes(frames[3], boxes)
    ref = inference_topdown(model, frames[3], boxes)
    np.testing.assert_allclose(
        kb, np.stack([r.pred_instances.keypoints[0] for r in ref]),
        atol=1e-3)
    np.testing.assert_allclose(
        sb, np.stack([r.pred_instances.keypoint_scores[0] for r in ref]),
        atol=1e-5)
    empty = fast.infer_bboxes(frames[0], np.zeros((0, 4), np.float32))
    assert empty[0].shape == (0, 20, 2) and empty[1].shape == (0, 20)


def test_decode_msra_heatmaps_matches_codec():
    from custom_pose.apis import decode_msra_heatmaps
    from mmpose.codecs import MSRAHeatmap

    codec = MSRAHeatmap(input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
    rng = np.random.default_rng(0)
    heatmaps = rng.random((3, 6, 16, 12)).astype(np.float32)
    # maxima on every kind of border, and a map with no positive value
    spots = [(0, 0), (1, 5), (11, 7), (10, 15), (6, 1), (5, 14)]
    for k, (x, y) in enumerate(spots):
        heatmaps[0, k, y, x] = 2.0
    heatmaps[1, 2] = -rng.random((16, 12))
    kpts, scores = decode_msra_heatmaps(torch.from_numpy(heatmaps))
    kpts = kpts.numpy() * codec.scale_factor
    for n in range(3):
        ref_k, ref_s = codec.decode(heatmaps[n])
        np.testing.assert_allclose(kpts[n], ref_k[0], atol=1e-6)
        np.testing.assert_allclose(scores[n].numpy(), ref_s[0], atol=1e-6)
    assert (kpts[1, 2] == -1 * codec.scale_factor).all()


def test_pose_drawer_uses_dataset_colours():
    from custom_pose.apis import PoseDrawer

    meta = dict(
        keypoint_colors=np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]]),
        skeleton_links=[(0, 1), (1, 2)],
        skeleton_link_colors=np.array([[255, 255, 0], [0, 255, 255]]))
    drawer = PoseDrawer(meta, 3, radius=3, thickness=2, kpt_thr=0.5)
    img = np.zeros((60, 100, 3), np.uint8)
    kpts = np.array([[[10, 10], [50, 10], [50, 50]]], np.float32)
    drawer.draw(img, kpts, np.array([[0.9, 0.9, 0.1]]))
    # RGB metainfo colours, drawn in BGR
    assert tuple(img[10, 10]) == (0, 0, 255)
    assert tuple(img[10, 50]) == (0, 255, 0)
    assert tuple(img[10, 30]) == (0, 255, 255)  # link 0-1: RGB yellow
    assert not img[50, 50].any() and not img[30, 50].any()  # below thr
    with pytest.raises(ValueError, match='skeleton_links'):
        PoseDrawer(dict(skeleton_links=[(0, 5)]), 3)


def test_frame_reader_policies(assets):
    """Files: every frame, in order, through a bounded queue. Cameras: only
    the newest frame; the rest are dropped and counted."""
    from custom_pose.apis import ThreadedFrameReader, open_video_file

    reference = read_video(assets['clip'])[0]
    with ThreadedFrameReader(
            open_video_file(str(assets['clip'])), drop_stale=False,
            max_queue=2) as reader:
        time.sleep(0.3)  # the reader fills the queue and waits
        assert reader.queued == 2
        assert reader.frames_read == 3  # the third waits for room
        got = []
        for packet in reader:
            assert reader.queued <= 2
            got.append(packet)
    assert [p.index for p in got] == list(range(len(reference)))
    assert all((p.frame == f).all() for p, f in zip(got, reference))
    assert reader.dropped == 0

    with ThreadedFrameReader(
            open_video_file(str(assets['clip'])), drop_stale=True) as reader:
        time.sleep(0.3)  # a slow consumer: the reader has long finished
        got = [p.index for p in reader]
    assert len(got) <= 1
    assert len(got) + reader.dropped == len(reference)


# ---------------------------------------------------------------------------
# demo/top_down_video_demo_full_frame_without_det.py
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_video_demo_end_to_end(assets, animal_model, tmp_path):
    from custom_pose.apis import TopdownBatchInferencer

    rc, out, err = _run(VIDEO_DEMO, [
        assets['animal_cfg'], assets['animal_ckpt'], '--video-path',
        assets['clip'], '--out-video-root', 'vis', '--device', 'cpu',
        '--batch-size', 5, '--kpt-thr', 0, '--save-predictions', '--show',
        '--init-track-thr', -1
    ], cwd=tmp_path)
    assert rc == 0, err
    assert 'Traceback' not in err
    prog = VIDEO_DEMO.name
    # headless --show: one warning, and the run goes on
    assert err.count(f'{prog}: warning: no display found') == 1
    # the default --box-mode auto says once what it chose: the random
    # model is sure of no pose, so the whole frame
    assert err.count(f'{prog}: --box-mode auto chose ') == 1
    assert f'{prog}: --box-mode auto chose full-frame: no pose with a mean ' \
        'keypoint score of 0.3 or more in the first 5 frames' in err
    # the summary line
    assert re.fullmatch(
        rf'{re.escape(prog)}: 12 frames in \d+\.\d s \(\d+\.\d frames/s\) '
        r'on cpu, pytorch', out.splitlines()[0]), out

    frames_in, fps_in, size_in = read_video(assets['clip'])
    frames_out, fps_out, size_out = read_video(tmp_path / 'vis' /
                                                'vis_clip.mp4')
    assert len(frames_out) == len(frames_in) == 12
    assert fps_out == pytest.approx(fps_in)
    assert size_out == size_in == (160, 120)

    with open(tmp_path / 'vis' / 'vis_clip.json') as f:
        preds = json.load(f)
    assert preds['num_frames'] == len(preds['frames']) == 12
    assert preds['num_keypoints'] == 20
    assert preds['keypoint_names'][0] == 'L_Eye'
    assert preds['backend'] == 'pytorch' and preds['undecodable_frames'] == []
    assert preds['tracking']['track_box'] is False
    assert preds['tracking']['box_mode'] == 'auto'
    decision = preds['tracking']['box_decision']
    assert (decision['mode'], decision['start'], decision['frames'],
            decision['sure_frames'], decision['fill']) == (
                'start', 'full_frame', 5, 0, None)
    # the random model is unsure of every pose (scores ~0); with
    # --init-track-thr -1 its poses still start and keep a track (by
    # default they get id -1)
    assert preds['tracking']['init_track_thr'] == -1
    # one pose per frame, in the whole frame, one track, not smoothed
    insts = [fr['instances'] for fr in preds['frames']]
    assert all(len(i) == 1 for i in insts)
    insts = [i[0] for i in insts]
    assert {i['bbox_source'] for i in insts} == {'full_frame'}
    assert {i['track_id'] for i in insts} == {0}
    assert all(i['bbox'] == [0, 0, 160, 120] for i in insts)
    kpts = np.array([i['keypoints'] for i in insts])
    scores = np.array([i['keypoint_scores'] for i in insts])
    np.testing.assert_array_equal(kpts, [i['keypoints_raw'] for i in insts])
    assert kpts.shape == (12, 20, 2) and scores.shape == (12, 20)
    assert [fr['frame_id'] for fr in preds['frames']] == list(range(12))
    # the same numbers as in-process inference on the decoded frames, with
    # the demo's default numeric path (BN folded, channels-last, fp32)
    from custom_pose.models.utils import prepare_for_inference
    ref_model = prepare_for_inference(
        animal_model, fuse_bn=True, channels_last=True)
    ref_k, ref_s = TopdownBatchInferencer(ref_model).infer_frames(frames_in)
    np.testing.assert_allclose(kpts, ref_k, atol=2e-3)  # JSON: 1/1000 px
    np.testing.assert_allclose(scores, ref_s, atol=1e-5)
    # with --kpt-thr 0 every keypoint inside the frame is drawn
    changed = [
        np.abs(fo.astype(int) - fi.astype(int)).sum(-1).max() > 60
        for fo, fi in zip(frames_out, frames_in)
    ]
    assert all(changed)


def test_run_video_returns_its_statistics(assets, tmp_path):
    """The demo's loop as a function (what the benchmark calls)."""
    from custom_pose.apis import run_video

    out = tmp_path / 'out'
    stats = run_video(
        assets['animal_cfg'], assets['animal_ckpt'],
        str(assets['short_clip']), out_video_root=str(out),
        save_predictions=True, device='cpu', batch_size=2, progress=False)
    assert stats.frames_read == stats.frames_done == 5
    assert not stats.interrupted and not stats.quit_requested
    assert stats.device == 'cpu' and stats.seconds > 0
    assert stats.fps == pytest.approx(5 / stats.seconds)
    assert stats.out_video == str(out / 'vis_clip.mp4')
    assert stats.out_json == str(out / 'vis_clip.json')
    assert len(read_video(stats.out_video)[0]) == 5
    with open(stats.out_json) as f:
        preds = json.load(f)
    assert [fr['frame_id'] for fr in preds['frames']] == list(range(5))


def _error_cases(a):
    video, webcam = VIDEO_DEMO, WEBCAM_DEMO
    good = [a['animal_cfg'], a['animal_ckpt']]
    webcam_models = [
        '--det_config', a['det_cfg'], '--det_checkpoint', a['det_ckpt'],
        '--animal_pose_config', a['animal_cfg'], '--animal_pose_checkpoint',
        a['animal_ckpt']
    ]
    return {
        'missing_video': (video, good + ['--video-path', 'nope/missing.mp4',
                                         '--out-video-root', 'o'],
                          'video file not found: nope/missing.mp4'),
        'unreadable_video': (video, good + ['--video-path', a['text_mp4'],
                                            '--out-video-root', 'o'],
                             'cannot read video'),
        'missing_checkpoint': (video, [a['animal_cfg'], 'missing.pth',
                                       '--video-path', a['clip'],
                                       '--out-video-root', 'o'],
                               'checkpoint file not found: missing.pth'),
        'garbage_checkpoint': (video, [a['animal_cfg'], a['garbage_ckpt'],
                                       '--video-path', a['clip'],
                                       '--out-video-root', 'o'],
                               'cannot load checkpoint'),
        'other_model_checkpoint': (video, [a['animal_cfg'], a['other_ckpt'],
                                           '--video-path', a['clip'],
                                           '--out-video-root', 'o'],
                                   'incompatible checkpoint'),
        'keypoint_mismatch': (video, [a['human_cfg'], a['animal_ckpt'],
                                      '--video-path', a['clip'],
                                      '--out-video-root', 'o'],
                              'keypoint-count mismatch: checkpoint'),
        'no_camera': (webcam, webcam_models + ['--cam-id', '7'],
                      'cannot open camera 7'),
        'out_root_is_a_file': (video, good + ['--video-path', a['clip'],
                                              '--out-video-root',
                                              a['a_file']],
                               f"--out-video-root {a['a_file']} is a file, "
                               'not a folder'),
        'out_file_below_a_file': (webcam, webcam_models + [
            '--cam-id', a['short_clip'], '--out-video-file',
            f"{a['a_file']}/o.mp4"
        ], f"{a['a_file']} is a file, not a folder"),
        'bad_onnx': (video, good + ['--video-path', a['clip'],
                                    '--out-video-root', 'o', '--backend',
                                    'onnxruntime', '--onnx', a['bad_onnx']],
                     f"cannot load ONNX model {a['bad_onnx']}: not a valid "
                     'ONNX model'),
        'onnx_keypoint_mismatch': (webcam, webcam_models + [
            '--cam-id', a['short_clip'], '--backend', 'onnxruntime',
            '--onnx', a['human_onnx']
        ], f"keypoint-count mismatch: ONNX model {a['human_onnx']} predicts "
           '17 keypoints but the model of'),
        'roi_outside_the_frame': (video, good + [
            '--video-path', a['clip'], '--out-video-root', 'o', '--roi',
            '200,10,300,100'
        ], '--roi 200,10,300,100 lies outside the 160x120 frame'),
    }


@pytest.fixture(scope='module')
def error_runs(assets, tmp_path_factory):
    """Every error case, run concurrently (each is a separate process)."""
    cwd = tmp_path_factory.mktemp('error_cwd')
    procs = {
        name: (_popen(script, args, cwd), script, expected)
        for name, (script, args, expected) in _error_cases(assets).items()
    }
    results = {}
    for name, (proc, script, expected) in procs.items():
        out, err = proc.communicate(timeout=240)
        results[name] = (proc.returncode, out, err, script, expected)
    results['_cwd'] = cwd
    return results


@pytest.mark.slow
@pytest.mark.parametrize('case', [
    'missing_video', 'unreadable_video', 'missing_checkpoint',
    'garbage_checkpoint', 'other_model_checkpoint', 'keypoint_mismatch',
    'no_camera', 'out_root_is_a_file', 'out_file_below_a_file', 'bad_onnx',
    'onnx_keypoint_mismatch', 'roi_outside_the_frame'
])
def test_demo_errors(error_runs, case):
    """One ``<prog>: error: ...`` line, exit status 1, no traceback, no
    output file."""
    rc, out, err, script, expected = error_runs[case]
    assert rc == 1, (out, err)
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ': error: ' in line]
    assert len(errors) == 1, err
    assert errors[0].startswith(f'{script.name}: error: '), err
    assert expected in errors[0], err
    assert errors[0] == lines[-1]
    assert not (error_runs['_cwd'] / 'o').exists()


def test_keypoint_mismatch_detected_without_metainfo(assets, tmp_path):
    """A checkpoint without ``meta``: the mismatch is found from the shape
    of the final layer."""
    from custom_pose.apis import KeypointMismatchError, init_pose_model

    ckpt = torch.load(assets['animal_ckpt'], weights_only=True)
    bare = tmp_path / 'bare.pth'
    torch.save(ckpt['state_dict'], bare)
    with pytest.raises(KeypointMismatchError,
                       match=r'predicts 20 keypoints .* predicts 17'):
        init_pose_model(assets['human_cfg'], str(bare), 'cpu')


# ---------------------------------------------------------------------------
# demo/webcam_demo.py
# ---------------------------------------------------------------------------
def _summary_counts(out, prefix):
    line = next(x for x in out.splitlines() if x.startswith(prefix))
    body = line.split(':', 1)[1].strip()
    return dict((k, int(v)) for k, v in
                (item.split('=') for item in body.split(', '))), line


@pytest.mark.slow
def test_webcam_demo_on_a_video_file(assets, tmp_path):
    """Detector + animal and human models on a file: every frame processed
    and written (count, fps and size kept), both models used."""
    models = [
        '--det_config', assets['det_cfg'], '--det-checkpoint',
        assets['det_ckpt'], '--animal-pose-config', assets['animal_cfg'],
        '--animal_pose_checkpoint', assets['animal_ckpt'],
        '--human_pose_config', assets['human_cfg'], '--human_pose_checkpoint',
        assets['human_ckpt'], '--cam-id', assets['short_clip'], '--bbox-thr',
        0.3, '--kpt-thr', 0.0, '--device', 'cpu'
    ]
    rc, out, err = _run(WEBCAM_DEMO,
                        models + ['--out-video-file', 'out/webcam.mp4'],
                        cwd=tmp_path)
    assert rc == 0, err
    assert 'Traceback' not in err
    frames_in, fps_in, size_in = read_video(assets['short_clip'])
    frames_out, fps_out, size_out = read_video(tmp_path / 'out' /
                                                'webcam.mp4')
    assert len(frames_out) == len(frames_in) == 5
    assert fps_out == pytest.approx(fps_in)
    assert size_out == size_in == (128, 96)

    assert 'stopped by end of video' in out
    assert 'frames: 5 (dropped 0)' in out
    dets, line = _summary_counts(out, 'detections')
    assert set(dets) == {'dog', 'person'}, line
    assert dets['dog'] > 0 and dets['person'] > 0
    poses, line = _summary_counts(out, 'pose instances')
    assert poses == {'animal': dets['dog'], 'human': dets['person']}, line

    # --roi: the animal's box is the ROI, so the human branch runs the
    # detector, not the tracker; each stage's latency still counts it once
    rc, out, err = _run(WEBCAM_DEMO, models + ['--roi', '0,0,128,96'],
                        cwd=tmp_path)
    assert rc == 0, err
    line = next(x for x in out.splitlines() if 'mean latency:' in x)
    latency = dict(re.findall(r'(\w+) (-?[\d.]+) ms', line))
    assert set(latency) == {'capture', 'det', 'pose', 'track', 'draw'}, line
    assert all(float(v) >= 0 for v in latency.values()), line


@pytest.mark.slow
def test_webcam_demo_frames_without_detections_pass_unchanged(
        assets, tmp_path):
    """No box passes the threshold and no overlay: the output is the input
    (up to the video codec)."""
    rc, out, err = _run(WEBCAM_DEMO, [
        '--det_checkpoint', assets['det_ckpt'], '--det_config',
        assets['det_cfg'], '--animal_pose_config', assets['animal_cfg'],
        '--animal_pose_checkpoint', assets['animal_ckpt'], '--cam-id',
        assets['short_clip'], '--bbox-thr', 1.0, '--no-overlay',
        '--out-video-file', 'same.mp4'
    ], cwd=tmp_path)
    assert rc == 0, err
    assert 'detections (bbox_thr 1): none' in out
    frames_in = read_video(assets['short_clip'])[0]
    frames_out = read_video(tmp_path / 'same.mp4')[0]
    assert len(frames_out) == len(frames_in)
    for fi, fo in zip(frames_in, frames_out):
        assert np.abs(fi.astype(int) - fo.astype(int)).mean() < 3


@pytest.mark.slow
def test_webcam_demo_ctrl_c_finalises_the_video(assets, tmp_path):
    proc = _popen(WEBCAM_DEMO, [
        '--det_config', assets['det_cfg'], '--det_checkpoint',
        assets['det_ckpt'], '--animal_pose_config', assets['animal_cfg'],
        '--animal_pose_checkpoint', assets['animal_ckpt'], '--cam-id',
        assets['long_clip'], '--out-video-file', 'partial.mp4'
    ], cwd=tmp_path)
    err_lines = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # wait for the frame loop
            line = proc.stderr.readline()
            if not line:
                break
            err_lines.append(line)
            if ': running on ' in line:
                break
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = ''.join(err_lines) + err
    assert proc.returncode == 0, err
    assert 'Traceback' not in err
    assert 'stopped by Ctrl-C' in out
    written = int(out.split('output: partial.mp4 (')[1].split()[0])
    frames, fps, size = read_video(tmp_path / 'partial.mp4')
    assert 0 < len(frames) == written < 300
    assert size == (96, 64) and fps == pytest.approx(20.0)
