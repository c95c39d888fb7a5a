"""Keep the decoded training images on the model's device."""
from typing import Dict, Iterator, List, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmpose.registry import HOOKS


def _datasets(dataset) -> Iterator:
    """The dataset and those it wraps (Concat/Repeat/ClassBalanced)."""
    yield dataset
    for inner in getattr(dataset, 'datasets', None) or ():
        yield from _datasets(inner)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        yield from _datasets(inner)


@HOOKS.register_module()
class CustomPoseDeviceImageCacheHook(Hook):
    """Cache the decoded training images on the model's device.

    Before training it gives every image of the training dataset a slot,
    creates the flags the data-loader workers read (shared memory) and
    attaches a :class:`~custom_pose.models.data_preprocessors.DeviceImageCache`
    to the model's ``CustomPoseTopdownDataPreprocessor`` and the slots to the
    pipeline's ``CustomPoseLoadImage``. The first epoch fills the cache;
    after that the workers send annotations only. Animal-Pose decoded is
    about 2.6 GB.

    Args:
        max_size_gb (float): Most GiB of pixels to keep (on a GPU also at
            most half its free memory); images beyond it keep being loaded
            each epoch. Defaults to 8.
        device_types (Sequence[str]): Device types on which the cache is on.
            Defaults to ``('cuda',)``: off on the CPU, where the images are
            in host memory either way and the workers decode in parallel.
    """

    priority = 'NORMAL'

    def __init__(self,
                 max_size_gb: float = 8.0,
                 device_types: Sequence[str] = ('cuda', )) -> None:
        if not max_size_gb > 0:
            raise ValueError(f'max_size_gb must be > 0, got {max_size_gb!r}')
        self.max_bytes = int(max_size_gb * 2**30)
        self.device_types = tuple(device_types)

    def before_train(self, runner) -> None:
        from custom_pose.datasets.transforms import CustomPoseLoadImage
        from custom_pose.models.data_preprocessors import (
            CustomPoseTopdownDataPreprocessor, DeviceImageCache)

        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        preprocessor = model.data_preprocessor
        if not isinstance(preprocessor, CustomPoseTopdownDataPreprocessor):
            raise ValueError(
                'CustomPoseDeviceImageCacheHook needs the model to use '
                'CustomPoseTopdownDataPreprocessor, got '
                f'{type(preprocessor).__name__}')
        device = preprocessor.device
        if device.type not in self.device_types:
            print_log(
                f'Device image cache off on {device.type} (on for: '
                f'{", ".join(self.device_types)}).', logger='current')
            return
        loaders: List[CustomPoseLoadImage] = []
        slot_of: Dict[str, int] = {}
        for dataset in _datasets(runner.train_dataloader.dataset):
            pipeline = getattr(dataset, 'pipeline', None)
            found = [
                t for t in getattr(pipeline, 'transforms', ())
                if isinstance(t, CustomPoseLoadImage)
            ]
            if not found:
                continue
            loaders += found
            dataset.full_init()
            for i in range(len(dataset)):
                path = dataset.get_data_info(i)['img_path']
                slot_of.setdefault(path, len(slot_of))
        if not loaders:
            raise ValueError(
                'CustomPoseDeviceImageCacheHook: the training pipeline has no '
                "CustomPoseLoadImage; use dict(type='CustomPoseLoadImage') "
                "in place of 'LoadImage'")
        flags = torch.zeros(len(slot_of), dtype=torch.uint8).share_memory_()
        for loader in loaders:
            loader.attach_image_cache(slot_of, flags)
        max_bytes = self.max_bytes
        if device.type == 'cuda':  # leave room for training
            free, _ = torch.cuda.mem_get_info(device)
            max_bytes = min(max_bytes, free // 2)
        preprocessor.image_cache = DeviceImageCache(flags, max_bytes, device)
        print_log(
            f'Device image cache on {device}: {len(slot_of)} images, up to '
            f'{max_bytes / 2**30:.1f} GiB; filled during the first epoch.',
            logger='current')
