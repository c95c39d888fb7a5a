"""Readers and writers of keypoint annotation formats, side by side.

Each format module reads its files into one
:class:`~.common.KeypointAnnotations` and writes one back:

========== ============================================= ==================
format     files                                         module
========== ============================================= ==================
deeplabcut project folder, ``config.yaml``,              :mod:`.deeplabcut`
           ``CollectedData_*.csv`` / ``.h5``
sleap      ``.slp``, ``.pkg.slp`` (needs ``sleap-io``)    :mod:`.sleap`
coco       COCO keypoint ``.json``                       :mod:`.coco`
========== ============================================= ==================

:mod:`.deeplabcut` reads ``CollectedData`` files with
:mod:`.deeplabcut_tables` and maps their columns to keypoints and instances
with :mod:`.deeplabcut_bodyparts` (which also decides what becomes of a
multi-animal project's unique body parts: ``unique_bodyparts=``).

:func:`detect_format` picks the format from the path; :func:`read_keypoints`
and :func:`read_keypoint_names` dispatch on it.
"""
import os.path as osp
from typing import Optional, Tuple

from .coco import read_coco, read_coco_keypoint_names, write_coco
from .common import (KeypointAnnotations, KeypointCountError,
                     KeypointFormatError, KeypointImage, KeypointInstance,
                     atomic_output, bbox_from_keypoints, check_keypoint_names)
from .deeplabcut import (read_deeplabcut, read_deeplabcut_keypoint_names,
                         write_deeplabcut)
from .deeplabcut_bodyparts import (DEFAULT_UNIQUE_BODYPARTS,
                                   UNIQUE_BODYPARTS_OPTIONS,
                                   check_unique_bodyparts)
from .sleap import read_sleap, read_sleap_keypoint_names, write_sleap

__all__ = [
    'FORMATS', 'detect_format', 'read_keypoints', 'read_keypoint_names',
    'KeypointAnnotations', 'KeypointImage', 'KeypointInstance',
    'KeypointFormatError', 'KeypointCountError', 'bbox_from_keypoints',
    'check_keypoint_names', 'atomic_output', 'read_deeplabcut',
    'write_deeplabcut', 'read_sleap', 'write_sleap', 'read_coco',
    'write_coco', 'UNIQUE_BODYPARTS_OPTIONS', 'DEFAULT_UNIQUE_BODYPARTS'
]

#: The ``format=`` keys.
FORMATS: Tuple[str, ...] = ('deeplabcut', 'sleap', 'coco')


def detect_format(path: str, format: Optional[str] = None) -> str:
    """The format of ``path``: ``format`` when given, else by file type.

    A folder, ``.yaml``/``.yml``, ``.csv`` or ``.h5`` is DeepLabCut;
    ``.slp`` (also ``.pkg.slp``) SLEAP; ``.json`` COCO.

    Raises:
        ValueError: An unknown ``format``.
        KeypointFormatError: A path of no known type.
    """
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f'format: expected one of {list(FORMATS)}, got '
                             f'{format!r}')
        return format
    if osp.isdir(path) or path.endswith(('.yaml', '.yml', '.csv', '.h5')):
        return 'deeplabcut'
    if path.endswith('.slp'):
        return 'sleap'
    if path.endswith('.json'):
        return 'coco'
    raise KeypointFormatError(
        f'{path}: unknown annotation type; expected a DeepLabCut project '
        'folder, config.yaml, CollectedData_*.csv/.h5, a SLEAP .slp/.pkg.slp '
        f'or a COCO .json, or set format= to one of {list(FORMATS)}')


def read_keypoints(path: str,
                   format: Optional[str] = None,
                   image_dir: Optional[str] = None,
                   frames_dir: Optional[str] = None,
                   category: Optional[str] = None,
                   unique_bodyparts: str = DEFAULT_UNIQUE_BODYPARTS
                   ) -> KeypointAnnotations:
    """Read any supported file.

    Args:
        path (str): The annotation file (or DeepLabCut project folder).
        format (str, optional): ``'deeplabcut'``, ``'sleap'`` or ``'coco'``;
            by file type when None.
        image_dir (str, optional): COCO only: folder of the images.
        frames_dir (str, optional): SLEAP only: folder for extracted frames.
        category (str, optional): COCO only: the category to use.
        unique_bodyparts (str): DeepLabCut only: ``'instance'`` (default)
            keeps a multi-animal project's ``uniquebodyparts`` as keypoints
            of one ``single`` instance per frame, ``'drop'`` leaves them out
            (:mod:`.deeplabcut_bodyparts`). Checked for every format.
    """
    fmt = detect_format(path, format)
    mode = check_unique_bodyparts(unique_bodyparts)
    if fmt == 'deeplabcut':
        return read_deeplabcut(path, unique_bodyparts=mode)
    if fmt == 'sleap':
        return read_sleap(path, frames_dir=frames_dir)
    return read_coco(path, image_dir=image_dir, category=category)


def read_keypoint_names(path: str,
                        format: Optional[str] = None,
                        category: Optional[str] = None,
                        unique_bodyparts: str = DEFAULT_UNIQUE_BODYPARTS
                        ) -> Tuple[str, ...]:
    """The keypoint names of a file, without reading its images (what a
    config needs to size the model's head): those :func:`read_keypoints`
    gives with the same ``format``, ``category`` and ``unique_bodyparts``."""
    fmt = detect_format(path, format)
    mode = check_unique_bodyparts(unique_bodyparts)
    if fmt == 'deeplabcut':
        return read_deeplabcut_keypoint_names(path, unique_bodyparts=mode)
    if fmt == 'sleap':
        return read_sleap_keypoint_names(path)
    return read_coco_keypoint_names(path, category=category)
