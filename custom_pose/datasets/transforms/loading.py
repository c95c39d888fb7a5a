# Copyright (c) custom_pose contributors. All rights reserved.
"""Image loading that names the file it cannot load, and skips images the
model's device already holds."""
import os
import os.path as osp
from typing import Dict, Optional

from torch import Tensor

from mmpose.datasets.transforms import LoadImage
from mmpose.registry import TRANSFORMS

from custom_pose.errors import CustomPoseError

__all__ = ['CustomPoseLoadImage', 'ImageLoadError', 'image_load_problem']


class ImageLoadError(CustomPoseError, OSError):
    """An image file that is missing, unreadable or does not decode."""


def image_load_problem(path: str) -> str:
    """What is wrong with an image file that did not load, in words:
    ``'image file x.jpg exists (120 bytes) but does not decode as an image
    (truncated or not an image file)'``."""
    if not osp.exists(path):
        return f'image file not found: {path}'
    if not os.access(path, os.R_OK):
        return f'image file {path} cannot be read (permissions)'
    size = osp.getsize(path)
    if size == 0:
        return f'image file {path} is empty (0 bytes)'
    return (f'image file {path} exists ({size} bytes) but does not decode '
            'as an image (truncated or not an image file)')


@TRANSFORMS.register_module()
class CustomPoseLoadImage(LoadImage):
    """mmpose's ``LoadImage`` that names the file it cannot load, aware of
    the device image cache.

    An image that is missing, empty or does not decode raises
    :class:`ImageLoadError` saying which file and what is wrong with it
    (mmpose's ``LoadImage`` asks to "check whether the file exists" also for
    a file that exists); with ``ignore_empty=True`` the transform returns
    None instead. The package's datasets skip such training samples with a
    warning when built with ``skip_undecodable=True``
    (:class:`~custom_pose.datasets.validation.SkipUndecodableMixin`).

    Without a cache attached it is otherwise ``LoadImage`` (and adds
    ``cache_slot=-1``). :class:`~custom_pose.engine.hooks.
    CustomPoseDeviceImageCacheHook` attaches one before the data-loader
    workers start: each image path gets a slot, and once the data
    preprocessor has the slot's image on the device (its flag is set in
    shared memory) this transform neither reads nor decodes the file; it
    sets ``img=None`` and the sample carries only its annotation.

    Args:
        **kwargs: Arguments of mmpose's ``LoadImage``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._slot_of: Optional[Dict[str, int]] = None
        self._cached: Optional[Tensor] = None

    def attach_image_cache(self, slot_of: Optional[Dict[str, int]],
                           cached_flags: Optional[Tensor]) -> None:
        """Use the cache's slots (image path -> slot) and its flags
        (``(N,)`` uint8 in shared memory, 1 = on the device); ``None``
        detaches."""
        self._slot_of = slot_of
        self._cached = cached_flags

    def transform(self, results: dict) -> Optional[dict]:
        slot = -1
        if self._slot_of is not None:
            slot = self._slot_of.get(results.get('img_path'), -1)
        results['cache_slot'] = slot
        if slot >= 0 and self._cached[slot]:
            results['img'] = None
            return results
        path = results.get('img_path')
        if results.get('img') is not None or path is None:
            return super().transform(results)  # an image given as an array
        try:
            return super().transform(results)
        except Exception:  # noqa: BLE001 - mmcv/OpenCV raise several types
            if self.ignore_empty:
                return None
            raise ImageLoadError(
                image_load_problem(path) + '; replace the file or remove its '
                'annotations, or set skip_undecodable=True on the training '
                'dataset to skip such images with a warning') from None
