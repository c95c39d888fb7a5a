"""Build small DeepLabCut / SLEAP / COCO datasets of a custom keypoint set.

The images and labels come from the synthetic Animal-Pose generator; a
keypoint map picks and renames some of its keypoints (``snout`` is
mmpose's ``Nose``, ``spine_mid`` a name no Animal-Pose keypoint has), and
the package's own writers put them in each format.
"""
import csv
import os
import os.path as osp
import shutil
from dataclasses import replace
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from custom_pose.datasets.animalpose_format import (MMPOSE_KEYPOINT_NAMES,
                                                    load_original)
from custom_pose.datasets.formats import (KeypointAnnotations, KeypointImage,
                                          KeypointInstance, write_deeplabcut)
from custom_pose.datasets.synthetic import generate_synthetic_animalpose

#: New name -> mmpose Animal-Pose name. ``spine_mid`` matches no Animal-Pose
#: name (the issue's "body part with no Animal-Pose equivalent").
MOUSE_KEYPOINTS: Dict[str, str] = {
    'snout': 'Nose',
    'leftear': 'L_EarBase',
    'rightear': 'R_EarBase',
    'spine_mid': 'Withers',
}
MOUSE_SKELETON = ((0, 1), (0, 2), (0, 3))

#: Seven keypoints for the COCO file.
SEVEN_KEYPOINTS: Dict[str, str] = {
    'nose': 'Nose',
    'left_eye': 'L_Eye',
    'right_eye': 'R_Eye',
    'throat': 'Throat',
    'withers': 'Withers',
    'tail_base': 'TailBase',
    'L_F_paw': 'L_F_Paw',
}


def synthetic_annotations(root: str,
                          keypoints: Dict[str, str] = MOUSE_KEYPOINTS,
                          skeleton: Tuple = MOUSE_SKELETON,
                          num_images: int = 8,
                          seed: int = 0,
                          image_size: Tuple[int, int] = (64, 64),
                          max_animals: int = 1,
                          **gen_kwargs) -> KeypointAnnotations:
    """Generate synthetic images in ``root`` and their labels restricted to
    (and renamed by) ``keypoints``."""
    generate_synthetic_animalpose(
        root, num_images=num_images, seed=seed, image_size=image_size,
        max_animals=max_animals, with_clip=False, **gen_kwargs)
    ap = load_original(osp.join(root, 'keypoints.json'))
    idx = [MMPOSE_KEYPOINT_NAMES.index(v) for v in keypoints.values()]
    images = [
        KeypointImage(id=i, file_name=f, path=osp.join(root, 'images', f),
                      width=image_size[0], height=image_size[1])
        for i, f in ap.images.items()
    ]
    instances = []
    for inst in ap.instances:
        kpts = inst.keypoints[idx]
        instances.append(
            KeypointInstance(
                id=inst.ann_id, image_id=inst.image_id,
                keypoints=np.where(kpts[:, 2:] > 0, kpts[:, :2], 0.0),
                visibility=np.where(kpts[:, 2] > 0, 2, 0).astype(np.int64)))
    return KeypointAnnotations(
        path=root, format='synthetic', keypoint_names=tuple(keypoints),
        skeleton=tuple(skeleton), images=images, instances=instances)


def place_images(annots: KeypointAnnotations, dest: str,
                 name: Callable[[int, KeypointImage], str]
                 ) -> KeypointAnnotations:
    """Copy the images to ``dest/name(n, img)``; the copy's annotations."""
    images = []
    for n, img in enumerate(annots.images):
        rel = name(n, img)
        path = osp.join(dest, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        shutil.copy(img.path, path)
        images.append(replace(img, file_name=rel, path=path))
    return replace(annots, images=images)


def dlc_project(annots: KeypointAnnotations, project: str,
                scorer: str = 'alice', videos: int = 2,
                **write_kwargs) -> KeypointAnnotations:
    """A DeepLabCut project of ``annots`` in ``project``, the images spread
    over ``videos`` ``labeled-data`` folders; returns the placed labels."""
    placed = place_images(
        annots, project, lambda n, img:
        f'labeled-data/video{n % videos}/{osp.basename(img.path)}')
    write_deeplabcut(placed, project, scorer=scorer, **write_kwargs)
    return placed


def instance_map(annots: KeypointAnnotations,
                 key: Optional[Callable] = None) -> Dict:
    """``{(image file base name, track): (keypoints, visibility)}``."""
    by_id = annots.image_by_id()
    return {(osp.basename(by_id[i.image_id].path), i.track):
            (i.keypoints, i.visibility) for i in annots.instances}


#: Two landmarks on no animal: a multi-animal project's ``uniquebodyparts``.
UNIQUE_BODYPARTS = ('nest', 'lamp')


def write_dlc_unique_project(placed: KeypointAnnotations, project: str,
                             unique: Dict[str, np.ndarray],
                             unique_names: Sequence[str] = UNIQUE_BODYPARTS,
                             individuals: Sequence[str] = ('animal1',
                                                           'animal2'),
                             scorer: str = 'alice',
                             containers: Sequence[str] = ('csv', 'h5'),
                             skeleton: Sequence = (('snout', 'leftear'),
                                                   ('nest', 'lamp'),
                                                   ('snout', 'nest'))
                             ) -> str:
    """Write a multi-animal DeepLabCut project with unique body parts the
    way DeepLabCut does: ``config.yaml`` and, per ``labeled-data`` folder, a
    pandas DataFrame with the column levels ``scorer``, ``individuals``,
    ``bodyparts``, ``coords`` (every individual's body parts, then the
    unique ones under ``single``) and a 3-level row index, saved with
    ``to_csv`` and/or ``to_hdf``.

    Args:
        placed: Images already under ``project/labeled-data/<video>/``;
            every instance's ``track`` is one of ``individuals``.
        unique: ``{file_name: (U, 2)}`` unique-body-part labels, NaN where
            unlabelled; images not in it have none.
        containers: ``'csv'`` and/or ``'h5'``.

    Returns:
        str: The ``config.yaml`` path.
    """
    import pandas as pd
    import yaml
    names = list(placed.keypoint_names)
    columns = [(scorer, ind, part, c) for ind in individuals
               for part in names for c in ('x', 'y')]
    columns += [(scorer, 'single', part, c) for part in unique_names
                for c in ('x', 'y')]
    header = pd.MultiIndex.from_tuples(
        columns, names=['scorer', 'individuals', 'bodyparts', 'coords'])
    per_image: Dict[int, list] = {}
    for inst in placed.instances:
        per_image.setdefault(inst.image_id, []).append(inst)
    videos: Dict[str, list] = {}
    for img in placed.images:
        videos.setdefault(img.file_name.split('/')[1], []).append(img)
    for video, imgs in videos.items():
        data = np.full((len(imgs), len(columns)), np.nan)
        for r, img in enumerate(imgs):
            for inst in per_image.get(img.id, []):
                first = list(individuals).index(inst.track) * len(names) * 2
                xy = np.where(inst.labelled[:, None], inst.keypoints, np.nan)
                data[r, first:first + 2 * len(names)] = xy.ravel()
            if img.file_name in unique:
                data[r, len(individuals) * len(names) * 2:] = np.asarray(
                    unique[img.file_name], dtype=np.float64).ravel()
        index = pd.MultiIndex.from_tuples(
            [tuple(img.file_name.split('/')) for img in imgs])
        df = pd.DataFrame(data, columns=header, index=index)
        stem = osp.join(project, 'labeled-data', video,
                        f'CollectedData_{scorer}')
        if 'csv' in containers:
            df.to_csv(stem + '.csv')
        if 'h5' in containers:
            df.to_hdf(stem + '.h5', key='df_with_missing', mode='w')
    cfg = dict(
        Task='mouse', scorer=scorer, date='Jan01', multianimalproject=True,
        identity=False, project_path=project, video_sets={},
        individuals=list(individuals), uniquebodyparts=list(unique_names),
        multianimalbodyparts=names, bodyparts='MULTI!',
        skeleton=[list(link) for link in skeleton], TrainingFraction=[0.95],
        iteration=0, default_net_type='dlcrnet_ms5')
    path = osp.join(project, 'config.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return path


def edit_dlc_csv(project: str, video: str, edit: Callable[[list], None],
                 scorer: str = 'alice') -> str:
    """Rewrite ``labeled-data/<video>/CollectedData_<scorer>.csv`` of a
    project: ``edit`` changes its rows (lists of cells) in place."""
    path = osp.join(project, 'labeled-data', video,
                    f'CollectedData_{scorer}.csv')
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    edit(rows)
    with open(path, 'w', newline='') as f:
        csv.writer(f).writerows(rows)
    return path
