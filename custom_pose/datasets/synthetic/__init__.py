"""Seeded synthetic Animal-Pose generator (the project's embedded default data).

Draws cartoon quadrupeds (dog, cat, sheep, cow, horse) with the 20 keypoints
of the Animal-Pose dataset (Cao et al., ICCV 2019) and writes them in the
format of the ORIGINAL Animal-Pose release (``keypoints.json``, *not* the
COCO-style conversion mmpose ships)::

    <out_dir>/
        keypoints.json          # {"images", "annotations", "categories"}
        images/synth_000001.jpg ...
        clip.mp4                # optional: a walking / turning animal
        clip_keypoints.json     # optional: per-frame ground truth of the clip
        arena_clip.mp4          # optional: small animals crossing an arena
        arena_clip_keypoints.json  # its per-frame ground truth, with ids

and, from the same images and ground truth, projects of their own keypoint
sets (``formats=``): a DeepLabCut single- and multi-animal project, a SLEAP
``.pkg.slp`` file and a COCO keypoint file (:mod:`.formats`,
:mod:`.keypoint_sets`).

One module per step:

- :mod:`.animal`: keypoints, categories, body plans, :class:`AnimalSpec`
  and :func:`sample_animal_spec`;
- :mod:`.rig`: the posed 3D animal projected to 2D parts;
- :mod:`.render`: backgrounds, painting, occluders, visibility and
  :func:`render_scene`;
- :mod:`.clip`: the video clips, :func:`make_clip` and
  :func:`make_arena_clip`;
- :mod:`.formats`: the files (``keypoints.json`` layout described there,
  and the DeepLabCut / SLEAP / COCO projects);
- :mod:`.keypoint_sets`: the keypoint sets of those projects and the
  derived keypoints (``spine_mid``);
- :mod:`.generate`: the dataset, :func:`generate_synthetic_animalpose`;
- :mod:`.manifest`: the list of the files a run wrote (sizes, SHA-256),
  and what ``overwrite`` may remove.

Determinism: all randomness comes from :class:`numpy.random.Generator`
instances seeded from ``seed`` (image ``i`` uses ``default_rng([seed, 0,
i])``, the clip ``default_rng([seed, 1])``, the arena clip
``default_rng([seed, 2])``); no global RNG and no clock is
used, JPEGs are encoded with a fixed quality by :func:`cv2.imencode` and the
JSON files are written with a fixed key order. The clip is written by
OpenCV's FFmpeg backend with the fixed FourCC ``mp4v`` (MPEG-4 part 2), whose
output is byte-identical for identical frames with a given OpenCV build: the
mp4 muxer writes creation / modification times of 0 (no clock), and the only
build-dependent bytes are the encoder tag (e.g. ``Lavf59.27.100``) and the
codec version; ``tests/test_synthetic.py`` checks two runs for identical
bytes.
"""
from .animal import (CATEGORY_IDS, CATEGORY_SETTINGS, FLIP_PAIRS,
                     KEYPOINT_NAMES, SKELETON, AnimalSpec, sample_animal_spec)
from .clip import ARENA_WIDTH_FRACTION, make_arena_clip, make_clip
from .formats import LAYOUTS, read_arena_keypoints
from .generate import generate_synthetic_animalpose
from .keypoint_sets import (COCO_KEYPOINTS, DEEPLABCUT_KEYPOINTS,
                            DERIVED_KEYPOINTS, SLEAP_KEYPOINTS, KeypointSet)
from .render import SceneResult, render_scene

__all__ = [
    'KEYPOINT_NAMES', 'SKELETON', 'FLIP_PAIRS', 'CATEGORY_IDS',
    'CATEGORY_SETTINGS', 'AnimalSpec', 'SceneResult', 'sample_animal_spec',
    'render_scene', 'make_clip', 'make_arena_clip', 'ARENA_WIDTH_FRACTION',
    'read_arena_keypoints', 'generate_synthetic_animalpose', 'LAYOUTS',
    'KeypointSet', 'DEEPLABCUT_KEYPOINTS', 'SLEAP_KEYPOINTS',
    'COCO_KEYPOINTS', 'DERIVED_KEYPOINTS'
]
