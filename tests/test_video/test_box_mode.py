"""The demos' box mode (``--box-mode auto|full-frame|track``,
:func:`custom_pose.tracking.decide_box_mode`) and the propagated box of a
pose with a keypoint far from the others."""
import argparse
import json

import numpy as np
import pytest

from custom_pose.tracking import (BoxPropagator, TrackingOptions,
                                  VideoPoseTracker, bbox_from_keypoints,
                                  decide_box_mode, keypoint_fill)

FRAME = np.zeros((480, 640, 3), np.uint8)


def _inside(box, point, margin=0.0):
    x, y = point
    return (box[0] + margin <= x <= box[2] - margin
            and box[1] + margin <= y <= box[3] - margin)


# ---------------------------------------------------------------------------
# a confident keypoint far from the others
# ---------------------------------------------------------------------------
#: a mouse's head and body within 40 px, its tongue 300 px away (score 0.8)
#: and a keypoint the model is unsure of further still
CORE = np.array([[100, 200], [120, 190], [120, 215], [140, 205]], np.float32)
TONGUE = np.array([400, 120], np.float32)
UNSURE = np.array([620, 460], np.float32)
POSE = np.concatenate([CORE, [TONGUE, UNSURE]])
SCORES = np.array([0.9, 0.9, 0.9, 0.9, 0.8, 0.1], np.float32)


def test_a_confident_far_keypoint_is_inside_the_box_with_the_enlargement():
    enlarge = 1.4
    box = bbox_from_keypoints(POSE, SCORES, (640, 480), kpt_thr=0.3,
                              enlarge=enlarge)
    labelled = POSE[SCORES > 0.3]
    span = labelled.max(axis=0) - labelled.min(axis=0)  # (300, 95)
    # every keypoint scored above the threshold, each with at least the
    # enlargement's margin, (enlarge - 1) / 2 of the span, on every side
    margin = (enlarge - 1) / 2 * span
    for x, y in labelled:
        assert box[0] + margin[0] - 1e-3 <= x <= box[2] - margin[0] + 1e-3
        assert box[1] + margin[1] - 1e-3 <= y <= box[3] - margin[1] + 1e-3
    assert _inside(box, TONGUE, margin=0.2 * 95 - 1e-3)
    # the unsure keypoint does not stretch the box
    assert not _inside(box, UNSURE)
    # with the tongue unsure, the box is the core's alone
    core_box = bbox_from_keypoints(POSE, [0.9] * 4 + [0.1, 0.1],
                                   (640, 480), enlarge=enlarge)
    assert not _inside(core_box, TONGUE)


@pytest.mark.parametrize('previous', [None, [60, 150, 200, 260]])
def test_the_propagated_box_keeps_a_confident_far_keypoint(previous):
    """Through :class:`BoxPropagator` (after a start box, and after a
    propagated box whose size limits how fast the next one shrinks) and
    :class:`VideoPoseTracker`: the next frame's box holds the tongue."""
    prop = BoxPropagator('full_frame')
    sources = ['full_frame'] if previous is None else ['propagated']
    boxes = [[0, 0, 640, 480]] if previous is None else [previous]
    prop.update(FRAME, POSE[None], SCORES[None], np.array(boxes, np.float32),
                sources)
    (box, ), (source, ) = prop.boxes(FRAME)
    assert source == 'propagated'
    assert all(_inside(box, p) for p in POSE[:5])
    assert not _inside(box, UNSURE)

    seen = []

    def pose_fn(frame, boxes):
        seen.append(np.array(boxes))
        return (np.repeat(POSE[None], len(boxes), axis=0),
                np.repeat(SCORES[None], len(boxes), axis=0))

    video = VideoPoseTracker(pose_fn, BoxPropagator('full_frame'),
                             refine_start=0)
    video(FRAME)
    video(FRAME)
    assert _inside(seen[1][0], TONGUE) and not _inside(seen[1][0], UNSURE)


# ---------------------------------------------------------------------------
# box_mode='auto'
# ---------------------------------------------------------------------------
def test_keypoint_fill():
    kpts = np.array([[100, 100], [164, 148], [600, 400]], np.float32)
    # 64 x 48 of a 640 x 480 frame: a tenth (the larger sides, as a square
    # model input sees them)
    assert keypoint_fill(kpts, [1, 1, 0], [0, 0, 640, 480]) == \
        pytest.approx(0.1)
    assert keypoint_fill(kpts, [1, 1, 0], [50, 50, 178, 146]) == \
        pytest.approx(0.5)
    assert keypoint_fill(kpts, [1, 0, 0], [0, 0, 640, 480]) is None


def _clip_truth(path):
    """(T, K, 2) keypoints and (T, K) visibility of a one-animal clip's
    ground truth (``make_clip`` or ``make_arena_clip``)."""
    with open(path) as f:
        data = json.load(f)
    rows = [fr['keypoints'] if 'keypoints' in fr else
            fr['instances'][0]['keypoints'] for fr in data['frames']]
    kpts = np.array(rows, np.float64).reshape(len(rows), -1, 3)
    return kpts[..., :2], kpts[..., 2] > 0


def _sees_animals_that_fill_the_box(frames, truth, visible, min_fill=0.3):
    """Stands in for a trained top-down model on a generated clip: where
    the animal's visible keypoints lie in the box and span at least
    ``min_fill`` of its larger side, their true place (score 0.9, the
    hidden ones 0.05); elsewhere keypoints spread over the box (0.05)."""
    index = {id(f): i for i, f in enumerate(frames)}
    rng = np.random.default_rng(0)

    def pose_fn(frame, boxes):
        t = index[id(frame)]
        pts = truth[t][visible[t]]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        kpts, scores = [], []
        for box in np.asarray(boxes, np.float64):
            inside = (lo >= box[:2]).all() and (hi <= box[2:]).all()
            fill = (hi - lo).max() / (box[2:] - box[:2]).max()
            if inside and fill >= min_fill:
                kpts.append(truth[t] + rng.normal(0, 1.0, truth[t].shape))
                scores.append(np.where(visible[t], 0.9, 0.05))
            else:
                kpts.append(rng.uniform(box[:2], box[2:], truth[t].shape))
                scores.append(np.full(len(truth[t]), 0.05))
        return np.array(kpts, np.float32), np.array(scores, np.float32)

    return pose_fn


def _follow(frames, truth, visible, fill=0.75):
    """The frames cut to a square around the animal (a camera following
    it) whose side its keypoints span ``fill`` of, and the truth in it."""
    import cv2
    spans = [np.ptp(t[v], axis=0).max() for t, v in zip(truth, visible)]
    side = int(np.median(spans) / fill)
    out, moved = [], []
    for frame, t, v in zip(frames, truth, visible):
        lo = np.round((t[v].min(axis=0) + t[v].max(axis=0)) / 2 -
                      side / 2).astype(int)
        big = cv2.copyMakeBorder(frame, side, side, side, side,
                                 cv2.BORDER_REPLICATE)
        x, y = lo + side
        out.append(np.ascontiguousarray(big[y:y + side, x:x + side]))
        moved.append(t - lo)
    return out, np.array(moved), visible


@pytest.fixture(scope='module')
def clips(tmp_path_factory):
    """Clips of the generator, decoded with OpenCV: ``filled``, a
    ``make_clip`` clip (the quickstart's kind) followed by a square camera
    whose frame the animal's keypoints span 75 % of (in the clip itself
    they span about half of it), and ``small``, an animal of a fifth of the
    frame width walking across a 640x480 frame."""
    from custom_pose.apis.video import read_video_frames
    from custom_pose.datasets.synthetic import make_arena_clip, make_clip
    root = tmp_path_factory.mktemp('box_mode_clips')
    filled = make_clip(str(root / 'filled'), seed=0, num_frames=8,
                       image_size=(256, 256))
    # the animal crosses the frame in 32 frames: 15-20 px a frame
    small = make_arena_clip(str(root / 'small'), seed=0, num_frames=32,
                            image_size=(640, 480), num_animals=1)
    out = {}
    for name, clip in (('filled', filled), ('small', small)):
        frames = read_video_frames(clip['video'], max_frames=8)
        truth, visible = _clip_truth(clip['keypoints_file'])
        assert len(frames) == 8
        out[name] = (frames, truth[:8], visible[:8])
    out['filled'] = _follow(*out['filled'])
    return out


def test_auto_keeps_the_whole_frame_where_the_animal_fills_it(clips):
    frames, truth, visible = clips['filled']
    pose_fn = _sees_animals_that_fill_the_box(frames, truth, visible)
    decision = decide_box_mode(pose_fn, frames[:5])
    assert decision.mode == 'start' and decision.start == 'full_frame'
    assert decision.sure_frames == decision.frames == 5
    assert 0.7 < decision.fill < 0.8
    assert 'the whole frame in every frame' in decision.reason
    opts = TrackingOptions().decide(pose_fn, frames)
    assert opts.mode == 'start' and not opts.to_dict()['track_box']
    h, w = frames[0].shape[:2]
    box, source = opts.fixed_box((w, h))
    assert source == 'full_frame'
    np.testing.assert_allclose(box, [0, 0, w, h])


def test_auto_follows_a_small_animal(clips):
    frames, truth, visible = clips['small']
    pose_fn = _sees_animals_that_fill_the_box(frames, truth, visible)
    # the whole frame misses it: the search finds it
    _, scores = pose_fn(frames[0], np.array([[0, 0, 640, 480]], np.float32))
    assert scores.max() < 0.1
    opts = TrackingOptions().decide(pose_fn, frames)
    decision = opts.box_decision
    assert decision.mode == opts.mode == 'track'
    assert decision.sure_frames == 5 and decision.fill < 0.3
    assert 'the box follows the animal' in decision.reason
    assert opts.fixed_box((640, 480)) is None
    # the tracker it builds follows the animal from the first frame
    video = opts.video_tracker(pose_fn)
    errors = []
    for t, frame in enumerate(frames):
        (inst, ) = video(frame)
        assert inst.bbox_source == 'propagated'
        errors.append(np.linalg.norm(inst.keypoints_raw[visible[t]] -
                                     truth[t][visible[t]], axis=-1).mean())
    assert max(errors) < 3.0
    data = opts.to_dict()
    assert data['box_mode'] == 'auto' and data['track_box'] is True
    assert data['box_decision']['mode'] == 'track'
    assert json.loads(json.dumps(data)) == data


def test_auto_without_a_sure_pose_and_with_a_detector(clips):
    frames = clips['small'][0]

    def unsure(frame, boxes):
        n = len(boxes)
        return np.full((n, 20, 2), 5.0, np.float32), np.full((n, 20), 0.01,
                                                             np.float32)

    decision = TrackingOptions().decide(unsure, frames).box_decision
    assert (decision.mode, decision.fill, decision.sure_frames) == (
        'start', None, 0)
    assert decision.reason.startswith('no pose with a mean keypoint score')
    # a detector fits its boxes to the animal: no frame is needed
    opts = TrackingOptions()
    assert not opts.needs_frames(detector=True)
    assert opts.needs_frames(detector=False)
    assert TrackingOptions(roi=(0, 0, 50, 50)).needs_frames(detector=True)
    decided = opts.decide(unsure, [], detector=True)
    assert (decided.mode, decided.box_decision.start) == ('start',
                                                          'detector')


def test_box_mode_options_and_arguments():
    import inspect

    from custom_pose.utils import cli
    # the demos' defaults are decide_box_mode's
    params = inspect.signature(decide_box_mode).parameters
    opts = TrackingOptions()
    assert opts.box_mode == 'auto'
    assert opts.auto_fill == params['fill_thr'].default == 0.5
    assert opts.search_scales == params['search_scales'].default
    for name in ('kpt_thr', 'min_mean_score', 'enlarge'):
        assert getattr(opts, name) == params[name].default, name
    with pytest.raises(ValueError, match="not decided"):
        TrackingOptions().video_tracker(lambda f, b: None)
    with pytest.raises(ValueError, match='box_mode must be one of'):
        TrackingOptions(box_mode='whole')
    with pytest.raises(ValueError, match="track_box=True is box_mode='track'"):
        TrackingOptions(track_box=True, box_mode='start')
    assert TrackingOptions(track_box=True).box_mode == 'track'
    assert TrackingOptions(box_mode='track').track_box
    with pytest.raises(ValueError, match='auto_fill'):
        TrackingOptions(auto_fill=0)

    def parse(argv, detector=False):
        parser = argparse.ArgumentParser()
        cli.add_tracking_arguments(parser, detector=detector)
        return cli.tracking_options(parser, parser.parse_args(argv))

    assert parse([]).box_mode == 'auto'
    assert parse(['--track-box']).box_mode == 'track'
    assert parse(['--box-mode', 'full-frame']).mode == 'start'
    assert parse(['--box-mode', 'detector'], detector=True).mode == 'start'
    assert parse(['--box-mode', 'track', '--track-box']).mode == 'track'
    with pytest.raises(SystemExit):
        parse(['--box-mode', 'full-frame', '--track-box'])
    with pytest.raises(SystemExit):
        parse(['--box-mode', 'detector'])  # the video demo has no detector
    assert cli.box_mode_name('start', detector=False) == 'full-frame'
    assert cli.box_mode_name('start', detector=True) == 'detector'
    for detector in (False, True):  # the help renders (no stray %)
        parser = argparse.ArgumentParser()
        cli.add_tracking_arguments(parser, detector=detector)
        text = ' '.join(parser.format_help().split())
        assert 'less than 50% of the' in text


def test_run_video_records_the_box_mode_auto_chose(res18_files, clips,
                                                   tmp_path):
    """The real loop: the first frames decide, every frame is then
    estimated in the chosen mode, the JSON and the statistics keep the
    decision, and the hook hears it once."""
    import cv2

    from custom_pose.apis import run_video
    frames = clips['small'][0]
    video_path = str(tmp_path / 'small.mp4')
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*'mp4v'),
                             10.0, (640, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()
    heard = []
    runs = {}
    # the random model is sure of nothing by default; with every score
    # counted, its poses decide on their own span
    for name, opts in (('default', TrackingOptions()),
                       ('all_sure', TrackingOptions(kpt_thr=-1.0,
                                                    min_mean_score=-1.0))):
        stats = run_video(*res18_files, video_path,
                          out_video_root=str(tmp_path / name),
                          save_predictions=True, device='cpu',
                          progress=False, batch_size=3, tracking=opts,
                          on_box_mode=heard.append)
        assert stats.frames_done == 8
        with open(stats.out_json) as f:
            data = json.load(f)
        runs[name] = (stats, data)
    assert len(heard) == 2
    stats, data = runs['default']
    tracking = data['tracking']
    assert tracking['box_mode'] == 'auto' and tracking['track_box'] is False
    assert tracking['box_decision']['mode'] == 'start' == stats.box_mode
    assert tracking['box_decision']['reason'].startswith('no pose')
    assert stats.box_decision == tracking['box_decision']
    sources = {i['bbox_source'] for fr in data['frames']
               for i in fr['instances']}
    assert sources == {'full_frame'}
    assert [fr['frame_id'] for fr in data['frames']] == list(range(8))

    stats, data = runs['all_sure']
    decision = data['tracking']['box_decision']
    assert decision['sure_frames'] == 5 and decision['fill'] is not None
    chosen = 'track' if decision['fill'] < 0.5 else 'start'
    assert decision['mode'] == stats.box_mode == chosen
    assert data['tracking']['track_box'] is (chosen == 'track')
    assert heard[1].mode == chosen
    sources = {i['bbox_source'] for fr in data['frames']
               for i in fr['instances']}
    assert sources == ({'propagated'} if chosen == 'track' else
                       {'full_frame'})
    assert [fr['frame_id'] for fr in data['frames']] == list(range(8))


# ---------------------------------------------------------------------------
# tools/analysis_tools/box_mode_error.py
# ---------------------------------------------------------------------------
def _dlc_project(frames, truth, visible, project):
    """A DeepLabCut project whose labelled images are ``frames``, in
    order, with the clip's keypoints."""
    import os

    import cv2

    from custom_pose.datasets.formats import (KeypointAnnotations,
                                              KeypointImage, KeypointInstance,
                                              write_deeplabcut)
    from custom_pose.datasets.synthetic import KEYPOINT_NAMES
    folder = project / 'labeled-data' / 'clip'
    os.makedirs(folder)
    h, w = frames[0].shape[:2]
    images, instances = [], []
    for t, frame in enumerate(frames):
        name = f'img{t:03d}.png'
        cv2.imwrite(str(folder / name), frame)
        images.append(KeypointImage(
            id=t + 1, file_name=f'labeled-data/clip/{name}',
            path=str(folder / name), width=w, height=h))
        instances.append(KeypointInstance(
            id=t + 1, image_id=t + 1,
            keypoints=np.where(visible[t][:, None], truth[t], 0.0),
            visibility=np.where(visible[t], 2, 0).astype(np.int64)))
    write_deeplabcut(
        KeypointAnnotations(path=str(project), format='deeplabcut',
                            keypoint_names=tuple(KEYPOINT_NAMES),
                            skeleton=(), images=images, instances=instances),
        str(project), date='Jan01')


@pytest.mark.slow
def test_box_mode_error_tool(clips, tmp_path, capsys):
    """On a DeepLabCut project of the small-animal clip's frames and a model
    trained on it for one epoch (tools/train.py): one row per box mode, the
    JSON with each mode's error against the labels and what auto chose."""
    from conftest import REPO_ROOT, load_tool
    project = tmp_path / 'project'
    frames, truth, visible = clips['small']
    _dlc_project(frames, truth, visible, project)
    config = str(REPO_ROOT / 'configs' / 'custom' /
                 'custom_res18_keypoints_128x128.py')
    small = [f'{loader}.{key}={value}'
             for loader in ('train_dataloader', 'val_dataloader')
             for key, value in (('batch_size', 2), ('num_workers', 0),
                                ('persistent_workers', False))]
    work = tmp_path / 'work'
    train = load_tool('tools/train.py')
    assert train.main([
        config, '--work-dir', str(work), '--cfg-options',
        f'data_root={project}', 'train_cfg.max_epochs=1',
        'train_dataloader.dataset.split_ratio=0.75',
        'val_dataloader.dataset.split_ratio=0.75', *small]) in (0, None)
    tool = load_tool('tools/analysis_tools/box_mode_error.py')
    out_json = tmp_path / 'modes.json'
    capsys.readouterr()
    assert tool.main([
        str(work / 'custom_res18_keypoints_128x128.py'),
        str(work / 'epoch_1.pth'), '--labels', str(project), '--work-dir',
        str(tmp_path / 'runs'), '--device', 'cpu', '--out-json',
        str(out_json)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith('| ')]
    assert len(rows) == 4 and rows[0].startswith('| box mode | used |')
    assert [r.split(' | ')[0] for r in rows[1:]] == [
        '| auto', '| full-frame', '| track']
    with open(out_json) as f:
        data = json.load(f)
    assert data['frames'] == 8
    modes = data['modes']
    assert (modes['full-frame']['chose'], modes['track']['chose']) == (
        'start', 'track')
    auto = modes['auto']
    assert auto['chose'] == auto['decision']['mode']
    same = modes['track' if auto['chose'] == 'track' else 'full-frame']
    assert auto['mean_px'] == pytest.approx(same['mean_px'])
    for r in modes.values():
        assert 0 < r['median_px'] <= 2 * r['mean_px'] < 1600
        assert set(r['per_keypoint_px']) <= set(data['keypoint_names'])
