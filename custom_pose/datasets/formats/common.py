"""The in-memory structure every keypoint-format reader returns.

A reader (:func:`~custom_pose.datasets.formats.read_deeplabcut`,
:func:`~custom_pose.datasets.formats.read_sleap`,
:func:`~custom_pose.datasets.formats.read_coco`) turns its file into one
:class:`KeypointAnnotations`: the keypoint set (names, skeleton, symmetric
pairs where the file has them), the images (file path and size) and the
labelled instances (keypoints ``(K, 2)``, COCO-style visibility, an optional
box and track). The writers take the same structure, so tests and the
synthetic generator write every format from one description.

Also here: the error raised for unusable files (:class:`KeypointFormatError`),
the checks every format shares (keypoint names, skeleton, image files) and
the all-or-nothing writing of several files.
"""
import os.path as osp
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import (Dict, Iterator, List, Optional, Sequence, Tuple, Union)

import numpy as np

from ...errors import CustomPoseError
from ...utils.atomic_io import (TEMP_SUFFIX, commit_temp_path,
                                discard_temp_path, reserve_temp_path)
from ..animalpose_format import read_image_size

__all__ = [
    'KeypointFormatError', 'KeypointCountError', 'KeypointImage',
    'KeypointInstance', 'KeypointAnnotations', 'instance_from_points',
    'check_keypoint_names',
    'skeleton_from_names', 'locate_image', 'bbox_from_keypoints',
    'atomic_output'
]

class KeypointFormatError(CustomPoseError, ValueError):
    """A keypoint annotation file that cannot be used as it is.

    The message is one line: the offending file (and row / entry), what is
    wrong and what to change.
    """


class KeypointCountError(CustomPoseError, ValueError):
    """A model (or a config's keypoint count) whose keypoint channels differ
    from the dataset's keypoints."""


@dataclass
class KeypointImage:
    """One labelled image.

    Attributes:
        id (int): Image id (the file's, or 1-based in reading order).
        file_name (str): The image as the annotation file names it.
        path (str): Where the image is read from.
        width (int, optional): Width in pixels, where known.
        height (int, optional): Height in pixels, where known.
    """
    id: int
    file_name: str
    path: str
    width: Optional[int] = None
    height: Optional[int] = None


@dataclass
class KeypointInstance:
    """One labelled animal.

    Attributes:
        id (int): Instance id (the file's, or 1-based in reading order).
        image_id (int): Id of its :class:`KeypointImage`.
        keypoints (np.ndarray): ``(K, 2)`` float64 ``x, y`` in image pixels;
            0 where unlabelled.
        visibility (np.ndarray): ``(K,)`` int64, COCO's ``v``: 0 unlabelled,
            1 labelled but not visible, 2 labelled and visible.
        bbox (tuple, optional): ``(x1, y1, x2, y2)`` from the file; None
            where the format has none (the dataset derives it from the
            keypoints).
        track (str, optional): Individual / track name.
        category_id (int): Category id. Defaults to 1.
    """
    id: int
    image_id: int
    keypoints: np.ndarray
    visibility: np.ndarray
    bbox: Optional[Tuple[float, float, float, float]] = None
    track: Optional[str] = None
    category_id: int = 1

    @property
    def labelled(self) -> np.ndarray:
        """``(K,)`` bool: which keypoints are labelled."""
        return self.visibility > 0

    @property
    def num_keypoints(self) -> int:
        """Number of labelled keypoints."""
        return int(np.count_nonzero(self.visibility > 0))


@dataclass
class KeypointAnnotations:
    """A validated keypoint annotation file of any format.

    Attributes:
        path (str): The file (or project folder) read, named in messages.
        format (str): ``'deeplabcut'``, ``'sleap'`` or ``'coco'``.
        keypoint_names (tuple[str]): The K keypoint names, in order.
        skeleton (tuple): Links as 0-based ``(i, j)`` index pairs.
        images (list[KeypointImage]): In reading order.
        instances (list[KeypointInstance]): In reading order.
        flip_pairs (tuple, optional): Symmetric keypoints ``(i, j)`` stated
            by the file (SLEAP's symmetries); None where the format has no
            such field.
        categories (list[dict]): ``{'id', 'name'}`` per category.
        notes (list[str]): What the reader left out (e.g. DeepLabCut's
            unique body parts, SLEAP's predicted instances), for the
            dataset's summary.
    """
    path: str
    format: str
    keypoint_names: Tuple[str, ...]
    skeleton: Tuple[Tuple[int, int], ...]
    images: List[KeypointImage]
    instances: List[KeypointInstance]
    flip_pairs: Optional[Tuple[Tuple[int, int], ...]] = None
    categories: List[Dict] = field(
        default_factory=lambda: [dict(id=1, name='animal')])
    notes: List[str] = field(default_factory=list)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)

    def image_by_id(self) -> Dict[int, KeypointImage]:
        """``{image id: image}``."""
        return {img.id: img for img in self.images}


def instance_from_points(points: np.ndarray, id: int, image_id: int,
                         track: Optional[str] = None
                         ) -> Optional[KeypointInstance]:
    """An instance from ``(K, 2)`` points where NaN marks an unlabelled
    keypoint (DeepLabCut's empty cells, SLEAP's missing points); labelled
    keypoints get ``v = 2``. None when no keypoint is labelled."""
    xy = np.asarray(points, dtype=np.float64)
    labelled = np.isfinite(xy).all(axis=1)
    if not labelled.any():
        return None
    return KeypointInstance(
        id=id, image_id=image_id,
        keypoints=np.where(labelled[:, None], xy, 0.0),
        visibility=np.where(labelled, 2, 0).astype(np.int64),
        track=track)


def check_keypoint_names(names: Sequence, where: str) -> Tuple[str, ...]:
    """A keypoint name list: non-empty strings, none used twice.

    Args:
        names (Sequence[str]): The names as the file lists them.
        where (str): ``'<file>: <field>'`` for messages.

    Returns:
        tuple[str]: The names.

    Raises:
        KeypointFormatError: Empty list, a name that is not a non-empty
            string, or a name used twice.
    """
    if not isinstance(names, (list, tuple)) or not names:
        raise KeypointFormatError(
            f'{where}: expected a non-empty list of keypoint names, got '
            f'{names!r}')
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise KeypointFormatError(
            f'{where}: keypoint names must be non-empty strings, got {bad!r}')
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise KeypointFormatError(
            f'{where}: keypoint name(s) {repeated} used more than once; give '
            'every keypoint its own name')
    return tuple(names)


def skeleton_from_names(links: Sequence, names: Sequence[str], where: str,
                        ignore: Sequence[str] = ()
                        ) -> Tuple[Tuple[int, int], ...]:
    """Skeleton links given by keypoint names as 0-based index pairs.

    Args:
        links (Sequence): ``[[name_a, name_b], ...]``.
        names (Sequence[str]): The keypoint names.
        where (str): For messages.
        ignore (Sequence[str]): Names whose links are dropped silently
            (e.g. DeepLabCut's unique body parts).

    Raises:
        KeypointFormatError: A link that is not a pair or names an unknown
            keypoint.
    """
    index = {n: i for i, n in enumerate(names)}
    out = []
    for k, link in enumerate(links or ()):
        if not isinstance(link, (list, tuple)) or len(link) != 2:
            raise KeypointFormatError(
                f'{where}[{k}]: a skeleton link is a pair of keypoint names, '
                f'got {link!r}')
        if any(n in ignore for n in link):
            continue
        unknown = [n for n in link if n not in index]
        if unknown:
            raise KeypointFormatError(
                f'{where}[{k}]: {unknown} in link {list(link)} is not a '
                f'keypoint ({list(names)}); fix the link or the keypoint '
                'names')
        out.append((index[link[0]], index[link[1]]))
    return tuple(out)


def locate_image(root: str, file_name: str, where: str,
                 need_size: bool = True
                 ) -> Tuple[str, Optional[Tuple[int, int]]]:
    """Path and ``(width, height)`` of an image the annotations refer to.

    Args:
        root (str): Folder relative file names are resolved against.
        file_name (str): The image as the file names it.
        where (str): ``'<file>: row 7'`` for messages.
        need_size (bool): Read the image header for its size.

    Raises:
        KeypointFormatError: The image does not exist (or, with
            ``need_size``, cannot be read).
    """
    path = file_name if osp.isabs(file_name) else osp.join(root, file_name)
    if not osp.isfile(path):
        raise KeypointFormatError(
            f'{where}: image {file_name!r} not found (looked for {path}); '
            'restore the image or remove its row/entry')
    if not need_size:
        return path, None
    size = read_image_size(path)
    if size is None:
        raise KeypointFormatError(
            f'{where}: image {file_name!r} ({path}) cannot be read as an '
            'image; replace the file or remove its row/entry')
    return path, size


def bbox_from_keypoints(keypoints: np.ndarray,
                        labelled: np.ndarray,
                        margin: float = 0.1,
                        min_size: float = 16.0,
                        image_size: Optional[Tuple[int, int]] = None
                        ) -> Tuple[float, float, float, float]:
    """Box around the labelled keypoints, padded by a margin.

    The tight box of the labelled keypoints grows by ``margin * max(w, h)``
    on every side; a box still smaller than ``min_size`` along an axis grows
    symmetrically to ``min_size`` (so one or two labelled keypoints still
    give a usable box). With ``image_size`` the box is clipped to the image.

    Args:
        keypoints (np.ndarray): ``(K, 2)`` pixel coordinates.
        labelled (np.ndarray): ``(K,)`` bool, at least one True.
        margin (float): Padding on each side as a fraction of the larger
            side of the tight box. Defaults to 0.1.
        min_size (float): Smallest side in pixels. Defaults to 16.
        image_size (tuple, optional): ``(width, height)`` to clip to.

    Returns:
        tuple: ``(x1, y1, x2, y2)``.
    """
    pts = np.asarray(keypoints, dtype=np.float64)[np.asarray(labelled, bool)]
    if not len(pts):
        raise ValueError('bbox_from_keypoints: no labelled keypoint')
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * float((hi - lo).max())
    lo, hi = lo - pad, hi + pad
    grow = np.maximum(min_size - (hi - lo), 0.0) / 2
    lo, hi = lo - grow, hi + grow
    if image_size is not None:
        lo = np.maximum(lo, 0.0)
        hi = np.minimum(hi, np.asarray(image_size, dtype=np.float64))
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


@contextmanager
def atomic_output() -> Iterator['_AtomicFiles']:
    """Write several files all-or-nothing.

    Inside the block, :meth:`_AtomicFiles.write` puts each file's content in
    a temporary file beside its target; when the block ends without an
    error every temporary file replaces its target, otherwise they are all
    removed and no target is touched::

        with atomic_output() as out:
            out.write('a/config.yaml', text)
            out.write('a/labeled-data/v1/CollectedData_me.csv', csv_text)
    """
    files = _AtomicFiles()
    try:
        yield files
    except BaseException:
        files.discard()
        raise
    files.commit()


class _AtomicFiles:
    """Temporary files waiting to replace their targets."""

    def __init__(self) -> None:
        self._pending: List[Tuple[str, str]] = []

    def temp_path(self, path: str) -> str:
        """A new temporary file beside ``path`` that replaces it on commit
        (for writers that need a file name, e.g. sleap-io's, which reads
        the format from the extension)."""
        ext = next((suffix for suffix in ('.pkg.slp', '.slp', '.h5')
                    if path.endswith(suffix)), '')
        tmp = reserve_temp_path(path, TEMP_SUFFIX + ext)
        self._pending.append((tmp, path))
        return tmp

    def write(self, path: str, content: Union[str, bytes]) -> None:
        """Stage ``content`` (text is written as UTF-8) for ``path``."""
        tmp = self.temp_path(path)
        mode = 'wb' if isinstance(content, bytes) else 'w'
        kwargs = {} if isinstance(content, bytes) else dict(
            encoding='utf-8', newline='')
        with open(tmp, mode, **kwargs) as f:
            f.write(content)

    def commit(self) -> None:
        for tmp, path in self._pending:
            commit_temp_path(tmp, path)
        self._pending = []

    def discard(self) -> None:
        for tmp, _ in self._pending:
            discard_temp_path(tmp)
        self._pending = []
