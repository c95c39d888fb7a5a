# Copyright (c) custom_pose contributors. All rights reserved.
"""Section ``data``: samples/s of the training data pipeline on the
synthetic dataset for each number of workers (mmengine's dataloader, as the
Runner builds it), and the time per sample of each transform."""
import copy
import time
from typing import List

from ..context import BenchmarkContext, build_dataset, train_pipeline
from ..specs import input_size_of
from ..timing import wait_quiet
from .base import register_section


def _transform_profile(dataset, num_samples: int) -> List[dict]:
    """Milliseconds per sample of each transform of the pipeline."""
    transforms = dataset.pipeline.transforms
    totals = [0.0] * len(transforms)
    for i in range(num_samples):
        results = dataset.get_data_info(i % len(dataset))
        for j, t in enumerate(transforms):
            t0 = time.perf_counter()
            results = t(results)
            totals[j] += time.perf_counter() - t0
    return [
        dict(transform=type(t).__name__, ms_per_sample=1e3 * s / num_samples)
        for t, s in zip(transforms, totals)
    ]


def run_data_section(ctx: BenchmarkContext) -> dict:
    from mmengine.runner import Runner
    o = ctx.opts
    name = o.models_for('data')[0]
    cfg = ctx.cfg(name)
    rows = []
    for workers in o.data_workers:
        ctx.log(f'data {name} workers {workers}')
        busy = wait_quiet(o.wait_quiet, ctx.log)
        loader_cfg = dict(
            batch_size=o.data_batch,
            num_workers=workers,
            persistent_workers=workers > 0,
            sampler=dict(type='InfiniteSampler', shuffle=True, seed=o.seed),
            dataset=dict(
                copy.deepcopy(cfg.train_dataloader.dataset),
                data_root=ctx.data_root,
                split='all'))
        for key in ('split_ratio', 'split_seed'):
            loader_cfg['dataset'].pop(key, None)
        loader = Runner.build_dataloader(loader_cfg, seed=o.seed)
        t0 = time.perf_counter()
        it = iter(loader)
        next(it)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(o.data_batches):
            next(it)
        elapsed = time.perf_counter() - t0
        del it, loader
        rows.append(
            dict(
                workers=workers,
                batch=o.data_batch,
                batches=o.data_batches,
                first_batch_s=first,
                samples_per_s=o.data_batch * o.data_batches / elapsed,
                foreign_load_before=busy))
        ctx.log(f'  {rows[-1]["samples_per_s"]:.1f} samples/s')
    dataset = build_dataset(cfg, ctx.data_root, train_pipeline(cfg))
    profile = _transform_profile(dataset, max(o.data_batch, 4))
    return dict(
        model=name,
        input=list(input_size_of(cfg)),
        images=o.data_images,
        image_size=list(o.data_image_size),
        rows=rows,
        transform_profile=profile)


def render_data_section(d: dict, number: int) -> List[str]:
    """The section's Markdown tables: samples/s per number of workers, and
    milliseconds per sample of each transform."""
    lines = [
        '', f'### {number}. Training data pipeline ({d["model"]} pipeline, '
        f'{d["input"][0]}x{d["input"][1]} crops, synthetic '
        f'{d["image_size"][0]}x{d["image_size"][1]} images)', '',
        '| workers | batch | samples/s | first batch s |', '|---|---|---|---|'
    ]
    for r in d['rows']:
        lines.append(f'| {r["workers"]} | {r["batch"]} | '
                     f'{r["samples_per_s"]:.1f} | '
                     f'{r["first_batch_s"]:.2f} |')
    lines += ['', '| transform | ms / sample |', '|---|---|']
    for t in d['transform_profile']:
        lines.append(f'| {t["transform"]} | {t["ms_per_sample"]:.2f} |')
    return lines


register_section('data', run_data_section, render=render_data_section)
