"""Fixtures: a tiny Animal-Pose Part I folder in the original release format.

``animalpose_root`` writes 8 small JPEG images (``images/``) and a
``keypoints.json`` with keypoint names in the release's order, three
categories (dog, cat, sheep), 1-2 instances per image, some keypoints not
labelled (``[0, 0, 0]``) and one instance with no labelled keypoint at all.
"""
import copy
import json
from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import pytest

from custom_pose.datasets.animalpose_format import ORIGINAL_KEYPOINT_NAMES

REPO_ROOT = Path(__file__).resolve().parents[2]
IMG_W, IMG_H = 64, 48
NUM_IMAGES = 8
CATEGORIES = (('dog', 1), ('cat', 2), ('sheep', 3))
# image index -> category id of each of its instances
IMAGE_INSTANCES = ((1, ), (2, 2), (3, ), (1, 2), (2, ), (1, ), (3, 1), (2, ))
# (image index, instance index) of the instance with no labelled keypoint
UNLABELLED = (5, 0)


def make_original(num_images: int = NUM_IMAGES, seed: int = 0
                  ) -> Dict[str, Any]:
    """The content of a tiny original-format ``keypoints.json``."""
    rng = np.random.RandomState(seed)
    images, annotations = {}, []
    for i in range(num_images):
        img_id = 100 + i  # not 0-based, not contiguous with indices
        images[str(img_id)] = f'img_{img_id:04d}.jpg'
        for j, cat_id in enumerate(IMAGE_INSTANCES[i % len(IMAGE_INSTANCES)]):
            x1 = float(rng.randint(0, 20))
            y1 = float(rng.randint(0, 15))
            x2 = x1 + float(rng.randint(20, 40))
            y2 = y1 + float(rng.randint(15, 30))
            kpts = []
            for _ in ORIGINAL_KEYPOINT_NAMES:
                if (i, j) == UNLABELLED or rng.rand() < 0.25:
                    kpts.append([0, 0, 0])
                else:
                    # fractional coordinates check exact round trips
                    kpts.append([
                        round(float(rng.uniform(x1, x2)), 3),
                        round(float(rng.uniform(y1, y2)), 3), 1
                    ])
            annotations.append(
                dict(
                    image_id=img_id,
                    bbox=[x1, y1, x2, y2],
                    keypoints=kpts,
                    num_keypoints=sum(k[2] for k in kpts),
                    category_id=cat_id))
    categories = [
        dict(
            supercategory='animal',
            id=cat_id,
            name=name,
            keypoints=list(ORIGINAL_KEYPOINT_NAMES),
            skeleton=[[0, 1], [0, 2], [1, 2]]) for name, cat_id in CATEGORIES
    ]
    return dict(
        images=images, annotations=annotations, categories=categories)


def write_images(root: Path, data: Dict[str, Any]) -> None:
    img_dir = root / 'images'
    img_dir.mkdir(parents=True, exist_ok=True)
    # smooth grey images: JPEG keeps them almost exact, so anything drawn
    # on them stands out
    ramp = np.linspace(100, 140, IMG_W, dtype=np.float32)
    for k, file_name in enumerate(data['images'].values()):
        img = np.broadcast_to(ramp[None, :, None] + k, (IMG_H, IMG_W, 3))
        assert cv2.imwrite(str(img_dir / file_name), img.astype(np.uint8))


def write_json(path: Path, data: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def animalpose_root(tmp_path: Path) -> Dict[str, Any]:
    """A tiny original-format dataset on disk.

    Returns:
        dict: ``root`` (Path), ``ann_file`` (str), ``data`` (the JSON
        content, a deep copy safe to modify).
    """
    root = tmp_path / 'animalpose'
    data = make_original()
    write_images(root, data)
    ann_file = write_json(root / 'keypoints.json', data)
    return dict(root=root, ann_file=ann_file, data=copy.deepcopy(data))


@pytest.fixture
def dataset_kwargs(animalpose_root: Dict[str, Any]) -> Dict[str, Any]:
    """Constructor arguments for the fixture dataset."""
    return dict(
        data_root=str(animalpose_root['root']),
        ann_file='keypoints.json',
        data_prefix=dict(img='images/'))

