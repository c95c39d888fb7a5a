"""Annotation files on disk: JSON read with one-line errors (a key given
twice is an error), JSON written all-or-nothing, and an image's size from
its header. Every reader of the package (the Animal-Pose release, COCO
files, the dataset converters) uses them."""
import json
import os.path as osp
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from custom_pose.errors import CustomPoseError
from custom_pose.utils.atomic_io import write_text_atomic

__all__ = ['AnimalPoseFormatError', 'load_json', 'dump_json',
           'is_number', 'read_image_size']


class AnimalPoseFormatError(CustomPoseError, ValueError):
    """An annotation file does not follow the expected format.

    The message always starts with the offending file and, where there is
    one, names the entry (e.g. ``annotations[3] (image_id=7)``).
    """


class _DuplicateKey(ValueError):
    """A JSON object that gives one key twice (raised while decoding)."""

    def __init__(self, key: str, first: Any, second: Any) -> None:
        super().__init__(key)
        self.key, self.first, self.second = key, first, second


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """``object_pairs_hook`` refusing a key given twice in one object (the
    json module would keep the last value silently)."""
    obj: Dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key, obj[key], value)
        obj[key] = value
    return obj


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def load_json(path: str) -> Any:
    """Read a JSON file, turning syntax errors into
    :class:`AnimalPoseFormatError` naming the file and position.

    A key given twice in one object is an error too (the json module keeps
    the last value): in ``"images"`` that is one image id for two files,
    which would put one image's labels on the other's pixels.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: annotation file does not exist')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise AnimalPoseFormatError(
            f'{path}: malformed JSON: {e.msg} (line {e.lineno}, column '
            f'{e.colno})') from None
    except _DuplicateKey as e:
        lines = [
            text.count('\n', 0, m.start()) + 1 for m in re.finditer(
                re.escape(json.dumps(e.key)) + r'\s*:', text)
        ]
        at = f' (lines {", ".join(map(str, lines[:4]))})' if len(
            lines) > 1 else ''
        # the release's "images": {"<id>": "<file>"}
        image_ids = e.key.isdigit() and isinstance(e.first, str) and \
            isinstance(e.second, str)
        raise AnimalPoseFormatError(
            f'{path}: key {json.dumps(e.key)} is given twice in one object'
            f'{at}, first as {_short(e.first)}, then as {_short(e.second)}; '
            'JSON keeps only the last one.' +
            (' In "images" this is one image id for two files: give every '
             'image its own id' if image_ids else '')) from None


def dump_json(obj: Any, path: str, indent: Optional[int] = None) -> str:
    """Write ``obj`` as JSON all-or-nothing.

    The data is serialised first and written to a temporary file in the
    target folder which then replaces ``path``
    (:func:`~custom_pose.utils.atomic_io.write_text_atomic`), so a failure
    never leaves a truncated file behind; the file gets the usual
    permissions (``0644`` under a ``022`` umask).

    Returns:
        str: ``path``.
    """
    return write_text_atomic(path, json.dumps(obj, indent=indent))


def is_number(x: Any) -> bool:
    """Whether a JSON value is a finite number (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and \
        bool(np.isfinite(x))


def read_image_size(path: str) -> Optional[Tuple[int, int]]:
    """``(width, height)`` of an image file from its header, None if it
    cannot be read."""
    try:
        from PIL import Image
        with Image.open(path) as img:
            return int(img.size[0]), int(img.size[1])
    except Exception:  # noqa: BLE001 - fall back to OpenCV
        import cv2
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is None:
            return None
        return int(img.shape[1]), int(img.shape[0])
