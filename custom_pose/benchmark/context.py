# Copyright (c) custom_pose contributors. All rights reserved.
"""The settings of a benchmark run (:class:`Options`) and the state its
sections share (:class:`BenchmarkContext`: configs, the synthetic dataset,
batches, FLOP counts), with the dataset helpers behind them.

Every path comes in through :class:`Options` (``config_dir``, ``out_dir``,
``data_root``): the package never looks for a checkout.
"""
import copy
import os.path as osp
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .specs import (DEFAULT_MODELS, MODEL_SPECS, build_model,
                    count_params_flops, input_size_of, load_model_config,
                    model_cfg_for)


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def ensure_synthetic_data(root: str, num_images: int,
                          image_size: Tuple[int, int]) -> str:
    """Generate (once) a synthetic Animal-Pose dataset under ``root``."""
    from custom_pose.datasets.synthetic import generate_synthetic_animalpose
    stamp = osp.join(root, f'.benchmark_{num_images}_{image_size[0]}x'
                     f'{image_size[1]}')
    if not osp.exists(stamp):
        generate_synthetic_animalpose(
            root, num_images=num_images, seed=0, image_size=image_size,
            with_clip=False)
        Path(stamp).touch()
    return root


def build_dataset(cfg, data_root: str, pipeline: Sequence[dict]):
    """Our dataset (all images of ``data_root``) with ``pipeline``."""
    from mmengine.registry import init_default_scope

    from mmpose.registry import DATASETS
    init_default_scope('mmpose')
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(
        data_root=data_root, split='all', pipeline=list(pipeline),
        test_mode=False)
    for key in ('split_ratio', 'split_seed'):
        ds_cfg.pop(key, None)
    return DATASETS.build(ds_cfg)


def make_batch(dataset, n: int) -> dict:
    """``n`` samples (cycling through the dataset) collated as the
    dataloader does."""
    from mmengine.dataset import pseudo_collate
    samples = [dataset[i % len(dataset)] for i in range(n)]
    return pseudo_collate(samples)


def val_pipeline(cfg) -> list:
    return list(cfg.val_dataloader.dataset.pipeline)


def train_pipeline(cfg) -> list:
    return list(cfg.train_dataloader.dataset.pipeline)


def fit_pipeline(cfg) -> list:
    """The test pipeline with ``GenerateTarget`` before ``PackPoseInputs``:
    test-time crops that carry their target heatmaps."""
    pipeline = val_pipeline(cfg)
    pack = [i for i, t in enumerate(pipeline)
            if t['type'] == 'PackPoseInputs']
    at = pack[0] if pack else len(pipeline)
    pipeline.insert(at, dict(type='GenerateTarget',
                             encoder=copy.deepcopy(cfg.model.head.decoder)))
    return pipeline


# ---------------------------------------------------------------------------
# options and context
# ---------------------------------------------------------------------------
@dataclass
class Options:
    """Settings of one benchmark run (see the command line for help)."""
    #: the sections to run, by registered name (None: every default one)
    sections: Optional[Tuple[str, ...]] = None
    device: str = 'cpu'
    iters: int = 3
    warmup: int = 1
    threads: Optional[int] = None
    fast_paths: bool = False
    compile: bool = False
    out_dir: str = 'work_dirs/benchmark'
    quick: bool = False
    models: Optional[Tuple[str, ...]] = None
    train_variants: Optional[Tuple[str, ...]] = None
    infer_variants: Optional[Tuple[str, ...]] = None
    train_batch: int = 8
    infer_batches: Tuple[int, ...] = (1, 32)
    flip_modes: Tuple[bool, ...] = (False, True)
    data_workers: Tuple[int, ...] = (0, 1, 2)
    data_batch: int = 16
    data_batches: int = 8
    data_images: int = 64
    data_image_size: Tuple[int, int] = (256, 256)
    video_frames: int = 64
    video_size: Tuple[int, int] = (640, 480)
    video_batch: int = 16
    video_repeats: int = 3
    #: train-e2e: timed iterations, untimed ones first (at least 1), batch,
    #: data-loader workers (None: min(12, cores)), paths, mixed precision
    e2e_iters: int = 20
    e2e_warmup: int = 5
    e2e_batch: int = 64
    e2e_workers: Optional[int] = None
    e2e_paths: Tuple[str, ...] = ('mmpose', 'ours', 'ours_gpuaug')
    e2e_amp: bool = False
    #: samples per path of the input-path cost table (train-e2e; 0: none)
    input_path_samples: int = 64
    cudnn_benchmark: bool = False
    min_time: float = 2.0
    check_images: int = 4
    fit_steps: int = 300
    profile: bool = False
    #: before each measurement, wait until other processes use fewer cores
    #: than this (None: do not wait)
    wait_quiet: Optional[float] = None
    #: the folder of the configs (``configs/`` of a checkout); required
    config_dir: Optional[str] = None
    #: where the synthetic dataset is generated (once) and read; default
    #: ``<out_dir>/synthetic_data``
    data_root: Optional[str] = None
    video_checkpoint: Optional[str] = None
    #: model name -> checkpoint of ours for the infer section's checks
    #: (instead of fitting the heatmap tail)
    checkpoints: Optional[Dict[str, str]] = None
    seed: int = 0

    #: fields set explicitly (e.g. on the command line): ``--quick`` keeps
    #: them
    explicit: Tuple[str, ...] = ()

    def apply_quick(self) -> None:
        """Tiny settings (structure checks, not timings), except for the
        fields named in :attr:`explicit`."""
        quick = dict(
            iters=1,
            warmup=0,
            min_time=0.0,
            train_batch=2,
            infer_batches=(1, 2),
            data_workers=(0, 1),
            data_batch=2,
            data_batches=2,
            data_images=4,
            data_image_size=(96, 96),
            video_frames=4,
            video_size=(96, 64),
            video_batch=2,
            video_repeats=1,
            e2e_iters=2,
            e2e_warmup=1,
            e2e_batch=2,
            e2e_workers=0,
            input_path_samples=4,
            check_images=2,
            fit_steps=30,
            models=('res18_128', ))
        for key, value in quick.items():
            if key not in self.explicit:
                setattr(self, key, value)

    def models_for(self, section: str,
                   with_counterpart: bool = False) -> Tuple[str, ...]:
        """The models ``section`` runs: ``models`` if set, else the
        section's :data:`~.specs.DEFAULT_MODELS`; with
        ``with_counterpart``, only those that have an mmpose counterpart.

        Raises:
            ValueError: For a name not in :data:`~.specs.MODEL_SPECS`.
        """
        if self.models is not None:
            names = self.models
        else:
            names = DEFAULT_MODELS[section]
        unknown = [n for n in names if n not in MODEL_SPECS]
        if unknown:
            raise ValueError(f'unknown model(s) {unknown}; known: '
                             f'{sorted(MODEL_SPECS)}')
        if with_counterpart:
            names = tuple(n for n in names
                          if MODEL_SPECS[n].mmpose_backbone is not None)
        return tuple(names)


class BenchmarkContext:
    """Shared state of a run: options, caches of configs and datasets.

    Args:
        opts (Options): The run's settings; ``opts.config_dir`` is
            required.

    Creating one sets mmpose's default scope.

    Raises:
        ValueError: If ``opts.config_dir`` is not set.
        FileNotFoundError: If it is not a folder.
    """

    def __init__(self, opts: Options) -> None:
        if not opts.config_dir:
            raise ValueError('Options.config_dir: give the folder of the '
                             'configs (configs/ of a checkout)')
        self.opts = opts
        self.config_dir = Path(opts.config_dir)
        if not self.config_dir.is_dir():
            raise FileNotFoundError(
                f'config folder not found: {self.config_dir}')
        self.out_dir = Path(opts.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # the sections build registered modules by name (our dataset too,
        # also through mmengine's dataloader builder), as mmengine's Runner
        # does with ``default_scope='mmpose'``
        from mmengine.registry import init_default_scope
        init_default_scope('mmpose')
        self._cache: Dict[str, Any] = {}
        self._data_root: Optional[str] = None
        self.log_lines: List[str] = []

    def log(self, msg: str) -> None:
        line = f'[benchmark {time.strftime("%H:%M:%S")}] {msg}'
        self.log_lines.append(line)
        print(line, file=sys.stderr, flush=True)

    def cfg(self, name: str):
        """Our config of model ``name`` (loaded once)."""
        key = f'cfg/{name}'
        if key not in self._cache:
            self._cache[key] = load_model_config(MODEL_SPECS[name],
                                                 self.config_dir)
        return self._cache[key]

    @property
    def data_root(self) -> str:
        """The synthetic dataset (generated on first use)."""
        if self._data_root is None:
            o = self.opts
            root = str(o.data_root or self.out_dir / 'synthetic_data')
            self.log(f'synthetic data: {o.data_images} images of '
                     f'{o.data_image_size[0]}x{o.data_image_size[1]} in '
                     f'{root}')
            self._data_root = ensure_synthetic_data(root, o.data_images,
                                                    o.data_image_size)
        return self._data_root

    def gflops(self, name: str, side: str) -> float:
        """GFLOPs of one side's model at its config's input size."""
        key = f'gflops/{name}/{side}'
        if key not in self._cache:
            cfg = self.cfg(name)
            w, h = input_size_of(cfg)
            model = build_model(
                model_cfg_for(MODEL_SPECS[name], side, cfg), 'cpu',
                self.opts.seed)
            self._cache[key] = count_params_flops(model, (h, w))[1]
        return self._cache[key]

    def work_ratio(self, name: str) -> float:
        """GFLOPs of ours / GFLOPs of mmpose's model (1 for the same
        architecture)."""
        return self.gflops(name, 'ours') / self.gflops(name, 'mmpose')

    def check_batch(self, name: str) -> dict:
        """The crops the fast paths are checked on (with targets)."""
        key = f'check/{name}'
        if key not in self._cache:
            cfg = self.cfg(name)
            dataset = build_dataset(cfg, self.data_root, fit_pipeline(cfg))
            self._cache[key] = make_batch(dataset, self.opts.check_images)
        return self._cache[key]

    def batch(self, name: str, n: int, train: bool) -> dict:
        """``n`` samples of the synthetic dataset through the config's
        training (``train``) or test pipeline, collated."""
        cfg = self.cfg(name)
        pipeline = train_pipeline(cfg) if train else val_pipeline(cfg)
        dataset = build_dataset(cfg, self.data_root, pipeline)
        return make_batch(dataset, n)
