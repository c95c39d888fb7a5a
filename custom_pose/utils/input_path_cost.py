"""Per-sample CPU cost of the two training input paths.

- ``cpu_pipeline``: mmpose's whole training pipeline in one process (decode,
  flip, half-body, box transform, ``cv2.warpAffine``, heatmap encoding,
  packing): what each data-loader worker does per sample with a stock
  config.
- ``load_only``: the pipeline of a ``_gpuaug`` config (decode, box -> centre
  and scale, pack) plus its collate: what each worker does per sample there.
- ``load_only_cached``: the same once the device image cache holds every
  image (from the second epoch): the annotation only, no file read.
- ``device_augment``: that config's data preprocessor on collated batches
  (copy to the device, augmentation, crops, heatmaps, normalisation) on
  ``device``: the cost moved off the workers, per sample.

Samples/s of the first two are per worker process (0 workers: everything in
this process, ``threads`` threads); a data loader with ``n`` workers
reaches at most ``n`` times that.
"""
import copy
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope


def _timed(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _dataset(cfg: Config, data_root: Optional[str]):
    from mmpose.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    if data_root is not None:
        dataset_cfg.data_root = data_root
    return DATASETS.build(dataset_cfg)


def measure_input_path_cost(stock_config: str,
                            gpuaug_config: str,
                            data_root: Optional[str] = None,
                            num_samples: int = 64,
                            batch_size: int = 32,
                            device: str = 'cpu',
                            threads: int = 1,
                            repeats: int = 3) -> Dict[str, dict]:
    """Time both input paths on the same samples.

    Args:
        stock_config (str): Config with mmpose's CPU training pipeline.
        gpuaug_config (str): Its ``_gpuaug`` counterpart.
        data_root (str, optional): Overrides both configs' training data.
        num_samples (int): Samples timed per path. Defaults to 64.
        batch_size (int): Batch size of the device augmentation.
        device (str): Where the device augmentation runs. Defaults to cpu.
        threads (int): torch and OpenCV threads. Defaults to 1 (the cost on
            one core, as in a data-loader worker).
        repeats (int): Timed repeats; the best counts. Defaults to 3.

    Returns:
        dict: Per path ``samples_per_s`` and ``ms_per_sample``, plus
        ``setup`` (the arguments and the machine's view of them).
    """
    import cv2

    import custom_pose  # noqa: F401  (registers the transforms)

    init_default_scope('mmpose')
    saved_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads if threads > 1 else 0)
    try:
        return _measure(stock_config, gpuaug_config, data_root, num_samples,
                        batch_size, device, threads, repeats)
    finally:  # the caller's thread settings (e.g. the benchmark's)
        torch.set_num_threads(saved_threads[0])
        cv2.setNumThreads(saved_threads[1])


def _measure(stock_config: str, gpuaug_config: str, data_root: Optional[str],
             num_samples: int, batch_size: int, device: str, threads: int,
             repeats: int) -> Dict[str, dict]:
    from mmengine.registry import FUNCTIONS

    from mmpose.registry import MODELS

    stock = Config.fromfile(stock_config)
    gpuaug = Config.fromfile(gpuaug_config)
    stock_ds = _dataset(stock, data_root)
    raw_ds = _dataset(gpuaug, data_root)
    indices = [i % len(stock_ds) for i in range(num_samples)]
    collate_cfg = copy.deepcopy(gpuaug.train_dataloader.collate_fn)
    collate = FUNCTIONS.get(collate_cfg.pop('type'))

    def cpu_pipeline():
        for i in indices:
            stock_ds[i]

    def load_only():
        samples = [raw_ds[i] for i in indices]
        for start in range(0, len(samples), batch_size):
            collate(samples[start:start + batch_size])

    preprocessor = MODELS.build(gpuaug.model.data_preprocessor).to(device)
    samples = [raw_ds[i] for i in indices]
    batches: List[dict] = [
        collate(samples[s:s + batch_size])
        for s in range(0, len(samples), batch_size)
    ]

    def device_augment():
        for batch in batches:
            preprocessor(batch, training=True)
        if torch.device(device).type == 'cuda':
            torch.cuda.synchronize()

    def load_only_cached():
        from custom_pose.datasets.transforms import CustomPoseLoadImage
        loaders = [t for t in raw_ds.pipeline.transforms
                   if isinstance(t, CustomPoseLoadImage)]
        paths = {raw_ds.get_data_info(i)['img_path'] for i in indices}
        slot_of = {p: i for i, p in enumerate(sorted(paths))}
        for loader in loaders:  # every image "on the device"
            loader.attach_image_cache(
                slot_of, torch.ones(len(slot_of), dtype=torch.uint8))
        try:
            return _timed(load_only, repeats)
        finally:
            for loader in loaders:
                loader.attach_image_cache(None, None)

    results = {}
    timings = dict(
        cpu_pipeline=_timed(cpu_pipeline, repeats),
        load_only=_timed(load_only, repeats),
        load_only_cached=load_only_cached(),
        device_augment=_timed(device_augment, repeats))
    for name, seconds in timings.items():
        results[name] = dict(
            samples_per_s=num_samples / seconds,
            ms_per_sample=1000 * seconds / num_samples)
    first = raw_ds[0]['inputs']
    results['setup'] = dict(
        stock_config=stock_config,
        gpuaug_config=gpuaug_config,
        num_samples=num_samples,
        batch_size=batch_size,
        device=device,
        threads=threads,
        image_shape=list(first.shape) if first is not None else None,
        input_size=list(gpuaug.codec['input_size']))
    return results
