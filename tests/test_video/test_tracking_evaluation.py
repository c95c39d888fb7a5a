"""custom_pose.tracking.evaluation (error, identity switches, jitter against
ground truth) on constructed poses, and custom_pose.tracking.arena (the
measurement on the synthetic arena clips) with a real pose model."""
import numpy as np
import pytest

from conftest import load_tool
from custom_pose.tracking import (assign_to_ground_truth, count_id_switches,
                                  jitter, keypoint_errors,
                                  match_to_ground_truth,
                                  mean_keypoint_distance)


def _pose(x, y, k=4):
    """k keypoints on a 10 px square around (x, y)."""
    offsets = np.array([[-5, -5], [5, -5], [5, 5], [-5, 5]], float)[:k]
    return np.array([x, y], float) + offsets


def test_mean_keypoint_distance_counts_visible_keypoints_only():
    gt = np.stack([_pose(0, 0), _pose(100, 0)])
    pred = gt[:1] + np.array([[3, 4], [0, 0], [0, 0], [30, 40]])
    visible = np.array([[True, True, True, False], [False] * 4])
    dist = mean_keypoint_distance(pred, gt, visible)
    assert dist.shape == (1, 2)
    assert dist[0, 0] == pytest.approx(5 / 3)  # (5 + 0 + 0) / 3 visible
    assert np.isnan(dist[0, 1])  # no visible keypoint


def test_match_to_ground_truth_pairs_by_distance_within_the_box_size():
    gt = np.stack([_pose(0, 0), _pose(100, 0)])
    visible = np.ones((2, 4), bool)
    boxes = np.array([[-10, -10, 10, 10], [90, -10, 110, 10]], float)
    # poses listed in the other order, one 3 px off
    pred = np.stack([_pose(100, 3), _pose(0, 0)])
    assert sorted(match_to_ground_truth(pred, gt, visible, boxes)) == \
        [(0, 1), (1, 0)]
    # 15 px off is more than half the 20 px box side: no pair
    far = np.stack([_pose(0, 15)])
    assert match_to_ground_truth(far, gt, visible, boxes) == []
    assert match_to_ground_truth(far, gt, visible, boxes, max_dist=1.0) == \
        [(0, 0)]
    assert match_to_ground_truth(np.zeros((0, 4, 2)), gt, visible,
                                 boxes) == []


def test_assign_and_count_identity_switches():
    # two animals cross; the tracker swaps their ids at frame 2
    xs = [(0, 100), (40, 60), (60, 40), (100, 0)]
    gt = dict(
        keypoints=np.stack([np.stack([_pose(a, 0), _pose(b, 0)])
                            for a, b in xs]),
        visible=np.ones((4, 2, 4), bool),
        bboxes=np.array([[[a - 10, -10, a + 10, 10], [b - 10, -10, b + 10, 10]]
                         for a, b in xs], float),
        present=np.ones((4, 2), bool))
    ids = [(7, 8), (7, 8), (8, 7), (8, 7)]
    frames = [(np.stack([_pose(a, 1), _pose(b, 1)]), np.array(i))
              for (a, b), i in zip(xs, ids)]
    pose, track = assign_to_ground_truth(frames, gt)
    assert pose.tolist() == [[0, 1]] * 4
    assert track.tolist() == [[7, 8], [7, 8], [8, 7], [8, 7]]
    assert count_id_switches(track) == 2  # one per animal
    assert count_id_switches(track, np.array([1, 1, 0, 1], bool)) == 0
    # a gap does not reset the last id: 7, -, 8 is one switch
    assert count_id_switches(np.array([[7], [-1], [8], [8]])) == 1
    assert count_id_switches(np.array([[7], [-1], [7], [7]])) == 0
    with pytest.raises(ValueError, match='3 frames of poses'):
        assign_to_ground_truth(frames[:3], gt)


def test_keypoint_errors_and_jitter():
    gt = np.zeros((2, 3, 2))
    pred = gt + np.array([3.0, 4.0])
    pred[1, 2] = np.nan  # no prediction: left out
    visible = np.array([[True, False, True], [True, True, True]])
    errors = keypoint_errors(pred, gt, visible)
    assert errors.tolist() == [5.0, 5.0, 5.0, 5.0]
    # constant velocity: no jitter; one keypoint 2 px off in one frame:
    # accelerations 2, 4, 2 over the triples around it
    t = np.arange(6, dtype=float)
    walk = np.stack([np.stack([t * 3, t], -1)] * 2, axis=1)  # (6, 2, 2)
    valid = np.ones((6, 2), bool)
    assert jitter(walk, valid) == pytest.approx(0.0)
    bumped = walk.copy()
    bumped[2, 0, 0] += 2.0
    # 4 triples x 2 keypoints; keypoint 0's triples (1,2,3), (2,3,4) and
    # (0,1,2) see 2 px, 4 px and 2 px
    assert jitter(bumped, valid) == pytest.approx((2 + 4 + 2) / 8)
    valid[2, 0] = False  # the bumped frame is not valid: no triple sees it
    assert jitter(bumped, valid) == pytest.approx(0.0)
    assert np.isnan(jitter(walk[:2], valid[:2]))


def test_measure_arena_tracking_with_a_real_model(res18_model, tmp_path):
    """The whole measurement on short arena clips with the quickstart
    ResNet-18 (random weights: the figures are not the point, their
    bookkeeping is)."""
    from custom_pose.apis import TopdownBatchInferencer
    from custom_pose.tracking import (ARENA_SMOOTHERS, measure_arena_tracking,
                                      render_arena_report)
    inferencer = TopdownBatchInferencer(res18_model)
    meta = res18_model.dataset_meta
    names = [meta['keypoint_id2name'][i] for i in range(meta['num_keypoints'])]
    messages = []
    result = measure_arena_tracking(
        inferencer.infer_bboxes, names, str(tmp_path), sigmas=meta['sigmas'],
        num_frames=9, image_size=(256, 192), noise_px=3.0,
        redetect_interval=4, log=messages.append)
    assert len(messages) == 5
    prop = result['propagation']
    whole, track = prop['whole_frame'], prop['track_box']
    plain = prop['track_box_no_search']
    assert whole['frames'] == track['frames'] == plain['frames'] == 9
    # the whole frame in every frame; --track-box: the whole frame (and
    # with the search its windows) once, then (refined in the same frame,
    # and from then on) propagated boxes, or the start again when the pose
    # was lost
    assert whole['bbox_sources'] == {'full_frame': 9}
    assert sum(track['bbox_sources'].values()) == 9
    assert sum(plain['bbox_sources'].values()) == 9
    assert set(plain['bbox_sources']) <= {'full_frame', 'propagated'}
    assert set(track['bbox_sources']) <= {'full_frame', 'search',
                                          'propagated'}
    assert prop['error_ratio'] == pytest.approx(whole['mean'] /
                                                track['mean'])
    assert whole['keypoints'] == track['keypoints'] > 9 * 10
    ident = result['identity']
    # animal 1 enters at frame 3: 6 frames with two animals
    assert ident['two_animal_frames'] == 6 and ident['animals_to_follow'] == 12
    # random weights: every pose is unsure (mean score ~0), so none starts
    # a track (PoseTracker's init_track_thr) and no animal gets an id
    assert ident['animals_with_id'] == 0
    assert ident['track_ids_per_animal'] == [[], []]
    assert ident['detector_calls'] >= 3  # frames 0, 4, 8 at least
    sm = result['smoothing']
    assert [r['method'] for r in sm['noisy']] == list(ARENA_SMOOTHERS)
    # without noise and without smoothing: the --track-box error itself
    clean_none = sm['clean'][0]
    assert clean_none['error']['mean'] == pytest.approx(track['mean'])
    assert clean_none['error']['keypoints'] == track['keypoints']
    # the noise raises the error of the raw poses
    assert sm['noisy'][0]['error']['mean'] != pytest.approx(track['mean'])
    lags = {r['method']: r['lag_frames'] for r in sm['noisy']}
    assert lags == dict(none=0, oneeuro=0, savgol=5, gaussian=5)
    report = '\n'.join(render_arena_report(result))
    assert '| `--track-box` (search windows 0.5, 0.35) |' in report
    assert 'identity switches' in report


def _arena_tool():
    return load_tool('tools/analysis_tools/arena_tracking.py')


def test_arena_tracking_tool(res18_files, tmp_path, capsys):
    """tools/analysis_tools/arena_tracking.py: the figures of one command,
    printed as Markdown and written as JSON; a missing checkpoint is one
    line."""
    import json
    tool = _arena_tool()
    config, checkpoint = res18_files
    out_json = tmp_path / 'result.json'
    assert tool.main([
        config, checkpoint, '--work-dir', str(tmp_path / 'arena'),
        '--frames', '5', '--size', '192', '144', '--redetect-interval', '2',
        '--device', 'cpu', '--out-json', str(out_json), '--render',
        str(tmp_path / 'frame.png'), '--render-frame', '4'
    ]) == 0
    out = capsys.readouterr().out
    assert out.startswith('Arena clips: 5 frames 192x144 at 25 fps, seed 0')
    assert 'identity switches' in out and '| savgol |' in out
    result = json.loads(out_json.read_text())
    assert result['settings']['frames'] == 5
    assert result['propagation']['whole_frame']['frames'] == 5
    assert sorted((tmp_path / 'arena').iterdir())[0].name == (
        'arena1_seed0_192x144_5f_25fps.json')
    # the last frame of the two-animal clip with its poses and ids drawn
    import cv2
    from custom_pose.apis import read_video_frames
    drawn = cv2.imread(str(tmp_path / 'frame.png'))
    plain = read_video_frames(
        str(tmp_path / 'arena' / 'arena2_seed0_192x144_5f_25fps.mp4'))[4]
    assert drawn.shape == plain.shape == (144, 192, 3)
    assert (drawn != plain).any(axis=2).mean() > 0.01
    with pytest.raises(SystemExit) as exc:
        tool.main([config, str(tmp_path / 'missing.pth')])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('arena_tracking.py: error:')
    assert 'missing.pth' in err[0]
    # a frame outside the clip is refused before anything runs
    with pytest.raises(SystemExit) as exc:
        tool.main([config, checkpoint, '--frames', '5', '--render',
                   str(tmp_path / 'f.png'), '--render-frame', '5'])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        '--render-frame 5 is not in the clip (5 frames)')


def test_arena_needs_an_animal_pose_model(res18_model, tmp_path):
    """A model of other keypoints is an input error (one line in the tool),
    raised before any clip is decoded."""
    from custom_pose.errors import InputError
    from custom_pose.tracking import measure_arena_tracking
    with pytest.raises(InputError, match='use an Animal-Pose model'):
        measure_arena_tracking(lambda frame, boxes: None, ['a', 'b'],
                               str(tmp_path), num_frames=3,
                               image_size=(64, 48))
