"""The demo loops with tracking, smoothing and the onnxruntime backend
(custom_pose.apis.run_video / run_live, demo/webcam_demo.py), undecodable
frames and the batch that fits in memory. Models: the quickstart ResNet-18
with random weights (tests/test_video/conftest.py)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import read_video

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBCAM_DEMO = REPO_ROOT / 'demo' / 'webcam_demo.py'


@pytest.fixture(scope='module')
def arena(tmp_path_factory):
    """A short two-animal arena clip, 192x144."""
    from custom_pose.datasets.synthetic import make_arena_clip
    root = tmp_path_factory.mktemp('arena')
    return make_arena_clip(str(root), seed=3, num_frames=9,
                           image_size=(192, 144))


def _instances(path):
    with open(path) as f:
        data = json.load(f)
    return data, [fr['instances'] for fr in data['frames']]


def test_run_video_track_box_smoothing_json(res18_files, arena, tmp_path):
    """--track-box with every keypoint labelled and every pose sure (so the
    random model's pose is never lost and keeps one track) and
    Savitzky-Golay: propagated boxes, one track, the smoothed keypoints
    differ from the raw ones, which the JSON keeps."""
    from custom_pose.apis import run_video
    from custom_pose.tracking import TrackingOptions
    opts = TrackingOptions(track_box=True, kpt_thr=-1.0, min_mean_score=-1.0,
                           init_track_thr=-1.0, smooth='savgol',
                           smooth_params=dict(window_length=5, polyorder=1))
    stats = run_video(*res18_files, arena['video'],
                      out_video_root=str(tmp_path), save_predictions=True,
                      device='cpu', progress=False, tracking=opts)
    assert stats.frames_done == 9 and stats.undecodable == []
    assert set(stats.stage_ms) == {'propagation', 'pose', 'tracking',
                                   'smoothing'}
    assert stats.stage_ms['pose'] > 0
    data, insts = _instances(stats.out_json)
    assert data['tracking']['smooth'] == 'savgol'
    assert data['tracking']['smooth_params'] == dict(window_length=5,
                                                     polyorder=1)
    assert [fr['frame_id'] for fr in data['frames']] == list(range(9))
    assert all(len(i) == 1 for i in insts)
    insts = [i[0] for i in insts]
    # the first frame: the surest search window, refined in its own box
    assert [i['bbox_source'] for i in insts] == ['propagated'] * 9
    assert {i['track_id'] for i in insts} == {0}
    raw = np.array([i['keypoints_raw'] for i in insts])
    smooth = np.array([i['keypoints'] for i in insts])
    assert raw.shape == smooth.shape == (9, 20, 2)
    assert np.abs(raw - smooth).max() > 0.1
    # a linear fit over 5 frames: the middle frame is the mean of its window
    np.testing.assert_allclose(smooth[4], raw[2:7].mean(axis=0), atol=2e-3)
    # each box is the previous pose's keypoints' box, enlarged
    from custom_pose.tracking import bbox_from_keypoints
    for prev, cur in zip(insts[:-1], insts[1:]):
        size = np.array(prev['bbox'][2:]) - np.array(prev['bbox'][:2])
        expected = bbox_from_keypoints(
            prev['keypoints_raw'], np.ones(20), (192, 144), kpt_thr=-1,
            enlarge=opts.enlarge, min_size=np.maximum(8.0, 0.9 * size))
        np.testing.assert_allclose(cur['bbox'], expected, atol=0.02)


def _garbled_avi(src, dst, bad):
    """Copy ``src`` into an MJPG AVI and garble the JPEG data of the frames
    in ``bad`` (their chunks keep their size, so the rest decodes)."""
    frames = read_video(src)[0]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*'MJPG'),
                             25.0, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    data = bytearray(Path(dst).read_bytes())
    movi = data.find(b'movi')
    chunks, pos = [], movi
    while len(chunks) < len(frames):
        pos = data.find(b'00dc', pos + 4)
        chunks.append(pos)
    for i in bad:
        size = int.from_bytes(data[chunks[i] + 4:chunks[i] + 8], 'little')
        start = chunks[i] + 8
        data[start:start + size] = bytes(size)  # no JPEG markers left
    Path(dst).write_bytes(bytes(data))
    return len(frames)


def test_undecodable_frames_keep_the_frame_ids(res18_files, arena,
                                               tmp_path):
    from custom_pose.apis import open_video_file, run_video
    avi = tmp_path / 'garbled.avi'
    total = _garbled_avi(arena['video'], avi, bad=(3, 4, 6))
    assert total == 9
    source = open_video_file(str(avi))
    got = []
    while True:
        item = source.read_indexed()
        if item is None:
            break
        got.append(item[0])
    source.release()
    assert got == [0, 1, 2, 5, 7, 8]
    assert source.decode_report() == \
        '6 of 9 frames decoded (frames 3-4, 6 undecodable)'
    stats = run_video(*res18_files, str(avi), out_video_root=str(tmp_path),
                      save_predictions=True, device='cpu', progress=False,
                      batch_size=2)
    assert stats.frames_done == 6 and stats.undecodable == [3, 4, 6]
    assert stats.decode_report == source.decode_report()
    data, _ = _instances(stats.out_json)
    assert [fr['frame_id'] for fr in data['frames']] == [0, 1, 2, 5, 7, 8]
    assert data['undecodable_frames'] == [3, 4, 6]
    assert data['frames_decoded'] == 6


def test_batch_size_fits_in_memory(res18_files, arena, tmp_path):
    from custom_pose.apis import fit_batch_size, run_video
    from custom_pose.apis.loop_parts import available_memory
    # 720p: 3 frames of 2.76 MB per batch slot; 4 GiB available, a quarter
    # for the frames -> 129 frames per batch
    batch, note = fit_batch_size(100000, (1280, 720), available=4 * 1024**3)
    assert batch == 1024**3 // (3 * 1280 * 720 * 3) == 129
    assert note == ('batch_size=100000 would hold 772.5 GiB of 1280x720 '
                    'frames; using 129 (25% of the 4.0 GiB available)')
    assert fit_batch_size(16, (1280, 720), available=4 * 1024**3) == (16,
                                                                      None)
    assert fit_batch_size(8, (1280, 720), available=1)[0] == 1
    # the demo's loop applies it with the memory it finds
    huge = 10**9
    warnings = []
    stats = run_video(*res18_files, arena['video'], device='cpu',
                      progress=False, batch_size=huge, show=False,
                      out_video_root=str(tmp_path), warn=warnings.append)
    # (the available memory moves between two readings; a frame also takes
    # what the model's forward pass measures: test_batch_memory.py)
    frames = 0.25 * available_memory() / (3 * 192 * 144 * 3)
    assert 1 < stats.batch_size < frames < huge
    assert len(warnings) == 1 and warnings[0].startswith(
        f'batch_size={huge} would hold')
    assert f'; using {stats.batch_size} (25% of the' in warnings[0]
    assert stats.frames_done == 9
    # the whole frame in batches: the pose stage is timed there too
    assert stats.stage_ms['pose'] > 0


def test_onnxruntime_backend_matches_pytorch(res18_files, arena, tmp_path):
    """The same loop with the network exported to ONNX: keypoints within
    0.1 model-input px (mean) of PyTorch fp32, the flip test and decoding
    unchanged."""
    pytest.importorskip('onnxruntime')
    from custom_pose.apis import init_pose_model, run_video
    from custom_pose.deploy import export_onnx
    onnx_path = tmp_path / 'res18.onnx'
    export_onnx(init_pose_model(*res18_files, 'cpu'), str(onnx_path))
    runs = {}
    for backend in ('pytorch', 'onnxruntime'):
        stats = run_video(
            *res18_files, arena['video'], out_video_root=str(tmp_path /
                                                             backend),
            save_predictions=True, device='cpu', progress=False,
            fuse_conv_bn=False, channels_last=False, backend=backend,
            onnx=str(onnx_path) if backend == 'onnxruntime' else None)
        data, insts = _instances(stats.out_json)
        assert data['backend'] == backend
        runs[backend] = np.array([i[0]['keypoints'] for i in insts])
    # whole frame 192x144 -> 128x128 input: 240 image px per 128 input px
    diff = np.linalg.norm(runs['pytorch'] - runs['onnxruntime'], axis=-1)
    assert diff.mean() * 128 / 240 < 0.1
    from custom_pose.errors import InputError
    with pytest.raises(InputError, match='go together'):
        run_video(*res18_files, arena['video'], device='cpu',
                  progress=False, backend='onnxruntime')


def test_heatmap_fn_replaces_the_network_call(res18_model):
    """TopdownBatchInferencer's hook: the function gets the normalised
    (flip-doubled) batch, its heatmaps are decoded as the model's."""
    from custom_pose.apis import TopdownBatchInferencer
    inferencer = TopdownBatchInferencer(res18_model)
    frame = np.random.default_rng(0).integers(0, 255, (96, 128, 3),
                                              np.uint8)
    boxes = np.array([[10, 10, 90, 80], [40, 20, 120, 90]], np.float32)
    ref_k, ref_s = inferencer.infer_bboxes(frame, boxes)
    seen = []

    def network(batch):
        seen.append(tuple(batch.shape))
        heatmaps = res18_model.head.forward(res18_model.extract_feat(batch))
        return heatmaps * 2  # scores double, keypoints stay

    inferencer.use_heatmap_fn(network)
    k, s = inferencer.infer_bboxes(frame, boxes)
    flip = inferencer.test_cfg.get('flip_test', False)
    assert seen == [((4 if flip else 2), 3, 128, 128)]
    np.testing.assert_allclose(k, ref_k, atol=1e-4)
    np.testing.assert_allclose(s, 2 * ref_s, rtol=1e-5)


def test_webcam_demo_roi_track_box_without_a_detector(res18_files, arena,
                                                      tmp_path):
    """--roi starts the animal without a detector; --out-json writes the
    tracked poses with their box sources; --smooth savgol on a file."""
    out_json = tmp_path / 'live.json'
    proc = subprocess.run(
        [sys.executable, str(WEBCAM_DEMO), '--animal-pose-config',
         res18_files[0], '--animal-pose-checkpoint', res18_files[1],
         '--cam-id', arena['video'], '--roi', '0,20,150,140',
         '--track-box', '--box-min-score', '-1', '--smooth', 'savgol',
         '--smooth-param', 'window_length=5', 'polyorder=1', '--out-json',
         str(out_json), '--device', 'cpu'],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert 'frames: 9 (dropped 0)' in proc.stdout
    assert 'detections (bbox_thr 0.5): none' in proc.stdout
    assert f'predictions: {out_json}' in proc.stdout
    data, insts = _instances(out_json)
    assert data['tracking']['roi'] == [0, 20, 150, 140]
    assert [fr['frame_id'] for fr in data['frames']] == list(range(9))
    sources = [i['bbox_source'] for frame in insts for i in frame]
    assert len(sources) == 9
    assert sources[0] in ('roi', 'search', 'propagated')
    assert set(sources[1:]) <= {'roi', 'search', 'propagated'}
    # no detector checkpoint needs --roi
    proc = subprocess.run(
        [sys.executable, str(WEBCAM_DEMO), '--animal-pose-config',
         res18_files[0], '--animal-pose-checkpoint', res18_files[1],
         '--cam-id', arena['video'], '--smooth', 'gaussian'],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 2
    assert '--det-checkpoint is required' in proc.stderr.splitlines()[-1]


def test_run_live_shows_the_frame_it_writes(res18_files, arena, tmp_path,
                                            monkeypatch):
    """--show displays each frame as it is written: poses and overlay drawn
    (the window copies the frame when it is shown, as cv2.imshow does)."""
    from custom_pose.apis import run_live, video_output
    from custom_pose.tracking import TrackingOptions
    shown, written = [], []
    monkeypatch.setattr(video_output, 'display_available', lambda: True)
    monkeypatch.setattr(video_output.Display, 'show',
                        lambda self, frame, wait_ms=1: shown.append(
                            frame.copy()) and False)
    real_write = video_output.VideoSink.write

    def write(self, frame):
        written.append(frame.copy())
        real_write(self, frame)

    monkeypatch.setattr(video_output.VideoSink, 'write', write)
    run_live(arena['video'], None, res18_files[0], res18_files[1],
             out_video=str(tmp_path / 'live.mp4'), show=True, device='cpu',
             tracking=TrackingOptions(roi=(0, 20, 150, 140), kpt_thr=-1.0))
    assert len(shown) == len(written) == 9
    for seen, out in zip(shown, written):
        np.testing.assert_array_equal(seen, out)
    # the overlay is drawn on them: not the clip's plain frames
    plain = read_video(arena['video'])[0]
    assert (np.abs(shown[0].astype(int) - plain[0]).max(axis=2) > 60).mean() \
        > 0.001
