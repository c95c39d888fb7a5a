"""Train/val selection of images, shared by the package's datasets.

:class:`~custom_pose.datasets.OrgAnimalPoseDataset` and
:class:`~custom_pose.datasets.CustomPoseKeypointDataset` take the same
options:

- ``split='train' | 'val' | 'all'`` with ``split_ratio`` and ``split_seed``:
  a deterministic seeded split of the file's images
  (:func:`split_image_ids`);
- ``split_file``: a file of image ids (JSON list or one per line,
  :func:`read_split_file`);
- ``image_ids``: the ids themselves.

The explicit lists exclude each other and ``split != 'all'``. Datasets
take them through :class:`SplitOptionsMixin`.
"""
import json
import os.path as osp
from typing import List, Mapping, Optional, Sequence, Type

import numpy as np

from .animalpose_format import (DEFAULT_SPLIT_RATIO, SPLITS,
                                AnimalPoseFormatError, as_int_id)

__all__ = [
    'split_image_ids', 'read_split_file', 'check_split_args',
    'select_image_ids', 'describe_split', 'SplitOptionsMixin'
]

def split_image_ids(image_ids: Sequence[int],
                    split: str = 'all',
                    ratio: float = DEFAULT_SPLIT_RATIO,
                    seed: int = 0) -> List[int]:
    """Deterministic seeded split of images.

    The ids are sorted, shuffled with ``np.random.RandomState(seed)``; the
    first ``round(ratio * n)`` form ``'train'`` and the rest ``'val'``. The
    same ids, ratio and seed always give the same split; ``'train'`` and
    ``'val'`` are disjoint and together give ``'all'``.

    Args:
        image_ids (Sequence[int]): All image ids.
        split (str): ``'train'``, ``'val'`` or ``'all'``.
        ratio (float): Fraction of images in ``'train'``, in ``(0, 1)``.
        seed (int): Shuffle seed.

    Returns:
        list[int]: The selected ids in ascending order.
    """
    if split not in SPLITS:
        raise ValueError(f'split: expected one of {list(SPLITS)}, got '
                         f'{split!r}')
    if isinstance(ratio, bool) or not isinstance(
            ratio, (int, float)) or not 0.0 < ratio < 1.0:
        raise ValueError(
            f'split_ratio: expected a number in (0, 1), got {ratio!r}')
    ids = sorted(set(int(i) for i in image_ids))
    if split == 'all':
        return ids
    perm = np.random.RandomState(seed).permutation(len(ids))
    n_train = int(round(ratio * len(ids)))
    chosen = perm[:n_train] if split == 'train' else perm[n_train:]
    return sorted(ids[i] for i in chosen)


def read_split_file(path: str) -> List[int]:
    """Read image ids from a split file.

    Either a JSON list of ids or plain text with one id per line (blank
    lines and lines starting with ``#`` are ignored).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        AnimalPoseFormatError: For an entry that is not an integer id,
            naming the file and the line / index.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: split file does not exist')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    if text.lstrip().startswith('['):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as e:
            raise AnimalPoseFormatError(
                f'{path}: malformed JSON: {e.msg} (line {e.lineno}, column '
                f'{e.colno})') from None
        return [as_int_id(v, f'{path}: [{i}]') for i, v in enumerate(values)]
    ids = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        ids.append(as_int_id(line, f'{path}: line {lineno}'))
    return ids


#: How many unknown ids an error message lists.
_MAX_LISTED = 5


def check_split_args(split: str, split_ratio: float,
                     split_file: Optional[str],
                     image_ids: Optional[Sequence[int]]) -> None:
    """Validate the split options of a dataset.

    Raises:
        ValueError: Naming the option and the accepted values.
    """
    if split not in SPLITS:
        raise ValueError(f'split: expected one of {list(SPLITS)}, got '
                         f'{split!r}')
    if isinstance(split_ratio, bool) or not isinstance(
            split_ratio, (int, float)) or not 0.0 < split_ratio < 1.0:
        raise ValueError('split_ratio: expected a number in (0, 1), got '
                         f'{split_ratio!r}')
    if split_file is not None and image_ids is not None:
        raise ValueError('split_file and image_ids: give at most one')
    if (split_file is not None or image_ids is not None) and split != 'all':
        raise ValueError(
            f'split={split!r} cannot be combined with split_file / '
            'image_ids (an explicit image list is the split)')


def select_image_ids(images: Mapping[int, str],
                     split: str,
                     split_ratio: float,
                     split_seed: int,
                     split_file: Optional[str],
                     image_ids: Optional[Sequence[int]],
                     ann_path: str,
                     error_cls: Type[Exception] = ValueError) -> list:
    """Ids of the images a dataset uses, in the order of ``images``.

    Args:
        images (Mapping[int, str]): ``{image id: file name}`` of the file.
        split, split_ratio, split_seed, split_file, image_ids: The dataset's
            options (see the module docstring), checked by
            :func:`check_split_args`.
        ann_path (str): The annotation file, named in messages.
        error_cls (type): Raised for ids the file does not have.

    Returns:
        list[int]: The selected ids.
    """
    if split_file is not None or image_ids is not None:
        if split_file is not None:
            ids, source = read_split_file(split_file), split_file
        else:
            ids, source = list(image_ids), 'image_ids'
        unknown = [i for i in ids if i not in images]
        if unknown:
            raise error_cls(
                f'{source}: image id(s) {unknown[:_MAX_LISTED]} '
                f'({len(unknown)} in all) are not in {ann_path}')
        wanted = set(ids)
        return [i for i in images if i in wanted]
    chosen = set(split_image_ids(images, split, split_ratio, split_seed))
    return [i for i in images if i in chosen]


def describe_split(split: str, split_ratio: float, split_seed: int,
                   split_file: Optional[str],
                   image_ids: Optional[Sequence[int]]) -> str:
    """One-line description of a selection for dataset summaries."""
    if split_file is not None:
        return f'file {split_file}'
    if image_ids is not None:
        return f'{len(image_ids)} image_ids'
    if split == 'all':
        return 'all'
    return f'{split} (ratio={split_ratio}, seed={split_seed})'


class SplitOptionsMixin:
    """The split options of a dataset, validated and kept as attributes
    (``split``, ``split_ratio``, ``split_seed``, ``split_file`` joined with
    ``data_root``, ``image_ids``)."""

    def _init_split(self, split: str, split_ratio: float, split_seed: int,
                    split_file: Optional[str],
                    image_ids: Optional[Sequence[int]],
                    data_root: Optional[str]) -> None:
        check_split_args(split, split_ratio, split_file, image_ids)
        self.split = split
        self.split_ratio = float(split_ratio)
        self.split_seed = int(split_seed)
        self.split_file = split_file
        if split_file is not None and data_root is not None and \
                not osp.isabs(split_file):
            self.split_file = osp.join(data_root, split_file)
        self.image_ids = None if image_ids is None else [
            int(i) for i in image_ids
        ]

    def _select_image_ids(self, images: Mapping[int, str], ann_path: str,
                          error_cls: Type[Exception]) -> list:
        """:func:`select_image_ids` with this dataset's options."""
        return select_image_ids(images, self.split, self.split_ratio,
                                self.split_seed, self.split_file,
                                self.image_ids, ann_path, error_cls)

    def _split_desc(self) -> str:
        return describe_split(self.split, self.split_ratio, self.split_seed,
                              self.split_file, self.image_ids)
