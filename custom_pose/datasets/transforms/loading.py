# Copyright (c) custom_pose contributors. All rights reserved.
"""Image loading that skips images the model's device already holds."""
from typing import Dict, Optional

from torch import Tensor

from mmpose.datasets.transforms import LoadImage
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CustomPoseLoadImage(LoadImage):
    """mmpose's ``LoadImage``, aware of the device image cache.

    Without a cache attached it is ``LoadImage`` (and adds
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
        return super().transform(results)
