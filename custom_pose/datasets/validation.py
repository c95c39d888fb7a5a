# Copyright (c) custom_pose contributors. All rights reserved.
"""Data checks every dataset of the package shares.

**Labelled keypoints** (:func:`check_labelled_keypoints`). A labelled
keypoint must be a finite number, and where the image size ``W x H`` is
known it must lie within one image size of the image::

    -W <= x <= 2 W   and   -H <= y <= 2 H

Keypoints a little outside the image are legitimate (a paw cut off by the
frame, labelled where it would be); a keypoint further out than a whole
image is a typo, a unit mix-up or a sentinel value (``-500``, ``1e30``),
and training on it gives meaningless targets and losses (an EPE of
``4.9e28`` px was measured with one such keypoint). Unlabelled keypoints
(``v = 0``) are not checked: their coordinates are ignored.

**Images that do not load** (:class:`SkipUndecodableMixin`). A sample whose
image is missing, empty or does not decode stops training with one line
naming the file
(:class:`~custom_pose.datasets.transforms.ImageLoadError`); with
``skip_undecodable=True`` a training dataset skips it with a warning
instead (mmengine's ``BaseDataset`` then draws another sample, up to
``max_refetch`` times in a row). Test-mode datasets never skip: an
evaluation silently covering fewer images would not compare with others.
"""
import logging
import warnings
from typing import Any, Optional, Sequence, Set, Tuple, Type

import numpy as np
from mmengine.logging import print_log

__all__ = [
    'KEYPOINT_MARGIN', 'check_labelled_keypoints', 'SkipUndecodableMixin'
]

#: How far outside the image a labelled keypoint may lie, in image sizes.
KEYPOINT_MARGIN = 1.0


def _fmt(value: float) -> str:
    return f'{value:g}'


def check_labelled_keypoints(keypoints: np.ndarray,
                             labelled: np.ndarray,
                             where: str,
                             image_size: Optional[Tuple[int, int]] = None,
                             names: Optional[Sequence[str]] = None,
                             error: Type[Exception] = ValueError) -> None:
    """Check the labelled keypoints of one instance (the rule is in the
    module docstring).

    Args:
        keypoints (np.ndarray): ``(K, 2)`` ``x, y`` in image pixels.
        labelled (np.ndarray): ``(K,)`` bool, the labelled keypoints.
        where (str): The annotation, for messages: ``'<file>:
            annotations[3] (image_id=7)'``.
        image_size (tuple, optional): ``(W, H)`` of the image; without it
            only finiteness is checked.
        names (Sequence[str], optional): Keypoint names, for messages
            (else the keypoint's index).
        error (type): The exception class to raise (the dataset's format
            error). Defaults to ``ValueError``.

    Raises:
        error: For the first bad keypoint, naming it, its value and the
            allowed range.
    """
    xy = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    labelled = np.asarray(labelled, dtype=bool).reshape(-1)
    bad = labelled & ~np.isfinite(xy).all(axis=1)
    limits = None
    if image_size is not None:
        w, h = (float(v) for v in image_size)
        lo = np.array([-KEYPOINT_MARGIN * w, -KEYPOINT_MARGIN * h])
        hi = np.array([(1 + KEYPOINT_MARGIN) * w, (1 + KEYPOINT_MARGIN) * h])
        with np.errstate(invalid='ignore'):
            outside = ((xy < lo) | (xy > hi)).any(axis=1)
        bad |= labelled & outside
        limits = (lo, hi, w, h)
    if not bad.any():
        return
    j = int(np.flatnonzero(bad)[0])
    name = f'keypoint {names[j]!r}' if names is not None else f'keypoint {j}'
    value = f'({_fmt(xy[j, 0])}, {_fmt(xy[j, 1])})'
    if not np.isfinite(xy[j]).all():
        problem = 'is not a finite number'
    else:
        lo, hi, w, h = limits
        problem = (f'lies more than one image size outside the {w:g}x{h:g} '
                   f'image (allowed x in [{_fmt(lo[0])}, {_fmt(hi[0])}], '
                   f'y in [{_fmt(lo[1])}, {_fmt(hi[1])}])')
    raise error(
        f'{where}: labelled {name} at {value} {problem}; fix the annotation '
        'or mark the keypoint unlabelled (v=0)')


class SkipUndecodableMixin:
    """``skip_undecodable`` for a dataset: training samples whose image does
    not load (:class:`~custom_pose.datasets.transforms.ImageLoadError`
    from :class:`~custom_pose.datasets.transforms.CustomPoseLoadImage`) are
    skipped with a warning, once per image and process, and mmengine's
    ``BaseDataset`` draws another sample in their place. When no image of
    the dataset loads, the error is raised after all.

    The dataset's ``__init__`` sets :attr:`skip_undecodable`; put the mixin
    before mmengine's dataset class in the bases.
    """

    skip_undecodable: bool = False
    _undecodable: Optional[Set[str]] = None
    _num_paths: Optional[int] = None

    def prepare_data(self, idx: int) -> Any:
        from custom_pose.datasets.transforms.loading import (
            ImageLoadError, image_load_problem)
        try:
            return super().prepare_data(idx)
        except ImageLoadError:
            if not self.skip_undecodable or self.test_mode:
                raise
            path = str(self.get_data_info(idx).get('img_path'))
            if self._undecodable is None:
                self._undecodable = set()
            if path not in self._undecodable:
                self._undecodable.add(path)
                msg = (f'{self.__class__.__name__}: skipping a sample '
                       '(skip_undecodable=True): '
                       f'{image_load_problem(path)}')
                warnings.warn(msg, UserWarning, stacklevel=2)
                print_log(msg, logger='current', level=logging.WARNING)
                if len(self._undecodable) >= self._num_image_paths():
                    raise ImageLoadError(
                        f'none of the {len(self._undecodable)} images of '
                        f'{self.__class__.__name__} ({self.ann_file}) loads; '
                        f'the last: {image_load_problem(path)}') from None
            return None

    def _num_image_paths(self) -> int:
        if self._num_paths is None:
            self._num_paths = len({
                str(self.get_data_info(i).get('img_path'))
                for i in range(len(self))
            })
        return self._num_paths
