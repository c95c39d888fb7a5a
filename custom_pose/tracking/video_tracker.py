# Copyright (c) custom_pose contributors. All rights reserved.
"""One frame of a tracking video loop: boxes -> poses -> track ids."""
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .instances import PoseInstance
from .propagation import BoxPropagator, box_iou
from .tracker import DEFAULT_SIGMA, PoseTracker, keypoint_oks

__all__ = ['VideoPoseTracker']

#: ``pose_fn(frame, boxes (N, 4)) -> (keypoints (N, K, 2), scores (N, K))``,
#: e.g. :meth:`custom_pose.apis.TopdownBatchInferencer.infer_bboxes`.
PoseFn = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]


class VideoPoseTracker:
    """Estimate and track the poses of each frame of a video, in order.

    For each frame: :class:`BoxPropagator` gives the boxes (start box,
    detector or the previous poses), ``pose_fn`` estimates one pose per box
    in one batch, :class:`PoseTracker` gives them ids. Temporal smoothing is
    separate (a :class:`~custom_pose.tracking.KeypointSmoother` fed with the
    returned instances), so the frame's raw poses are never changed here.

    Args:
        pose_fn (callable): ``(frame, boxes) -> (keypoints, scores)``.
        propagator (BoxPropagator, optional): ``None``: the whole frame in
            every frame (no propagation), as the full-frame demo without
            ``--track-box``.
        tracker (PoseTracker, optional): ``None``: ids are left at ``-1``.
        refine_start (int): When a pose comes from a start box (whole frame,
            ROI, search window, detector) and propagation is on, estimate it
            again this many times in the same frame in the box of its own
            keypoints (the pose is then ``'propagated'``). A small animal in
            a large frame is found on the first frame this way instead of
            one frame later. Defaults to 1.
        duplicate_oks (float): Of two poses of one frame whose OKS is above
            this (two boxes that found the same animal, e.g. where one
            animal walks in front of another), only the surer one is kept,
            so that the other animal's track is not handed this one's pose
            (it waits, up to the tracker's ``max_age``, for its animal to
            reappear). Defaults to 0.5.
        max_search_poses (int): With the propagator's ``search_scales``,
            the poses kept of the whole frame (or ROI) and its search
            windows: the surest ones (mean keypoint score at least the
            propagator's ``min_mean_score``, boxes overlapping by less than
            its ``nms_iou``), at least the surest one. Defaults to 1.

    Example::

        inferencer = TopdownBatchInferencer(model)
        tracker = VideoPoseTracker(
            inferencer.infer_bboxes, BoxPropagator('full_frame'),
            PoseTracker.from_dataset_meta(model.dataset_meta))
        smoother = build_smoother('oneeuro', fps=30)
        for frame in frames:
            for frame_out, instances in smoother.push(tracker(frame), frame):
                ...  # draw, write instance.to_dict()
    """

    def __init__(self,
                 pose_fn: PoseFn,
                 propagator: Optional[BoxPropagator] = None,
                 tracker: Optional[PoseTracker] = None,
                 refine_start: int = 1,
                 max_search_poses: int = 1,
                 duplicate_oks: float = 0.5) -> None:
        if refine_start < 0:
            raise ValueError(f'refine_start must be >= 0, got {refine_start}')
        if max_search_poses < 1:
            raise ValueError(
                f'max_search_poses must be >= 1, got {max_search_poses}')
        self.pose_fn = pose_fn
        self.propagator = propagator if propagator is not None else \
            BoxPropagator('full_frame', propagate=False)
        self.tracker = tracker
        self.refine_start = int(refine_start)
        self.max_search_poses = int(max_search_poses)
        self.duplicate_oks = float(duplicate_oks)
        self.reset()

    def reset(self) -> None:
        """Start a new video: no previous poses, no tracks, timings zero."""
        self.propagator.reset()
        if self.tracker is not None:
            self.tracker.reset()
        self.num_frames = 0
        #: seconds spent per stage, summed over the frames
        self.seconds: Dict[str, float] = dict(
            propagation=0.0, pose=0.0, tracking=0.0)

    def _select_search(
            self, frame: np.ndarray, boxes: np.ndarray, sources: List[str],
            kpts: np.ndarray, scores: np.ndarray
    ) -> Tuple[np.ndarray, List[str], np.ndarray, np.ndarray]:
        """Of the poses of the start box and its search windows keep the
        surest (see ``max_search_poses``); the other poses stay."""
        h, w = frame.shape[:2]
        searched = [i for i, s in enumerate(sources)
                    if s in ('full_frame', 'roi', 'search')]
        searched.sort(key=lambda i: -float(np.mean(scores[i])))
        kept, kept_boxes = [], []
        for i in searched:
            box = self.propagator.pose_box(kpts[i], scores[i], (w, h))
            if box is None:
                continue
            if kept_boxes and box_iou(box[None], np.stack(kept_boxes)).max(
            ) >= self.propagator.nms_iou:
                continue
            kept.append(i)
            kept_boxes.append(box)
            if len(kept) == self.max_search_poses:
                break
        if not kept:
            kept = searched[:1]
        keep = sorted(set(range(len(sources))) - set(searched) | set(kept))
        return (boxes[keep], [sources[i] for i in keep], kpts[keep],
                scores[keep])

    def _drop_duplicates(
            self, boxes: np.ndarray, sources: List[str], kpts: np.ndarray,
            scores: np.ndarray, offsets: np.ndarray
    ) -> Tuple[np.ndarray, List[str], np.ndarray, np.ndarray]:
        """Keep the surer of two poses of one animal (OKS above
        ``duplicate_oks``). ``offsets``: the propagator's
        :meth:`~BoxPropagator.motion_offsets`; a pose that fits its
        animal's motion is its animal's, not a duplicate, and stays; one
        that slid stays too (the propagator rejects it and moves its
        animal's box on) and drops no other pose."""
        if len(kpts) < 2:
            return boxes, sources, kpts, scores
        k = kpts.shape[1]
        if self.tracker is not None:
            sigmas = self.tracker._sigmas(k)
            thr = self.tracker.kpt_thr
        else:
            sigmas, thr = np.full(k, DEFAULT_SIGMA), self.propagator.kpt_thr
        oks = np.nan_to_num(keypoint_oks(kpts, scores, kpts, scores, sigmas,
                                         thr))
        checked = np.isfinite(offsets)
        slid = checked & (offsets > self.propagator.max_shift)
        keep: List[int] = [int(i) for i in np.flatnonzero(checked)]
        for i in np.argsort(-scores.mean(axis=1), kind='stable'):
            if not checked[i] and all(oks[i, j] <= self.duplicate_oks
                                      for j in keep if not slid[j]):
                keep.append(int(i))
        if len(keep) == len(kpts):
            return boxes, sources, kpts, scores
        keep.sort()
        return (boxes[keep], [sources[i] for i in keep], kpts[keep],
                scores[keep])

    def _refine(self, frame: np.ndarray, boxes: np.ndarray, sources: List[str],
                kpts: np.ndarray, scores: np.ndarray) -> None:
        h, w = frame.shape[:2]
        for _ in range(self.refine_start):
            todo, new_boxes = [], []
            for i, source in enumerate(sources):
                if source == 'propagated':
                    continue
                box = self.propagator.pose_box(kpts[i], scores[i], (w, h))
                if box is not None:
                    todo.append(i)
                    new_boxes.append(box)
            if not todo:
                return
            k2, s2 = self.pose_fn(frame, np.stack(new_boxes))
            for j, i in enumerate(todo):
                boxes[i], kpts[i], scores[i] = new_boxes[j], k2[j], s2[j]
                sources[i] = 'propagated'

    def __call__(self, frame: np.ndarray) -> List[PoseInstance]:
        """The poses of the next frame of the video.

        Args:
            frame (np.ndarray): (H, W, 3) BGR image.

        Returns:
            list[PoseInstance]: One per box, with ``bbox_source`` and
            ``track_id``; ``keypoints`` equal ``keypoints_raw``.
        """
        t0 = time.perf_counter()
        boxes, sources = self.propagator.boxes(frame)
        t1 = time.perf_counter()
        if len(boxes):
            kpts, scores = self.pose_fn(frame, boxes)
            kpts, scores = np.array(kpts), np.array(scores)
            if 'search' in sources:
                boxes, sources, kpts, scores = self._select_search(
                    frame, boxes, sources, kpts, scores)
            if self.propagator.propagate and self.refine_start:
                self._refine(frame, boxes, sources, kpts, scores)
            offsets = self.propagator.motion_offsets(kpts, scores, boxes,
                                                     sources)
            boxes, sources, kpts, scores = self._drop_duplicates(
                boxes, sources, kpts, scores, offsets)
        else:
            kpts = np.zeros((0, 0, 2), np.float32)
            scores = np.zeros((0, 0), np.float32)
        t2 = time.perf_counter()
        self.seconds['propagation'] += t1 - t0
        self.seconds['pose'] += t2 - t1
        return self.record(frame, boxes, sources, kpts, scores)

    def record(self, frame: np.ndarray, boxes: np.ndarray,
               sources: List[str], keypoints: np.ndarray,
               scores: np.ndarray) -> List[PoseInstance]:
        """Finish a frame whose poses were estimated elsewhere (e.g. many
        frames in one batch, when the boxes do not depend on the previous
        poses): hand them to the propagator, give them track ids.

        Args:
            frame (np.ndarray): (H, W, 3) the frame.
            boxes (np.ndarray): (N, 4) the boxes the poses were estimated
                in, and ``sources`` their sources.
            keypoints (np.ndarray): (N, K, 2). scores (np.ndarray): (N, K).

        Returns:
            list[PoseInstance]: As :meth:`__call__`, less the poses the
            propagator rejects (slid onto another animal, see
            :class:`BoxPropagator`'s ``max_shift``).
        """
        t0 = time.perf_counter()
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        fits = self.propagator.update(frame, keypoints, scores, boxes,
                                      sources)
        if not fits.all():  # poses that slid onto another animal
            boxes, keypoints, scores = boxes[fits], \
                np.asarray(keypoints)[fits], np.asarray(scores)[fits]
            sources = [s for s, f in zip(sources, fits) if f]
        t1 = time.perf_counter()
        if self.tracker is not None:
            ids = self.tracker.update(keypoints, scores, boxes)
        else:
            ids = np.full(len(boxes), -1, np.int64)
        t2 = time.perf_counter()
        self.seconds['propagation'] += t1 - t0
        self.seconds['tracking'] += t2 - t1
        self.num_frames += 1
        return [
            PoseInstance(bbox=boxes[i], bbox_source=sources[i],
                         keypoints_raw=keypoints[i],
                         keypoint_scores=scores[i], track_id=int(ids[i]))
            for i in range(len(boxes))
        ]

    def mean_ms(self) -> Dict[str, float]:
        """Mean milliseconds per frame of each stage so far."""
        n = max(1, self.num_frames)
        return {k: 1000.0 * v / n for k, v in self.seconds.items()}
