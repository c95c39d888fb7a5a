"""The dataset: :func:`generate_synthetic_animalpose`.

Image ``i`` is rendered by :func:`~.render.render_scene` from
``default_rng([seed, 0, i])``, the clip by :func:`~.clip.make_clip` from
``default_rng([seed, 1])`` and the arena clip by
:func:`~.clip.make_arena_clip` from ``default_rng([seed, 2])``; no global
RNG and no clock is used, so the same call always writes byte-identical
files (see :mod:`.formats`). What a run wrote is listed, with sizes and
checksums, in ``out_dir/.synthetic_files.json`` (:mod:`.manifest`).
"""
import os
import os.path as osp
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .animal import CATEGORY_IDS, check_categories
from .clip import make_arena_clip, make_clip
from .formats import (LAYOUTS, check_formats, write_animalpose_keypoints,
                      write_jpeg, write_keypoint_formats)
from .keypoint_sets import derive_keypoints
from .manifest import MANIFEST_NAME, all_files, take_out_dir, write_manifest
from .render import (check_max_animals, check_prob, check_size,
                     render_scene)

__all__ = ['generate_synthetic_animalpose', 'MANIFEST_NAME']


def _will_write(num_images: int, formats: Sequence[str], with_clip: bool,
                with_arena_clip: bool) -> Callable[[str], bool]:
    """Whether a run with these arguments writes a path (relative to
    ``out_dir``; anything under a DeepLabCut project's folder counts)."""
    names = {osp.join('images', f'synth_{i:06d}.jpg')
             for i in range(1, num_images + 1)}
    folders = []
    for fmt in formats:
        layout = LAYOUTS[fmt]
        if fmt in ('deeplabcut', 'deeplabcut_multi'):
            folders.append(osp.dirname(layout) + os.sep)
        else:
            names.add(layout)
    if with_clip:
        names |= {'clip.mp4', 'clip_keypoints.json'}
    if with_arena_clip:
        names |= {'arena_clip.mp4', 'arena_clip_keypoints.json'}
    return lambda rel: rel in names or rel.startswith(tuple(folders))


def generate_synthetic_animalpose(out_dir: str,
                                  num_images: int = 200,
                                  seed: int = 0,
                                  image_size: Tuple[int, int] = (256, 256),
                                  max_animals: int = 1,
                                  categories: Optional[Sequence[str]] = None,
                                  occlusion_prob: float = 0.3,
                                  truncation_prob: float = 0.15,
                                  with_clip: bool = True,
                                  clip_frames: int = 64,
                                  clip_fps: int = 25,
                                  clip_size: Optional[Tuple[int,
                                                            int]] = None,
                                  with_arena_clip: bool = False,
                                  arena_frames: int = 96,
                                  arena_size: Tuple[int, int] = (640, 480),
                                  jpeg_quality: int = 95,
                                  formats: Sequence[str] = ('animalpose', ),
                                  progress: bool = False,
                                  overwrite: bool = False,
                                  warn: Optional[Callable[[str], None]] = None
                                  ) -> dict:
    """Generate a synthetic Animal-Pose dataset in the original format, and
    from the same images and ground truth DeepLabCut, SLEAP and COCO
    projects of their own keypoints.

    Image ``i`` (id ``i + 1``, file ``images/synth_{id:06d}.jpg``) depends
    only on ``(seed, i)`` and the arguments, so the same call always gives
    byte-identical files. ``out_dir`` must be new, empty, or hold a
    generated dataset (its ``.synthetic_files.json`` lists the files the
    run wrote, with sizes and SHA-256); that one is refused unless
    ``overwrite``: then the listed files inside ``out_dir`` that are
    unchanged are removed first, so no stale image remains. Listed files
    that changed since (or lie outside ``out_dir``) are kept and named in
    one ``warn`` line; other files in ``out_dir`` are left alone, and a run
    that would write over a file it may not remove is refused before
    anything is removed (see :func:`~.manifest.take_out_dir`).

    Args:
        out_dir (str): Output directory (created if missing).
        num_images (int): Number of images. Defaults to 200.
        seed (int): Random seed. Defaults to 0.
        image_size (tuple[int, int]): Image (width, height).
        max_animals (int): Animals per image are uniform in
            ``[1, max_animals]`` (<= 14). Defaults to 1.
        categories (Sequence[str], optional): Subset of ``dog``, ``cat``,
            ``sheep``, ``cow``, ``horse``. Defaults to all.
        occlusion_prob (float): Per-animal occluder probability.
        truncation_prob (float): Per-animal truncation probability.
        with_clip (bool): Also write ``clip.mp4`` and
            ``clip_keypoints.json`` (see :func:`make_clip`).
        clip_frames (int): Clip length in frames.
        clip_fps (int): Clip frame rate.
        clip_size (tuple[int, int], optional): Clip (width, height).
            Defaults to ``image_size``.
        with_arena_clip (bool): Also write ``arena_clip.mp4`` and
            ``arena_clip_keypoints.json`` (see :func:`make_arena_clip`: two
            small animals crossing a large frame, ground truth with track
            ids). Defaults to False.
        arena_frames (int): Arena clip length in frames.
        arena_size (tuple[int, int]): Arena clip (width, height).
        jpeg_quality (int): JPEG quality in [1, 100]. Defaults to 95.
        formats (Sequence[str]): What to write besides ``images/``, some of
            ``'animalpose'`` (``keypoints.json``, the default),
            ``'deeplabcut'``, ``'deeplabcut_multi'``, ``'sleap'`` and
            ``'coco'`` (layouts and keypoints in :mod:`.formats`), or one
            comma-separated string.
        progress (bool): Show a progress bar (mmengine's
            :class:`ProgressBar`).
        overwrite (bool): Replace a dataset generated into ``out_dir``
            before. Defaults to False.
        warn (Callable[[str], None], optional): Takes the one line naming
            the listed files ``overwrite`` kept. Defaults to
            ``warnings.warn``.

    Returns:
        dict: Summary with ``out_dir``, ``keypoints_file`` (None without
        ``'animalpose'``), ``image_dir``, ``num_images``,
        ``num_annotations``, ``num_visible_keypoints``,
        ``annotations_per_category``, ``formats`` (per written format
        ``{'path', 'images', 'instances'}``), ``clip`` (``make_clip``
        summary or None), ``arena_clip`` (``make_arena_clip`` summary or
        None), ``seconds`` and ``images_per_second``.

    Raises:
        InputError: ``out_dir`` holds a generated dataset and ``overwrite``
            is False; it is not empty and holds no file list; its file list
            is not valid; or the run would write over a file it may not
            remove.
        ValueError: An invalid argument, or ``'sleap'`` without the
            sleap-io package (checked before anything is written).
    """
    num_images = int(num_images)
    if num_images < 1:
        raise ValueError(f'num_images: must be >= 1, got {num_images}')
    w, h = check_size(image_size, 'image_size')
    max_animals = check_max_animals(max_animals)
    names = check_categories(categories)
    occlusion_prob = check_prob(occlusion_prob, 'occlusion_prob')
    truncation_prob = check_prob(truncation_prob, 'truncation_prob')
    jpeg_quality = int(jpeg_quality)
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f'jpeg_quality: must be in [1, 100], got '
                         f'{jpeg_quality}')
    seed = int(seed)
    formats = check_formats(formats)
    own_keypoints = any(f != 'animalpose' for f in formats)

    img_dir = osp.join(out_dir, 'images')
    others = take_out_dir(
        out_dir, overwrite,
        _will_write(num_images, formats, with_clip, with_arena_clip),
        warn or (lambda msg: warnings.warn(msg, UserWarning, stacklevel=3)))
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(num_images)
    start = time.perf_counter()
    images: Dict[str, str] = {}
    annotations: List[dict] = []
    derived: List[dict] = []
    per_cat = {name: 0 for name in CATEGORY_IDS}
    for i in range(num_images):
        image_id = i + 1
        rng = np.random.default_rng([seed, 0, i])
        res = render_scene(rng, (w, h), max_animals, names, occlusion_prob,
                           truncation_prob)
        file_name = f'synth_{image_id:06d}.jpg'
        write_jpeg(osp.join(img_dir, file_name), res.image, jpeg_quality)
        images[str(image_id)] = file_name
        for k, ann in enumerate(res.annotations):
            annotations.append(dict(image_id=image_id, **ann))
            if own_keypoints:
                derived.append(
                    derive_keypoints(ann['keypoints'], res.label_map, k))
            for name, cid in CATEGORY_IDS.items():
                if cid == ann['category_id']:
                    per_cat[name] += 1
        if bar is not None:
            bar.update()
    seconds = time.perf_counter() - start
    kpt_file = write_animalpose_keypoints(
        out_dir, images, annotations) if 'animalpose' in formats else None
    written = write_keypoint_formats(out_dir, formats, images, annotations,
                                     derived, (w, h))
    clip = None
    if with_clip:
        clip = make_clip(
            out_dir,
            seed=seed,
            num_frames=clip_frames,
            fps=clip_fps,
            image_size=clip_size if clip_size is not None else (w, h),
            category=names[seed % len(names)])
    arena_clip = None
    if with_arena_clip:
        arena_clip = make_arena_clip(
            out_dir,
            seed=seed,
            num_frames=arena_frames,
            fps=clip_fps,
            image_size=arena_size,
            categories=names)
    write_manifest(out_dir, all_files(out_dir) - others)
    return dict(
        out_dir=out_dir,
        keypoints_file=kpt_file,
        image_dir=img_dir,
        num_images=num_images,
        num_annotations=len(annotations),
        num_visible_keypoints=int(
            sum(a['num_keypoints'] for a in annotations)),
        annotations_per_category=per_cat,
        formats=written,
        clip=clip,
        arena_clip=arena_clip,
        seconds=seconds,
        images_per_second=num_images / max(seconds, 1e-9))
