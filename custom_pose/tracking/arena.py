# Copyright (c) custom_pose contributors. All rights reserved.
"""What box propagation, track ids and smoothing do on the synthetic arena
clips (:func:`~custom_pose.datasets.synthetic.make_arena_clip`), against
their ground truth.

:func:`measure_arena_tracking` runs a pose model (any ``pose_fn``, e.g.
:meth:`custom_pose.apis.TopdownBatchInferencer.infer_bboxes`) through
:class:`~custom_pose.tracking.VideoPoseTracker` on

1. the one-animal arena clip, with the whole frame as the box in every
   frame (``--box-mode full-frame``), with ``--track-box`` starting
   from the whole frame, and with ``--track-box`` searching the frame with
   windows of ``search_scales`` when there is no pose to follow: keypoint
   error of each;
2. the two-animal clip (the animals cross), with ``--track-box``, track ids
   and a stand-in detector that gives the ground-truth boxes of the animals
   in the frame every ``redetect_interval`` frames: identity switches on the
   frames that show both animals, and how many of their animals were
   followed at all;
3. the ``--track-box`` predictions of the one-animal clip with Gaussian
   noise of ``noise_px`` added to every keypoint in every frame, through
   each smoother: keypoint error and jitter (mean frame-to-frame
   acceleration) against the ground truth, and the milliseconds per frame
   each smoother takes.

:func:`render_arena_report` writes the result as Markdown tables.
"""
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from custom_pose.errors import InputError
from .evaluation import (assign_to_ground_truth, count_id_switches, jitter,
                         keypoint_errors)
from .instances import PoseInstance
from .options import DEFAULT_SEARCH_SCALES, TrackingOptions
from .smoothing import SMOOTH_METHODS, build_smoother
from .video_tracker import PoseFn, VideoPoseTracker

__all__ = [
    'ARENA_SMOOTHERS', 'arena_clips',
    'measure_arena_tracking', 'render_arena_report', 'render_arena_frame'
]

#: The smoothers compared on the noisy predictions.
ARENA_SMOOTHERS = SMOOTH_METHODS

Log = Callable[[str], None]


def arena_clips(work_dir: str,
                seed: int = 0,
                num_frames: int = 96,
                image_size: Tuple[int, int] = (640, 480),
                fps: int = 25) -> Dict[int, Dict]:
    """The one- and two-animal arena clips in ``work_dir`` (written when
    absent), as ``{num_animals: {'video', 'keypoints_file'}}``."""
    from custom_pose.datasets.synthetic import make_arena_clip
    clips = {}
    for num in (1, 2):
        stem = (f'arena{num}_seed{seed}_{image_size[0]}x{image_size[1]}_'
                f'{num_frames}f_{fps}fps')
        video = osp.join(work_dir, stem + '.mp4')
        gt = osp.join(work_dir, stem + '.json')
        if not (osp.isfile(video) and osp.isfile(gt)):
            os.makedirs(work_dir, exist_ok=True)
            make_arena_clip(work_dir, seed=seed, num_frames=num_frames,
                            fps=fps, image_size=image_size, num_animals=num,
                            video_name=stem + '.mp4',
                            keypoints_name=stem + '.json')
        clips[num] = dict(video=video, keypoints_file=gt)
    return clips


def _ground_truth(path: str, keypoint_names: Sequence[str]) -> dict:
    """The clip's ground truth with keypoints in the model's order (matched
    by name: the release's or mmpose's Animal-Pose names)."""
    from custom_pose.datasets.animalpose_format import ORIGINAL_TO_MMPOSE_NAME
    from custom_pose.datasets.synthetic import (KEYPOINT_NAMES,
                                                read_arena_keypoints)
    index = {}
    for i, name in enumerate(KEYPOINT_NAMES):
        index[name] = index[ORIGINAL_TO_MMPOSE_NAME[name]] = i
    unknown = [n for n in keypoint_names if n not in index]
    if unknown or len(keypoint_names) != len(KEYPOINT_NAMES):
        raise InputError(
            f'the arena clips have the {len(KEYPOINT_NAMES)} Animal-Pose '
            f'keypoints; the model predicts {len(keypoint_names)} '
            f'({", ".join(map(str, unknown[:3])) or "other names"} ...): '
            'use an Animal-Pose model')
    order = [index[n] for n in keypoint_names]
    gt = read_arena_keypoints(path)
    gt['keypoints'] = gt['keypoints'][:, :, order]
    gt['visible'] = gt['visible'][:, :, order]
    return gt


class _GroundTruthBoxes:
    """A stand-in detector: the ground-truth boxes of the animals in frame
    :attr:`frame_index` (set by the loop before each frame)."""

    def __init__(self, gt: dict) -> None:
        self.gt = gt
        self.frame_index = 0
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self.calls += 1
        t = self.frame_index
        return self.gt['bboxes'][t][self.gt['present'][t]]


def _run(video: VideoPoseTracker, frames: Sequence[np.ndarray],
         detector: Optional[_GroundTruthBoxes] = None
         ) -> Tuple[List[List[PoseInstance]], float]:
    """Every frame through ``video``; the instances per frame and the
    milliseconds per frame."""
    video.reset()
    out = []
    t0 = time.perf_counter()
    for t, frame in enumerate(frames):
        if detector is not None:
            detector.frame_index = t
        out.append(video(frame))
    return out, 1000.0 * (time.perf_counter() - t0) / max(1, len(frames))


def _poses(instances: Sequence[PoseInstance]
           ) -> Tuple[np.ndarray, np.ndarray]:
    """The frame's raw keypoints (N, K, 2) and track ids (N, )."""
    k = [i.keypoints_raw for i in instances]
    return (np.stack(k) if k else np.zeros((0, 0, 2)),
            np.array([i.track_id for i in instances], np.int64))


def _error_stats(errors: np.ndarray) -> Dict[str, float]:
    if errors.size == 0:
        return dict(mean=float('nan'), median=float('nan'),
                    within_10px=float('nan'), keypoints=0)
    return dict(mean=float(errors.mean()), median=float(np.median(errors)),
                within_10px=float((errors <= 10).mean()),
                keypoints=int(errors.size))


def _box_run(frames_out: List[List[PoseInstance]], gt: dict,
             ms: float) -> dict:
    """Error of the one-animal run: the pose matched to the animal."""
    poses = [_poses(f) for f in frames_out]
    pose_idx, _ = assign_to_ground_truth(poses, gt)
    num_frames, _, num_kpts, _ = gt['keypoints'].shape
    pred = np.full((num_frames, num_kpts, 2), np.nan)
    scores = np.zeros(pred.shape[:2], np.float32)
    sources: Dict[str, int] = {}
    for t, inst in enumerate(frames_out):
        for i in inst:
            sources[i.bbox_source] = sources.get(i.bbox_source, 0) + 1
        # an unmatched frame (the pose is elsewhere) counts with its first
        # pose, so a lost animal raises the error instead of being skipped
        if inst:
            best = inst[max(int(pose_idx[t, 0]), 0)]
            pred[t], scores[t] = best.keypoints_raw, best.keypoint_scores
    stats = _error_stats(
        keypoint_errors(pred, gt['keypoints'][:, 0], gt['visible'][:, 0]))
    stats.update(
        frames=len(frames_out),
        frames_matched=int((pose_idx[:, 0] >= 0).sum()),
        bbox_sources=sources,
        ms_per_frame=ms)
    return dict(stats=stats, pred=pred, scores=scores)


def _identity_run(frames_out: List[List[PoseInstance]], gt: dict,
                  detector_calls: int, ms: float) -> dict:
    poses = [_poses(f) for f in frames_out]
    pose_idx, track = assign_to_ground_truth(poses, gt)
    both = gt['present'].all(axis=1)
    pred = np.full(gt['keypoints'].shape, np.nan)
    for t, n in zip(*np.nonzero(pose_idx >= 0)):
        pred[t, n] = poses[t][0][pose_idx[t, n]]
    errors = keypoint_errors(pred[both], gt['keypoints'][both],
                             gt['visible'][both])
    ids_per_animal = [
        sorted({int(v) for v in track[:, n] if v >= 0})
        for n in range(track.shape[1])
    ]
    return dict(
        two_animal_frames=int(both.sum()),
        id_switches=count_id_switches(track, both),
        id_switches_all_frames=count_id_switches(track),
        animals_followed=int((pose_idx[both] >= 0).sum()),
        # followed by a pose with a track id (an unsure pose where the two
        # animals overlap gets none, see PoseTracker's init_track_thr)
        animals_with_id=int((track[both] >= 0).sum()),
        animals_to_follow=int(2 * both.sum()),
        poses_per_frame=float(np.mean([len(f) for f in frames_out])),
        track_ids_per_animal=ids_per_animal,
        track_ids_total=len({i.track_id for f in frames_out for i in f}),
        error=_error_stats(errors),
        detector_calls=detector_calls,
        ms_per_frame=ms)


def _smoothing_rows(pred: np.ndarray, scores: np.ndarray, gt: dict,
                    fps: float, noise_px: float, seed: int,
                    methods: Sequence[str]) -> List[dict]:
    """Each smoother on the one-animal predictions plus noise."""
    valid = np.isfinite(pred).all(axis=(1, 2))
    rng = np.random.default_rng([seed, 14])
    noisy = pred + rng.normal(0.0, noise_px, pred.shape)
    truth, visible = gt['keypoints'][:, 0], gt['visible'][:, 0]
    rows = []
    for method in methods:
        smoother = build_smoother(method, fps=fps)
        frames = [[
            PoseInstance(np.zeros(4), 'propagated', noisy[t], scores[t],
                         track_id=0)
        ] if valid[t] else [] for t in range(len(noisy))]
        out: List[List[PoseInstance]] = []
        t0 = time.perf_counter()
        for inst in frames:
            out.extend(i for _, i in smoother.push(inst))
        out.extend(i for _, i in smoother.flush())
        ms = 1000.0 * (time.perf_counter() - t0) / max(1, int(valid.sum()))
        smoothed = np.full_like(noisy, np.nan)
        for t, inst in zip(np.flatnonzero(valid), out):
            smoothed[t] = inst[0].keypoints
        mask = visible & valid[:, None]
        rows.append(dict(
            method=method,
            error=_error_stats(keypoint_errors(smoothed, truth, mask)),
            jitter=jitter(smoothed, mask),
            ms_per_frame=ms,
            lag_frames=int(getattr(smoother, 'lag', 0))))
    return rows


def measure_arena_tracking(pose_fn: PoseFn,
                           keypoint_names: Sequence[str],
                           work_dir: str,
                           *,
                           sigmas: Optional[Sequence[float]] = None,
                           seed: int = 0,
                           num_frames: int = 96,
                           image_size: Tuple[int, int] = (640, 480),
                           fps: int = 25,
                           noise_px: float = 3.0,
                           redetect_interval: int = 8,
                           search_scales: Sequence[float] = DEFAULT_SEARCH_SCALES,
                           smoothers: Sequence[str] = ARENA_SMOOTHERS,
                           keep_instances: bool = False,
                           log: Optional[Log] = None) -> dict:
    """Box propagation, identity switches and smoothing on the arena clips.

    Args:
        pose_fn (callable): ``(frame, boxes (N, 4)) -> (keypoints (N, K, 2),
            scores (N, K))``, image pixels.
        keypoint_names (Sequence[str]): The model's keypoint names, in its
            order (Animal-Pose: the release's or mmpose's names).
        work_dir (str): Where the clips are written (reused when present).
        sigmas (Sequence[float], optional): OKS sigmas for the tracker.
        seed (int): Seed of the clips and of the noise.
        num_frames (int): Frames per clip.
        image_size (tuple[int, int]): Frame (width, height).
        fps (int): Frame rate of the clips (and of the smoothers).
        noise_px (float): Standard deviation of the Gaussian noise added to
            every predicted keypoint before smoothing, image pixels.
        redetect_interval (int): Frames between the stand-in detector's
            runs on the two-animal clip (and when a pose is lost).
        search_scales (Sequence[float]): Windows of the ``--track-box``
            search (see :class:`BoxPropagator`).
        smoothers (Sequence[str]): Methods compared (``none`` first as the
            reference).
        keep_instances (bool): Also return the poses of the two-animal run
            (``two_animal_instances``: per frame a list of
            :class:`PoseInstance`, for :func:`render_arena_frame`; not
            JSON).
        log (callable, optional): Progress messages.

    Returns:
        dict: ``settings``, ``propagation`` (``whole_frame``,
        ``track_box_no_search`` and ``track_box`` error statistics, and
        ``error_ratio`` of the first to the last),
        ``identity`` (switches, animals followed, error on the two-animal
        frames) and ``smoothing`` (one row per method).
    """
    from custom_pose.apis.video import read_video_frames
    log = log or (lambda msg: None)
    clips = arena_clips(work_dir, seed, num_frames, image_size, fps)
    gt1 = _ground_truth(clips[1]['keypoints_file'], keypoint_names)
    gt2 = _ground_truth(clips[2]['keypoints_file'], keypoint_names)
    frames1 = read_video_frames(clips[1]['video'])
    frames2 = read_video_frames(clips[2]['video'])
    for frames, gt, name in ((frames1, gt1, 1), (frames2, gt2, 2)):
        if len(frames) != len(gt['present']):
            raise InputError(f'{clips[name]["video"]}: {len(frames)} frames '
                             f'decoded, the ground truth has '
                             f'{len(gt["present"])}')

    # built as the demos build them: --box-mode full-frame, --track-box
    # with --search-scales none, --track-box
    meta = {} if sigmas is None else dict(sigmas=sigmas)
    runs = dict(
        whole_frame=TrackingOptions(box_mode='start'),
        track_box_no_search=TrackingOptions(track_box=True, search_scales=()),
        track_box=TrackingOptions(track_box=True,
                                  search_scales=tuple(search_scales)))
    boxes = {}
    for key, options in runs.items():
        log(f'arena: one animal, {key}')
        out, ms = _run(options.video_tracker(pose_fn, meta), frames1)
        boxes[key] = _box_run(out, gt1, ms)
    prop = boxes['track_box']
    ratio = boxes['whole_frame']['stats']['mean'] / max(
        prop['stats']['mean'], 1e-9)

    log('arena: two animals, --track-box + track ids')
    detector = _GroundTruthBoxes(gt2)
    two_out, ms = _run(
        TrackingOptions(track_box=True,
                        redetect_interval=redetect_interval).video_tracker(
                            pose_fn, meta, detector=detector),
        frames2, detector)
    identity = _identity_run(two_out, gt2, detector.calls, ms)

    log(f'arena: smoothing of the --track-box poses + {noise_px:g} px noise')
    rows, rows_clean = (_smoothing_rows(prop['pred'], prop['scores'], gt1,
                                        fps, noise, seed, smoothers)
                        for noise in (noise_px, 0.0))
    gt_jitter = jitter(gt1['keypoints'][:, 0], gt1['visible'][:, 0])
    extra = dict(two_animal_instances=two_out,
                 two_animal_video=clips[2]['video']) if keep_instances else {}
    return dict(
        **extra,
        settings=dict(
            seed=seed, frames=num_frames, size=list(image_size), fps=fps,
            noise_px=noise_px, redetect_interval=redetect_interval,
            search_scales=list(search_scales),
            clips={k: osp.basename(v['video']) for k, v in clips.items()}),
        propagation=dict(
            {key: run['stats'] for key, run in boxes.items()},
            error_ratio=ratio),
        identity=identity,
        smoothing=dict(noisy=rows, clean=rows_clean,
                       ground_truth_jitter=gt_jitter))


def render_arena_frame(result: dict, frame_index: int,
                       draw: Callable[[np.ndarray, Sequence[PoseInstance]],
                                      np.ndarray]) -> np.ndarray:
    """Frame ``frame_index`` of the two-animal clip with its poses drawn by
    ``draw(image, instances)`` (e.g.
    :func:`custom_pose.apis.draw_tracked_instances` with a drawer), from a
    :func:`measure_arena_tracking` result with ``keep_instances``."""
    if 'two_animal_instances' not in result:
        raise ValueError('measure_arena_tracking(..., keep_instances=True) '
                         'keeps the poses to draw')
    instances = result['two_animal_instances']
    if not 0 <= frame_index < len(instances):
        raise ValueError(f'frame {frame_index} is not in the clip '
                         f'({len(instances)} frames)')
    from custom_pose.apis.video import read_video_frames
    frames = read_video_frames(result['two_animal_video'],
                               max_frames=frame_index + 1)
    return draw(frames[frame_index], instances[frame_index])


def _f(value: float, digits: int = 2) -> str:
    return '-' if value is None or value != value else f'{value:.{digits}f}'


def render_arena_report(result: dict) -> List[str]:
    """The result of :func:`measure_arena_tracking` as Markdown lines."""
    s = result['settings']
    p = result['propagation']
    lines = [
        f'Arena clips: {s["frames"]} frames {s["size"][0]}x{s["size"][1]} '
        f'at {s["fps"]} fps, seed {s["seed"]} '
        f'(`make_arena_clip`; animals 17-22 % of the frame width).', '',
        '| boxes (one animal) | mean error px | median px | within 10 px '
        '| frames on the animal | ms/frame |', '|---|---|---|---|---|---|'
    ]
    search = ', '.join(f'{v:g}' for v in s['search_scales'])
    for key, name in (('whole_frame', '`--box-mode full-frame`'),
                      ('track_box_no_search',
                       '`--track-box --search-scales none`'),
                      ('track_box', f'`--track-box` (search windows '
                       f'{search})')):
        r = p[key]
        lines.append(
            f'| {name} | {_f(r["mean"], 1)} | {_f(r["median"], 1)} | '
            f'{_f(100 * r["within_10px"], 0)} % | {r["frames_matched"]} / '
            f'{r["frames"]} | {_f(r["ms_per_frame"], 1)} |')
    lines += ['', f'Error ratio whole frame / `--track-box` (with the '
              f'search): {_f(p["error_ratio"], 1)}x.']
    i = result['identity']
    lines += [
        '', f'Two animals crossing (`--track-box`, track ids; a stand-in '
        f'detector gives the ground-truth boxes every '
        f'{s["redetect_interval"]} frames and when a pose is lost, '
        f'{i["detector_calls"]} calls): on the {i["two_animal_frames"]} '
        f'frames with two animals, **{i["id_switches"]} identity '
        f'switches**, {i["animals_followed"]} of {i["animals_to_follow"]} '
        f'animal-frames followed ({i["animals_with_id"]} by a pose with '
        f'a track id), mean error {_f(i["error"]["mean"], 1)} px; '
        f'track ids per animal {i["track_ids_per_animal"]}.'
    ]
    sm = result['smoothing']
    lines += [
        '', f'Smoothing of the `--track-box` poses with {s["noise_px"]:g} px '
        f'Gaussian noise added to every keypoint (without noise in '
        f'brackets); jitter = mean |x[t+1] - 2x[t] + x[t-1]|, ground truth '
        f'{_f(sm["ground_truth_jitter"])} px/frame^2:', '',
        '| `--smooth` | mean error px | jitter px/frame^2 | ms/frame '
        '| delay frames |', '|---|---|---|---|---|'
    ]
    for r, c in zip(sm['noisy'], sm['clean']):
        lines.append(
            f'| {r["method"]} | {_f(r["error"]["mean"])} '
            f'({_f(c["error"]["mean"])}) | {_f(r["jitter"])} '
            f'({_f(c["jitter"])}) | {_f(r["ms_per_frame"], 3)} | '
            f'{r["lag_frames"]} |')
    return lines
