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
Projects of their own keypoints (:func:`write_keypoint_formats`), written
by the package's writers (:mod:`custom_pose.datasets.formats`) from the
same records mapped by :mod:`.keypoint_sets`, paths relative to ``out_dir``
(:data:`LAYOUTS`):

- ``deeplabcut``: a single-animal DeepLabCut project
  ``deeplabcut/config.yaml`` with ``labeled-data/synthetic/`` (copies of the
  images that hold exactly one animal, and ``CollectedData_synthetic.csv``),
  :data:`~.keypoint_sets.DEEPLABCUT_KEYPOINTS`;
- ``deeplabcut_multi``: a multi-animal project ``deeplabcut_multi/`` of
  every image (individuals ``animal1``, ``animal2``, ... in painting
  order), the same body parts;
- ``sleap``: ``labels.pkg.slp``, the labelled frames embedded,
  :data:`~.keypoint_sets.SLEAP_KEYPOINTS`;
- ``coco``: ``coco_keypoints.json`` (image ``file_name`` ``images/...``,
  the generator's boxes), :data:`~.keypoint_sets.COCO_KEYPOINTS`.

JSON files are written with a fixed key order and JPEGs with a fixed
quality by :func:`cv2.imencode`, so identical records give identical bytes.
So do the DeepLabCut files (with the fixed project ``date``
:data:`DEEPLABCUT_DATE`) but for ``project_path`` in ``config.yaml``, which
DeepLabCut wants absolute; a SLEAP file holds the same content every time,
not the same bytes (HDF5 and sleap-io store times and set orders).
"""
import json
import os
import os.path as osp
import shutil
from dataclasses import replace
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import cv2
import numpy as np

from ..formats import (KeypointAnnotations, write_coco, write_deeplabcut,
                       write_sleap)
from .animal import CATEGORY_IDS, KEYPOINT_NAMES, SKELETON
from .keypoint_sets import (COCO_KEYPOINTS, DEEPLABCUT_KEYPOINTS,
                            SLEAP_KEYPOINTS, keypoint_annotations)

#: What the generator writes for each ``formats=`` key, relative to
#: ``out_dir``.
LAYOUTS: Dict[str, str] = {
    'animalpose': 'keypoints.json',
    'deeplabcut': 'deeplabcut/config.yaml',
    'deeplabcut_multi': 'deeplabcut_multi/config.yaml',
    'sleap': 'labels.pkg.slp',
    'coco': 'coco_keypoints.json',
}
#: The ``date`` of the DeepLabCut projects (fixed: reproducible files).
DEEPLABCUT_DATE = 'Jan01'
#: The scorer, task and video folder of the DeepLabCut projects.
DEEPLABCUT_SCORER = 'synthetic'


def _keypoint_layout() -> Dict[str, Any]:
    """The keypoint names and skeleton (COCO categories, clip ground
    truth)."""
    return dict(keypoints=list(KEYPOINT_NAMES),
                skeleton=[list(link) for link in SKELETON])


def _categories_json() -> List[dict]:
    return [
        dict(supercategory='animal', id=cid, name=name, **_keypoint_layout())
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


def _clip_header(video_name: str, fps: int, size: Tuple[int, int],
                 frames: List[dict]) -> Dict[str, Any]:
    """The fields every clip's ground truth starts with."""
    return dict(video=video_name, fps=fps, width=size[0], height=size[1],
                num_frames=len(frames))


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
        dict(**_clip_header(video_name, fps, size, frames),
             category_id=category_id,
             **_keypoint_layout(),
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
        dict(**_clip_header(video_name, fps, size, frames),
             **_keypoint_layout(),
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


def check_formats(formats: Sequence[str]) -> Tuple[str, ...]:
    """``formats`` (a sequence or one comma-separated string) as a tuple of
    :data:`LAYOUTS` keys.

    Raises:
        ValueError: An unknown or no format, or ``'sleap'`` without the
            sleap-io package.
    """
    if isinstance(formats, str):
        formats = formats.split(',')
    formats = tuple(dict.fromkeys(f.strip() for f in formats if f.strip()))
    unknown = [f for f in formats if f not in LAYOUTS]
    if unknown or not formats:
        raise ValueError(f'formats: expected some of {list(LAYOUTS)}, got '
                         f'{list(formats)}')
    if 'sleap' in formats:
        try:
            import sleap_io  # noqa: F401
        except ImportError:
            raise ValueError(
                "formats: 'sleap' needs the optional package sleap-io: pip "
                "install -e '.[sleap]' (or pip install sleap-io)") from None
    return formats


def _deeplabcut_project(out_dir: str, annots: KeypointAnnotations,
                        multi_animal: bool) -> Tuple[str, KeypointAnnotations]:
    """Copy the images into a DeepLabCut project and write its files."""
    folder = 'deeplabcut_multi' if multi_animal else 'deeplabcut'
    project = osp.join(out_dir, folder)
    if not multi_animal:  # one row per image: the images with one animal
        count: Dict[int, int] = {}
        for inst in annots.instances:
            count[inst.image_id] = count.get(inst.image_id, 0) + 1
        keep = {i for i, n in count.items() if n == 1}
        annots = replace(
            annots, images=[im for im in annots.images if im.id in keep],
            instances=[i for i in annots.instances if i.image_id in keep])
    video = osp.join('labeled-data', DEEPLABCUT_SCORER)
    os.makedirs(osp.join(project, video), exist_ok=True)
    images = []
    for img in annots.images:
        file_name = f'{video}/{osp.basename(img.path)}'
        path = osp.join(project, file_name)
        shutil.copyfile(img.path, path)
        images.append(replace(img, file_name=file_name, path=path))
    annots = replace(annots, images=images)
    return write_deeplabcut(
        annots, project, scorer=DEEPLABCUT_SCORER, task=DEEPLABCUT_SCORER,
        multi_animal=multi_animal, date=DEEPLABCUT_DATE), annots


def write_keypoint_formats(out_dir: str, formats: Sequence[str],
                           images: Mapping[str, str],
                           annotations: Sequence[dict],
                           derived: Sequence[Mapping[str, Sequence[float]]],
                           image_size: Tuple[int, int]) -> Dict[str, dict]:
    """Write the projects of their own keypoints named in ``formats``
    (``'animalpose'`` is :func:`write_animalpose_keypoints`' and skipped
    here).

    Args:
        out_dir (str): Dataset root (the images are under ``images/``).
        formats (Sequence[str]): :data:`LAYOUTS` keys.
        images (Mapping[str, str]): Image id (as a string) -> file name.
        annotations (Sequence[dict]): Release-format annotations with
            ``image_id``.
        derived (Sequence[Mapping]): The derived keypoints of each
            annotation (:func:`~.keypoint_sets.derive_keypoints`).
        image_size (tuple[int, int]): ``(width, height)`` of the images.

    Returns:
        dict: Per written format ``{'path', 'images', 'instances'}``.
    """
    image_dir = osp.join(out_dir, 'images')

    def records(kset):
        return keypoint_annotations(kset, images, annotations, derived,
                                    image_dir, image_size)

    written = {}
    for fmt in formats:
        if fmt == 'animalpose':
            continue
        if fmt in ('deeplabcut', 'deeplabcut_multi'):
            path, annots = _deeplabcut_project(
                out_dir, records(DEEPLABCUT_KEYPOINTS),
                fmt == 'deeplabcut_multi')
        elif fmt == 'sleap':
            annots = records(SLEAP_KEYPOINTS)
            path = write_sleap(annots, osp.join(out_dir, LAYOUTS[fmt]),
                               embed=True)
        else:
            annots = records(COCO_KEYPOINTS)
            path = write_coco(annots, osp.join(out_dir, LAYOUTS[fmt]))
        written[fmt] = dict(
            path=path, images=len(annots.images),
            instances=len(annots.instances))
    return written
