"""``custom_pose.tracking``: box propagation, track ids and smoothing."""
import numpy as np
import pytest
from scipy.signal import savgol_filter

from custom_pose.tracking import (BoxPropagator, OneEuroSmoother, PoseInstance,
                                  PoseTracker, VideoPoseTracker,
                                  WindowSmoother, bbox_from_keypoints,
                                  build_smoother, keypoint_oks,
                                  make_walking_poses, measure_tracking_cost,
                                  parse_roi, search_windows,
                                  smooth_keypoints)

FRAME = np.zeros((480, 640, 3), np.uint8)


def _err(pred, truth):
    return float(np.linalg.norm(pred - truth, axis=-1).mean())


def _jitter(track):
    """Mean frame-to-frame acceleration, px/frame^2."""
    return float(np.linalg.norm(track[2:] - 2 * track[1:-1] + track[:-2],
                                axis=-1).mean())


# ---------------------------------------------------------------------------
# box propagation
# ---------------------------------------------------------------------------
def test_bbox_from_a_known_pose_is_enlarged_about_its_centre():
    kpts = np.array([[10, 20], [30, 60], [500, 400]], np.float32)
    scores = np.array([0.9, 0.8, 0.1])  # the third is not labelled
    box = bbox_from_keypoints(kpts, scores, (640, 480), kpt_thr=0.3,
                              enlarge=1.25)
    # centre (20, 40), size (20, 40) * 1.25
    np.testing.assert_allclose(box, [7.5, 15, 32.5, 65])
    box = bbox_from_keypoints(kpts, scores, (640, 480), enlarge=2.0)
    np.testing.assert_allclose(box, [0, 0, 40, 80])  # x1, y1 clipped at 0
    near_edge = np.array([[630, 470], [639, 479]], np.float32)
    np.testing.assert_allclose(
        bbox_from_keypoints(near_edge, [1, 1], (640, 480), enlarge=3.0),
        [621, 461, 640, 480])  # clipped to the frame
    # one labelled keypoint is too few; a line gets the minimum size
    assert bbox_from_keypoints(kpts, [0.9, 0.1, 0.1], (640, 480)) is None
    line = bbox_from_keypoints(np.array([[100, 50], [200, 50]]), [1, 1],
                               (640, 480), enlarge=1.0, min_size=8)
    np.testing.assert_allclose(line, [100, 46, 200, 54])


def test_parse_roi():
    np.testing.assert_allclose(parse_roi('10, 20,300,200.5'),
                               [10, 20, 300, 200.5])
    with pytest.raises(ValueError, match='expected four numbers'):
        parse_roi('10,20,300')
    with pytest.raises(ValueError, match='0 <= x1 < x2'):
        parse_roi('300,20,10,200')


def test_propagation_follows_the_pose_and_falls_back_to_the_start_box():
    prop = BoxPropagator('full_frame', enlarge=1.25, min_mean_score=0.5)
    boxes, sources = prop.boxes(FRAME)
    np.testing.assert_allclose(boxes, [[0, 0, 640, 480]])
    assert sources == ['full_frame']
    kpts = np.array([[[100, 100], [140, 180]]], np.float32)
    prop.update(FRAME, kpts, np.array([[0.9, 0.7]]))
    boxes, sources = prop.boxes(FRAME)
    assert sources == ['propagated']
    np.testing.assert_allclose(boxes, [[95, 90, 145, 190]])
    # mean score 0.4 < 0.5: lost, back to the whole frame
    prop.update(FRAME, kpts, np.array([[0.7, 0.1]]))
    boxes, sources = prop.boxes(FRAME)
    assert sources == ['full_frame']
    # without propagation (the demos' default) always the start box
    fixed = BoxPropagator('roi', roi=parse_roi('50,60,250,260'),
                          propagate=False)
    fixed.boxes(FRAME)
    fixed.update(FRAME, kpts, np.array([[0.9, 0.9]]))
    boxes, sources = fixed.boxes(FRAME)
    assert sources == ['roi']
    np.testing.assert_allclose(boxes, [[50, 60, 250, 260]])
    with pytest.raises(ValueError, match='outside the 640x480 frame'):
        BoxPropagator('roi', roi=[700, 500, 800, 600]).boxes(FRAME)


def test_propagation_falls_back_to_the_detector():
    calls = []

    def detector(frame):
        calls.append(len(calls))
        return np.array([[100, 100, 200, 200], [400, 300, 500, 420]])

    # reseed=False: see test_detections_reseed_a_box_holding_two_animals
    prop = BoxPropagator('detector', detector=detector, min_mean_score=0.5,
                         reseed=False)
    boxes, sources = prop.boxes(FRAME)
    assert sources == ['detector', 'detector'] and len(calls) == 1
    good = np.array([[110, 110], [190, 190]], np.float32)
    lost = np.array([[410, 310], [490, 410]], np.float32)
    prop.update(FRAME, np.stack([good, lost]), np.array([[0.9, 0.9],
                                                         [0.2, 0.2]]))
    boxes, sources = prop.boxes(FRAME)
    # the lost animal makes the detector run; its box of the kept animal
    # overlaps the propagated one and is dropped
    assert len(calls) == 2
    assert sources == ['propagated', 'detector']
    np.testing.assert_allclose(boxes[1], [400, 300, 500, 420])
    prop.update(FRAME, np.stack([good, lost]), np.full((2, 2), 0.9))
    boxes, sources = prop.boxes(FRAME)
    assert sources == ['propagated', 'propagated'] and len(calls) == 2
    with pytest.raises(ValueError, match='needs a detector'):
        BoxPropagator('detector')


def test_two_poses_on_one_animal_give_one_box():
    prop = BoxPropagator('full_frame')
    prop.boxes(FRAME)
    pose = np.array([[100, 100], [180, 160]], np.float32)
    prop.update(FRAME, np.stack([pose, pose + 2, pose + 300]),
                np.array([[0.6, 0.6], [0.9, 0.9], [0.8, 0.8]]))
    boxes, sources = prop.boxes(FRAME)
    assert sources == ['propagated', 'propagated']
    # the surer of the two overlapping poses, and the separate animal
    np.testing.assert_allclose(
        boxes, [bbox_from_keypoints(pose + 2, [1, 1], (640, 480),
                                    enlarge=prop.enlarge),
                bbox_from_keypoints(pose + 300, [1, 1], (640, 480),
                                    enlarge=prop.enlarge)])


def test_two_boxes_on_one_animal_give_one_pose_and_one_track():
    """Where two boxes find the same animal (one animal in front of the
    other), the frame keeps only the surer pose, so the hidden animal's
    track is not handed this animal's pose."""
    pose = np.array([[300, 200], [360, 250], [330, 230]], np.float32)
    other = pose + [200, 0]

    def pose_fn(frame, boxes):
        # the first two boxes both see the front animal, the third its own
        kpts = np.stack([pose, pose + 1.0, other])[:len(boxes)]
        scores = np.array([[0.6] * 3, [0.9] * 3, [0.8] * 3])[:len(boxes)]
        return kpts, scores

    boxes = np.array([[250, 150, 400, 300], [280, 170, 420, 290],
                      [450, 150, 600, 300]], np.float32)
    video = VideoPoseTracker(
        pose_fn, BoxPropagator('detector', detector=lambda frame: boxes),
        PoseTracker(), refine_start=0)
    out = video(FRAME)
    assert len(out) == 2
    np.testing.assert_allclose(out[0].keypoints_raw, pose + 1.0)
    np.testing.assert_allclose(out[1].keypoints_raw, other)
    assert out[0].track_id != out[1].track_id
    # with duplicate_oks above any OKS both poses of the front animal stay
    video = VideoPoseTracker(
        pose_fn, BoxPropagator('detector', detector=lambda frame: boxes),
        PoseTracker(), refine_start=0, duplicate_oks=1.0)
    assert len(video(FRAME)) == 3


def _small_animal_model(truth_per_frame, noise_per_input_px=1.5,
                        input_px=128, seed=0):
    """Stands in for a top-down model in the propagation tests: it finds an
    animal whose centre lies in the box with an error proportional to the
    box size (the model's error is constant in model-input pixels); a box
    without an animal gives low-score keypoints spread over the box."""
    rng = np.random.default_rng(seed)
    state = dict(frame=0)

    def pose_fn(frame, boxes):
        truth = truth_per_frame[state['frame']]  # (N, K, 2)
        kpts, scores = [], []
        for box in boxes:
            size = max(box[2] - box[0], box[3] - box[1]) * 1.25
            centers = truth.mean(axis=1)
            inside = np.flatnonzero(
                (centers[:, 0] > box[0]) & (centers[:, 0] < box[2])
                & (centers[:, 1] > box[1]) & (centers[:, 1] < box[3]))
            if len(inside):
                noise = noise_per_input_px * size / input_px
                kpts.append(truth[inside[0]] +
                            rng.normal(0, noise, truth[0].shape))
                scores.append(np.full(len(truth[0]), 0.9))
            else:
                kpts.append(rng.uniform(box[:2], box[2:], truth[0].shape))
                scores.append(np.full(len(truth[0]), 0.05))
        return np.array(kpts, np.float32), np.array(scores, np.float32)

    def next_frame():
        state['frame'] += 1

    return pose_fn, next_frame


def test_video_tracker_propagation_beats_the_whole_frame_on_a_small_animal():
    truth = make_walking_poses(40, 1, 20, (640, 480), body_size=110, seed=2)
    errors = {}
    for propagate in (False, True):
        pose_fn, next_frame = _small_animal_model(truth)
        tracker = VideoPoseTracker(
            pose_fn, BoxPropagator('full_frame', propagate=propagate),
            PoseTracker())
        preds, sources = [], set()
        for _ in range(len(truth)):
            (inst, ) = tracker(FRAME)
            preds.append(inst.keypoints_raw)
            sources.add(inst.bbox_source)
            next_frame()
        errors[propagate] = _err(np.array(preds), truth[:, 0])
        assert sources == ({'propagated'} if propagate else {'full_frame'})
        assert set(tracker.mean_ms()) == {'propagation', 'pose', 'tracking'}
    assert errors[True] * 3 < errors[False], errors


def test_search_windows_cover_the_region():
    prop = BoxPropagator('full_frame', search_scales=[1, 0.5])
    boxes, sources = prop.start_boxes(FRAME)
    assert sources == ['full_frame'] + ['search'] * 15
    np.testing.assert_allclose(boxes[0], [0, 0, 640, 480])
    # no search without propagation (the same box in every frame)
    assert BoxPropagator('full_frame', search_scales=[0.5],
                         propagate=False).start_boxes(FRAME)[1] == [
                             'full_frame']
    windows = search_windows(np.array([0, 0, 640, 480]), [0.5])
    # 240 px windows, 120 px steps, the last ones flush with the far edges
    assert windows.shape == (5 * 3, 4)
    assert sorted(set(windows[:, 0])) == [0, 120, 240, 360, 400]
    assert sorted(set(windows[:, 1])) == [0, 120, 240]
    np.testing.assert_allclose(windows[:, 2] - windows[:, 0], 240)
    roi = search_windows(np.array([100, 50, 300, 150]), [0.5, 0.9])
    assert roi[:, :2].min(axis=0).tolist() == [100, 50]
    assert roi[:, 2:].max(axis=0).tolist() == [300, 150]
    assert len(search_windows(np.array([0, 0, 64, 48]), [])) == 0
    with pytest.raises(ValueError, match=r'search_scales must lie in \(0, 1\]'):
        BoxPropagator('full_frame', search_scales=[1.5])
    with pytest.raises(ValueError, match='nothing to search'):
        BoxPropagator('detector', detector=lambda f: np.zeros((0, 4)),
                      search_scales=[0.5])


def _sees_only_large_animals(truth, min_fill=0.3, seed=0):
    """A stand-in top-down model that finds the animal only when it fills
    at least ``min_fill`` of the box side (score 0.9, 1 px noise), as a
    model trained on animals that fill the crop; otherwise low-score
    keypoints spread over the box."""
    rng = np.random.default_rng(seed)

    def pose_fn(frame, boxes):
        lo, hi = truth.min(axis=0), truth.max(axis=0)
        kpts, scores = [], []
        for box in boxes:
            inside = (lo >= box[:2]).all() and (hi <= box[2:]).all()
            fill = (hi - lo).max() / max(box[2] - box[0], box[3] - box[1])
            if inside and fill >= min_fill:
                kpts.append(truth + rng.normal(0, 1.0, truth.shape))
                scores.append(np.full(len(truth), 0.9))
            else:
                kpts.append(rng.uniform(box[:2], box[2:], truth.shape))
                scores.append(np.full(len(truth), 0.05))
        return np.array(kpts, np.float32), np.array(scores, np.float32)

    return pose_fn


def test_search_finds_a_small_animal_the_whole_frame_misses():
    truth = make_walking_poses(1, 1, 20, (640, 480), body_size=110,
                               seed=3)[0, 0]
    calls = []
    pose_fn = _sees_only_large_animals(truth)

    def counted(frame, boxes):
        calls.append(len(boxes))
        return pose_fn(frame, boxes)

    plain = VideoPoseTracker(pose_fn, BoxPropagator('full_frame'))
    (inst, ) = plain(FRAME)
    assert inst.bbox_source == 'full_frame' and inst.keypoint_scores[0] < 0.1
    search = VideoPoseTracker(
        counted, BoxPropagator('full_frame', search_scales=[0.5, 0.35]))
    (inst, ) = search(FRAME)
    # 5 x 3 + 7 x 5 windows in one call (not the whole frame), then the
    # surest window's pose estimated again in its own box
    assert calls == [15 + 35, 1]
    assert inst.bbox_source == 'propagated'
    assert _err(inst.keypoints_raw, truth) < 2.0
    # from then on the propagated box alone
    (inst, ) = search(FRAME)
    assert calls[2:] == [1] and inst.bbox_source == 'propagated'
    # two animals: with max_search_poses=2 both are kept, one pose each
    two = np.stack([truth, truth + [330, 150]])
    fns = [_sees_only_large_animals(t, seed=i) for i, t in enumerate(two)]

    def both(frame, boxes):
        k0, s0 = fns[0](frame, boxes)
        k1, s1 = fns[1](frame, boxes)
        first = s0[:, :1] >= s1[:, :1]
        return np.where(first[..., None], k0, k1), np.where(first, s0, s1)

    video = VideoPoseTracker(
        both, BoxPropagator('full_frame', search_scales=[0.5, 0.35]),
        PoseTracker(), max_search_poses=2)
    found = video(FRAME)
    assert [i.bbox_source for i in found] == ['propagated'] * 2
    assert sorted(i.track_id for i in found) == [0, 1]
    errs = sorted(min(_err(i.keypoints_raw, t) for t in two) for i in found)
    assert errs[-1] < 2.0


def test_video_tracker_with_the_real_inferencer_falls_back_when_lost(
        res18_model):
    """The call shapes fit TopdownBatchInferencer; an untrained model's
    scores (~0) lose the pose in every frame, so every frame uses the
    start box, and no such unsure pose starts a track (id -1)."""
    from custom_pose.apis import TopdownBatchInferencer
    inferencer = TopdownBatchInferencer(res18_model)
    frame = np.random.default_rng(0).integers(0, 255, (96, 160, 3), np.uint8)
    tracker = VideoPoseTracker(
        inferencer.infer_bboxes,
        BoxPropagator('roi', roi=[10, 10, 90, 80]), PoseTracker())
    for _ in range(3):
        (inst, ) = tracker(frame)
        assert inst.bbox_source == 'roi' and inst.track_id == -1
        np.testing.assert_allclose(inst.bbox, [10, 10, 90, 80])
        assert inst.keypoints_raw.shape == (20, 2)
    # with every keypoint labelled, the same model's pose gives the box
    tracker = VideoPoseTracker(
        inferencer.infer_bboxes,
        BoxPropagator('full_frame', kpt_thr=-1, min_mean_score=-1),
        refine_start=0)
    first, second = tracker(frame)[0], tracker(frame)[0]
    assert (first.bbox_source, second.bbox_source) == ('full_frame',
                                                        'propagated')
    expected = bbox_from_keypoints(first.keypoints_raw,
                                   first.keypoint_scores, (160, 96),
                                   kpt_thr=-1)
    np.testing.assert_allclose(second.bbox, expected, rtol=1e-6)


# ---------------------------------------------------------------------------
# track ids
# ---------------------------------------------------------------------------
def test_keypoint_oks_identical_poses_and_no_shared_keypoints():
    kpts = np.array([[[10., 10.], [50., 80.], [30., 40.]]])
    sigmas = np.full(3, 0.07)
    oks = keypoint_oks(kpts, np.ones((1, 3)), kpts, np.ones((1, 3)), sigmas)
    np.testing.assert_allclose(oks, [[1.0]])
    far = keypoint_oks(kpts, np.ones((1, 3)), kpts + 40, np.ones((1, 3)),
                       sigmas)
    assert far[0, 0] < 0.01
    none_shared = keypoint_oks(kpts, [[1, 1, 0]], kpts, [[0, 0, 1]], sigmas)
    assert np.isnan(none_shared[0, 0])


@pytest.mark.parametrize('seed,same_shape', [(0, False), (1, True),
                                             (2, True), (3, True)])
def test_two_crossing_animals_keep_their_ids(seed, same_shape):
    """Two animals walk towards each other on one line and cross. With the
    same body shape their poses coincide at the crossing; only the tracks'
    velocities tell them apart (a tracker matching on the last pose alone
    swaps them in every one of these clips)."""
    truth = make_walking_poses(90, 2, 20, (640, 480), body_size=100,
                               same_shape=same_shape, seed=seed)
    rng = np.random.default_rng(seed)
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    # the two paths cross: in the middle the animals overlap
    centers = truth.mean(axis=2)
    assert np.linalg.norm(centers[45, 0] - centers[45, 1]) < 40
    tracker = PoseTracker(sigmas=np.full(20, 0.07))
    ids_of = {0: set(), 1: set()}
    for f in range(len(truth)):
        order = rng.permutation(2)  # the order in a frame means nothing
        kpts = noisy[f, order]
        boxes = np.concatenate([kpts.min(axis=1), kpts.max(axis=1)], axis=1)
        ids = tracker.update(kpts, np.full((2, 20), 0.9), boxes)
        for animal, track_id in zip(order, ids):
            ids_of[animal].add(int(track_id))
    assert ids_of[0] != ids_of[1]
    assert len(ids_of[0]) == 1 and len(ids_of[1]) == 1, ids_of


def _rect_pose(cx, cy, w=80, h=40):
    """Four keypoints at the corners of a ``w`` x ``h`` body at (cx, cy)."""
    return np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                     [cx - w / 2, cy + h / 2], [cx + w / 2, cy + h / 2]])


def _boxes_of(*poses):
    return np.array([[*p.min(axis=0) - 10, *p.max(axis=0) + 10]
                     for p in poses])


@pytest.mark.parametrize('max_shift', [0.2, 0.0])
def test_pose_sliding_onto_a_crossing_animal_is_rejected(max_shift):
    """Two animals walk towards each other at 5 px/frame; when their boxes
    overlap, the pose estimated in the first one's box lands on the second
    (the crop holds both, the model sees the front animal). With
    ``max_shift`` that pose does not fit the first animal's motion: it is
    rejected and the first animal's box moves on by its velocity; without
    it (0) the box jumps onto the second animal."""
    scores = np.full((2, 4), 0.9)
    prop = BoxPropagator('detector',
                         detector=lambda f: _boxes_of(_rect_pose(100, 200),
                                                      _rect_pose(220, 200)),
                         max_shift=max_shift, reseed=False)
    for t in range(4):
        poses = np.stack([_rect_pose(100 + 5 * t, 200),
                          _rect_pose(220 - 5 * t, 200)])
        boxes, sources = prop.boxes(FRAME)
        assert len(boxes) == 2
        fits = prop.update(FRAME, poses, scores, boxes, sources)
        assert fits.all()
    boxes, sources = prop.boxes(FRAME)  # t = 4: the boxes overlap
    assert sources == ['propagated'] * 2
    assert boxes[0, 2] > boxes[1, 0]
    slid = np.stack([_rect_pose(200, 200), _rect_pose(200, 200)])
    fits = prop.update(FRAME, slid, scores, boxes, sources)
    boxes, sources = prop.boxes(FRAME)
    centers = [(box[:2] + box[2:]) / 2
               for box, source in zip(boxes, sources)
               if source == 'propagated']
    if max_shift:
        assert fits.tolist() == [False, True]
        # the first animal's box moved on by its velocity (5 px), the
        # second one's followed its pose
        np.testing.assert_allclose(centers, [[120, 200], [200, 200]],
                                   atol=1)
    else:
        assert fits.all()
        # both boxes on the second animal (one of them dropped as a
        # duplicate): the first animal's box is gone
        np.testing.assert_allclose(centers, [[200, 200]], atol=1)


@pytest.mark.parametrize('reseed', [True, False])
def test_detections_reseed_a_box_holding_two_animals(reseed):
    """A propagated box grew over two neighbouring animals (its pose has
    keypoints on both); when the detector runs, its box of the first
    animal takes that box's place (``reseed``); without it the wide box
    stays."""
    a, b = _rect_pose(100, 200), _rect_pose(200, 200)
    prop = BoxPropagator('detector', detector=lambda f: _boxes_of(a, b),
                         redetect_interval=1, reseed=reseed)
    boxes, sources = prop.boxes(FRAME)
    wide = np.concatenate([a[:2], b[2:]])  # keypoints on both animals
    prop.update(FRAME, np.stack([wide, b]), np.full((2, 4), 0.9), boxes,
                sources)
    boxes, sources = prop.boxes(FRAME)
    kept_wide = [bool(box[2] - box[0] > 200) for box in boxes]
    if reseed:
        assert not any(kept_wide)
        np.testing.assert_allclose(np.sort(boxes, axis=0),
                                   np.sort(_boxes_of(a, b), axis=0))
    else:
        assert any(kept_wide)


def test_iou_fallback_and_max_age():
    tracker = PoseTracker(max_age=2, iou_thr=0.3)
    kpts = np.array([[[100., 100.], [150., 180.]]])
    box = np.array([[90., 90., 160., 190.]])
    assert tracker.update(kpts, [[0.9, 0.2]], box).tolist() == [0]
    # no keypoint labelled in both poses: matched on the boxes' IoU
    assert tracker.update(kpts + 3, [[0.2, 0.9]], box + 3).tolist() == [0]
    # a far pose and a disjoint box: a new animal
    assert tracker.update(kpts + 300, [[0.9, 0.9]],
                          box + 300).tolist() == [1]
    # track 0 unseen for 2 frames (max_age) still matches ...
    tracker.update(np.zeros((0, 2, 2)), np.zeros((0, 2)), np.zeros((0, 4)))
    assert tracker.update(kpts, [[0.9, 0.9]], box).tolist() == [0]
    # ... but unseen for 3 frames it ends, and the animal gets a new id
    for _ in range(3):
        tracker.update(np.zeros((0, 2, 2)), np.zeros((0, 2)),
                       np.zeros((0, 4)))
    assert tracker.update(kpts, [[0.9, 0.9]], box).tolist() == [2]
    with pytest.raises(ValueError, match='3 OKS sigmas but the poses have 2'):
        PoseTracker(sigmas=[0.1] * 3).update(kpts, [[0.9, 0.9]], box)


def test_one_jumping_keypoint_does_not_throw_the_velocity_off():
    """A small animal (20 px) walks 2 px/frame; in its second frame one
    keypoint jumps 100 px (an animal cut by the frame edge). The track's
    velocity is the median keypoint step (2 px), not the mean (26.5 px,
    which would put the predicted box beside the animal's next pose)."""
    tracker = PoseTracker(sigmas=np.full(4, 0.07))
    sure = np.full((1, 4), 0.9)
    first = _rect_pose(300, 200, w=20, h=20)
    second = first + [2, 0]
    second[3] += [98, 0]
    third = first + [4, 0]
    for pose in (first, second, third):
        assert tracker.update(pose[None], sure,
                              _boxes_of(pose)).tolist() == [0]
    np.testing.assert_allclose(tracker.tracks[0].velocity, [2, 0])


@pytest.mark.parametrize('init_track_thr', [0.5, 0.0])
def test_an_animal_found_again_after_unsure_poses_keeps_its_id(
        init_track_thr):
    """An animal walks right at 5 px/frame; for 16 frames (as where it
    walks behind another) the model's pose of it is stuck where it was, and
    unsure. With ``init_track_thr`` those poses do not move the track on:
    it coasts on its velocity, and the sure pose where the animal walks out
    is matched to it. With 0 (every pose sure) the stuck poses stop the
    track, and the animal comes out with a new id."""
    tracker = PoseTracker(sigmas=np.full(4, 0.07),
                          init_track_thr=init_track_thr)
    sure, unsure = np.full((1, 4), 0.9), np.full((1, 4), 0.4)
    for t in range(5):
        pose = _rect_pose(100 + 5 * t, 200)
        assert tracker.update(pose[None], sure, _boxes_of(pose)).tolist() \
            == [0]
    # an unsure pose far from any track starts none (with the threshold)
    far = _rect_pose(500, 300)
    ids = tracker.update(np.stack([_rect_pose(125, 200), far]),
                         np.concatenate([sure, unsure]),
                         _boxes_of(_rect_pose(125, 200), far))
    assert ids.tolist() == ([0, -1] if init_track_thr else [0, 1])
    stuck_ids = []
    for t in range(6, 22):
        stuck = _rect_pose(125, 200)
        stuck_ids += tracker.update(stuck[None], unsure,
                                    _boxes_of(stuck)).tolist()
    out = _rect_pose(100 + 5 * 22, 200)
    final = tracker.update(out[None], sure, _boxes_of(out)).tolist()
    if init_track_thr:
        # the stuck poses keep id 0 while they fit the coasting track, then
        # get none; the animal walks out as track 0
        assert stuck_ids[0] == 0 and set(stuck_ids) == {0, -1}
        assert final == [0] and tracker.next_id == 1
    else:
        assert set(stuck_ids) == {0}
        assert final == [2]


def test_a_pose_overlapping_two_tracks_is_matched_on_its_keypoints_only():
    """Two animals walk towards each other (5 px/frame each). Where their
    boxes overlap, a pose that mixes both (between them, matching neither
    by OKS) gets no id and starts no track, sure or not; afterwards each
    animal's sure pose still matches its own track."""
    tracker = PoseTracker(sigmas=np.full(4, 0.07))
    sure = np.full((2, 4), 0.9)
    for t in range(6):
        a, b = _rect_pose(100 + 5 * t, 200), _rect_pose(220 - 5 * t, 200)
        assert tracker.update(np.stack([a, b]), sure,
                              _boxes_of(a, b)).tolist() == [0, 1]
    # t = 6: the animals' boxes overlap (x 120-200 and 140-220 + margins)
    mixed = _rect_pose(160, 200)
    for score in (0.9, 0.4):
        ids = tracker.update(mixed[None], np.full((1, 4), score),
                             _boxes_of(mixed))
        assert ids.tolist() == [-1]
    assert tracker.next_id == 2 and len(tracker.tracks) == 2
    # t = 8: both coasted on their velocities and are found again
    a, b = _rect_pose(140, 200), _rect_pose(180, 200)
    assert tracker.update(np.stack([b, a]), sure,
                          _boxes_of(b, a)).tolist() == [1, 0]


# ---------------------------------------------------------------------------
# smoothing
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def noisy_walk():
    truth = make_walking_poses(150, 1, 20, (640, 480), seed=3)[:, 0]
    noisy = truth + np.random.default_rng(1).normal(0, 2.0, truth.shape)
    return truth, noisy, np.full(truth.shape[:2], 0.9)


@pytest.mark.parametrize('method,max_ratio', [('savgol', 0.6),
                                              ('gaussian', 0.6),
                                              ('oneeuro', 0.95)])
def test_smoothing_lowers_the_error_not_only_the_jitter(
        noisy_walk, method, max_ratio):
    truth, noisy, scores = noisy_walk
    smoother = build_smoother(method, fps=30.0)
    out = []
    for f in range(len(noisy)):
        inst = PoseInstance([0, 0, 640, 480], 'propagated', noisy[f],
                            scores[f], track_id=0)
        out += smoother.push([inst], payload=f)
    out += smoother.flush()
    assert [p for p, _ in out] == list(range(len(noisy)))  # order, none lost
    smoothed = np.array([insts[0].keypoints for _, insts in out])
    raw = np.array([insts[0].keypoints_raw for _, insts in out])
    np.testing.assert_array_equal(raw, noisy.astype(np.float32))
    err_raw, err_smooth = _err(noisy, truth), _err(smoothed, truth)
    assert err_smooth < max_ratio * err_raw, (err_smooth, err_raw)
    assert _jitter(smoothed) < 0.7 * _jitter(noisy)


def test_window_smoother_equals_savgol_filter_away_from_the_ends(noisy_walk):
    _, noisy, scores = noisy_walk
    smoother = WindowSmoother('savgol', window_length=11, polyorder=3)
    assert smoother.lag == 5
    released = []
    for f in range(30):
        got = smoother.push([PoseInstance([0, 0, 1, 1], 'roi', noisy[f],
                                          scores[f])], payload=f)
        # frame f - 5 comes out once frame f is in
        assert [p for p, _ in got] == ([f - 5] if f >= 5 else [])
        released += got
    released += smoother.flush()
    smoothed = np.array([insts[0].keypoints for _, insts in released])
    expected = savgol_filter(noisy[:30], 11, 3, axis=0)
    np.testing.assert_allclose(smoothed[5:25], expected[5:25], atol=1e-4)
    np.testing.assert_allclose(
        smooth_keypoints(noisy[:30], scores[:30], 'savgol', window_length=11,
                         polyorder=3),
        savgol_filter(noisy[:30], 11, 3, axis=0, mode='interp'))


def test_smoothing_is_gated_by_keypoint_score(noisy_walk):
    truth, noisy, scores = noisy_walk
    noisy, scores = noisy.copy(), scores.copy()
    noisy[60:63, 4] += 80.0  # a wild keypoint the model is unsure of
    scores[60:63, 4] = 0.05
    for method in ('savgol', 'gaussian'):
        out = smooth_keypoints(noisy, scores, method)
        # unsure keypoints keep their raw position ...
        np.testing.assert_array_equal(out[60:63, 4], noisy[60:63, 4])
        # ... and do not pull their neighbours in time
        around = np.r_[55:60, 63:68]
        assert _err(out[around, 4], truth[around, 4]) < 2.0
    smoother = OneEuroSmoother(kpt_thr=0.3)
    out = []
    for f in range(70):
        inst = PoseInstance([0, 0, 1, 1], 'roi', noisy[f], scores[f])
        smoother.push([inst])
        out.append(inst.keypoints)
    out = np.array(out)
    np.testing.assert_array_equal(out[60:63, 4], noisy[60:63, 4].astype(
        np.float32))
    assert np.linalg.norm(out[63, 4] - truth[63, 4]) < 8.0


def test_oneeuro_keeps_tracks_apart():
    smoother = OneEuroSmoother()
    a = PoseInstance([0, 0, 1, 1], 'propagated', [[10., 10.]], [0.9], None, 0)
    b = PoseInstance([0, 0, 1, 1], 'propagated', [[300., 200.]], [0.9], None,
                     1)
    smoother.push([a, b])
    a2 = PoseInstance([0, 0, 1, 1], 'propagated', [[12., 10.]], [0.9], None,
                      0)
    b2 = PoseInstance([0, 0, 1, 1], 'propagated', [[302., 200.]], [0.9],
                      None, 1)
    smoother.push([b2, a2])  # order within a frame does not matter
    assert 10 < a2.keypoints[0, 0] < 12 and 300 < b2.keypoints[0, 0] < 302
    np.testing.assert_allclose(a2.keypoints[0, 0] - 10,
                               b2.keypoints[0, 0] - 300, rtol=1e-5)


def test_build_smoother_and_instance_json():
    assert build_smoother('none').push([], payload='x') == [('x', [])]
    with pytest.raises(ValueError, match='none, oneeuro, savgol, gaussian'):
        build_smoother('kalman')
    with pytest.raises(ValueError, match='odd window_length'):
        build_smoother('savgol', window_length=8)
    with pytest.raises(ValueError, match='bbox_source must be one of'):
        PoseInstance([0, 0, 1, 1], 'whole', [[1, 2]], [0.5])
    inst = PoseInstance([0, 0, 64, 48], 'propagated', [[1.23456, 2.0]],
                        [0.5], track_id=3)
    inst.keypoints = np.array([[1.5, 2.5]])
    assert inst.to_dict() == dict(
        track_id=3, bbox=[0.0, 0.0, 64.0, 48.0], bbox_source='propagated',
        keypoints=[[1.5, 2.5]], keypoints_raw=[[1.235, 2.0]],
        keypoint_scores=[0.5])


def test_measure_tracking_cost():
    cost = measure_tracking_cost(num_frames=20, num_instances=2,
                                 smoothers=('oneeuro', 'savgol'))
    assert set(cost) == {'frames', 'instances', 'keypoints', 'propagation',
                         'tracking', 'smoothing_oneeuro', 'smoothing_savgol'}
    assert all(cost[k] > 0 for k in ('propagation', 'tracking',
                                     'smoothing_oneeuro', 'smoothing_savgol'))


def test_tracking_options_defaults_are_the_parts_defaults():
    """The demos' defaults (``TrackingOptions``) are those of the classes
    they build, so a default changed in one place cannot drift."""
    import inspect

    from custom_pose.tracking import TrackingOptions

    def defaults(fn):
        return {name: p.default
                for name, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}

    opts = TrackingOptions()
    parts = [(BoxPropagator.__init__, ('enlarge', 'kpt_thr', 'min_mean_score',
                                       'redetect_interval')),
             (PoseTracker.__init__, ('kpt_thr', 'max_age', 'init_track_thr')),
             (VideoPoseTracker.__init__, ('max_search_poses', )),
             (build_smoother, ('kpt_thr', ))]
    for fn, names in parts:
        own = defaults(fn)
        for name in names:
            assert getattr(opts, name) == own[name], (fn.__qualname__, name)
    # --smooth-param's listed defaults are the smoothers'
    from custom_pose.tracking import SMOOTH_PARAMS
    assert SMOOTH_PARAMS['oneeuro'] == {
        k: v for k, v in defaults(OneEuroSmoother.__init__).items()
        if k not in ('fps', 'kpt_thr')}
    window = defaults(WindowSmoother.__init__)
    for method, names in (('savgol', ('window_length', 'polyorder')),
                          ('gaussian', ('sigma', 'truncate'))):
        assert SMOOTH_PARAMS[method] == {k: window[k] for k in names}
