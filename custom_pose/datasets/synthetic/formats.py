"""File layouts the generator writes.

Every writer takes the generator's records in the release's own terms:
``images`` ``{"<image id>": "<file name>"}`` (ids start at 1) and
``annotations``, a list of release-format annotation dicts (below, with
``image_id``); another layout is one more writer of those records.

Original Animal-Pose release (:func:`write_animalpose_keypoints`),
``<out_dir>/keypoints.json``:

- ``"images"``: ``{"<image id>": "<file name>", ...}``.
- ``"annotations"``: list of ``{"image_id": int, "bbox": [xmin, ymin, xmax,
  ymax], "keypoints": [[x, y, v] x 20], "num_keypoints": int,
  "category_id": int}``. ``v`` is 1 for a visible keypoint and 0 otherwise
  (occluded by an occluder, another animal or the animal's own body, or
  outside the image). Unlike the release, which stores unlabelled points as
  ``[0, 0, 0]``, invisible points keep their true (possibly out-of-image)
  position so they stay usable as ground truth; readers must treat ``v=0``
  points as unlabelled. ``bbox`` is the animal's amodal extent clipped to the
  image. ``num_keypoints`` counts the points with ``v=1``.
- ``"categories"``: the release's five categories with ids 1..5 = dog, cat,
  sheep, cow, horse, each with the 20 keypoint names and the release's
  0-based skeleton (the same 15 links as the release's
  ``visualize_keypoint.py``).

Clip ground truth (:func:`write_clip_keypoints`): ``{"video", "fps",
"width", "height", "num_frames", "category_id", "keypoints" (names),
"skeleton", "frames": [{"frame_id", "bbox", "keypoints": [[x, y, v] x 20],
"num_keypoints"}]}``.

Arena clip ground truth (:func:`write_arena_keypoints`, read back by
:func:`read_arena_keypoints`): ``{"video", "fps", "width", "height",
"num_frames", "keypoints" (names), "skeleton", "animals": [{"track_id",
"category_id", "first_frame"}], "frames": [{"frame_id", "instances":
[{"track_id", "category_id", "bbox", "keypoints": [[x, y, v] x 20],
"num_keypoints"}]}]}``; a frame lists the animals it shows, by track id.

JSON files are written with a fixed key order and JPEGs with a fixed
quality by :func:`cv2.imencode`, so identical records give identical bytes.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Tuple

import cv2
import numpy as np

from .animal import CATEGORY_IDS, KEYPOINT_NAMES, SKELETON


def _categories_json() -> List[dict]:
    return [
        dict(
            supercategory='animal',
            id=cid,
            name=name,
            keypoints=list(KEYPOINT_NAMES),
            skeleton=[list(link) for link in SKELETON])
        for name, cid in CATEGORY_IDS.items()
    ]


def _write_json(path: str, obj: dict) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(obj))
        f.write('\n')


def write_jpeg(path: str, image: np.ndarray, quality: int) -> None:
    """Encode a BGR image, (H, W, 3) uint8, as JPEG and write it to ``path``.
    """
    ok, buf = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f'cv2.imencode failed for {osp.basename(path)}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def write_animalpose_keypoints(out_dir: str, images: Dict[str, str],
                               annotations: List[dict]) -> str:
    """Write ``<out_dir>/keypoints.json`` in the original release's layout.

    Args:
        out_dir (str): Dataset root (the images are under ``images/``).
        images (dict[str, str]): Image id (as a string) -> file name.
        annotations (list[dict]): Release-format annotations with
            ``image_id``.

    Returns:
        str: The path of the written file.
    """
    path = osp.join(out_dir, 'keypoints.json')
    _write_json(
        path,
        dict(
            images=images,
            annotations=annotations,
            categories=_categories_json()))
    return path


def write_clip_keypoints(path: str, video_name: str, fps: int,
                         size: Tuple[int, int], category_id: int,
                         frames: List[dict]) -> None:
    """Write the per-frame ground truth of a one-animal clip.

    Args:
        path (str): Output JSON file.
        video_name (str): File name of the video, relative to the JSON.
        fps (int): Frame rate.
        size (tuple[int, int]): Frame (width, height).
        category_id (int): The animal's release category id.
        frames (list[dict]): Per frame ``frame_id``, ``bbox``, ``keypoints``
            and ``num_keypoints`` (release format).
    """
    _write_json(
        path,
        dict(
            video=video_name,
            fps=fps,
            width=size[0],
            height=size[1],
            num_frames=len(frames),
            category_id=category_id,
            keypoints=list(KEYPOINT_NAMES),
            skeleton=[list(link) for link in SKELETON],
            frames=frames))


def write_arena_keypoints(path: str, video_name: str, fps: int,
                          size: Tuple[int, int], animals: List[dict],
                          frames: List[dict]) -> None:
    """Write the per-frame ground truth of a clip of several animals.

    Args:
        path (str): Output JSON file.
        video_name (str): File name of the video, relative to the JSON.
        fps (int): Frame rate.
        size (tuple[int, int]): Frame (width, height).
        animals (list[dict]): Per animal ``track_id``, ``category_id`` and
            ``first_frame``.
        frames (list[dict]): Per frame ``frame_id`` and ``instances``, each
            ``track_id``, ``category_id``, ``bbox``, ``keypoints`` and
            ``num_keypoints`` (release format).
    """
    _write_json(
        path,
        dict(
            video=video_name,
            fps=fps,
            width=size[0],
            height=size[1],
            num_frames=len(frames),
            keypoints=list(KEYPOINT_NAMES),
            skeleton=[list(link) for link in SKELETON],
            animals=animals,
            frames=frames))


def read_arena_keypoints(path: str) -> Dict[str, Any]:
    """Read :func:`write_arena_keypoints`'s file as arrays.

    Args:
        path (str): The ground-truth JSON.

    Returns:
        dict: ``video`` (path of the video next to the JSON), ``fps``,
        ``width``, ``height``, ``track_ids`` (N, ) int64,
        ``keypoints`` (T, N, K, 2) float64, ``visible`` (T, N, K) bool and
        ``bboxes`` (T, N, 4) float64 ``xyxy`` -- NaN (``visible`` False)
        where animal n is not in frame t -- and ``present`` (T, N) bool.
    """
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    ids = [a['track_id'] for a in data['animals']]
    column = {tid: n for n, tid in enumerate(ids)}
    t, n, k = data['num_frames'], len(ids), len(data['keypoints'])
    keypoints = np.full((t, n, k, 2), np.nan)
    visible = np.zeros((t, n, k), bool)
    bboxes = np.full((t, n, 4), np.nan)
    for frame in data['frames']:
        for inst in frame['instances']:
            i, j = frame['frame_id'], column[inst['track_id']]
            kpts = np.asarray(inst['keypoints'], np.float64).reshape(k, 3)
            keypoints[i, j] = kpts[:, :2]
            visible[i, j] = kpts[:, 2] > 0
            bboxes[i, j] = inst['bbox']
    return dict(
        video=osp.join(osp.dirname(path), data['video']),
        fps=data['fps'],
        width=data['width'],
        height=data['height'],
        track_ids=np.asarray(ids, np.int64),
        keypoints=keypoints,
        visible=visible,
        bboxes=bboxes,
        present=~np.isnan(bboxes[..., 0]))
