#!/usr/bin/env python
"""Is our hourglass slower than mmpose's HourglassNet because of its design?

The benchmark (``benchmark.py``) finds our 8-stack Stacked Hourglass about
half as fast to train as mmpose's ``HourglassNet`` + ``CPMHead`` of the same
FLOPs. This study times the training step (forward + backward + the config's
optimizer, batch of the synthetic training pipeline) of hourglass designs of
about the same FLOPs, interleaved with mmpose's model, on the same batch,
input size, thread count and numeric path:

- ``newell8``: ours as configured (8 stacks of 256 features, Newell's
  pre-activation bottleneck ``1x1-3x3-1x1``);
- ``basic8``: the same network with every bottleneck of the stacks (not
  of the stem) replaced by a pre-activation basic block (two 3x3 convs),
  at 120 features;
- ``basic2``: 2 stacks of such basic blocks at 240 features;
- ``mmpose``: the benchmark's counterpart (2 stacks of post-activation basic
  blocks, 256 features at 64x64 and 128 below).

Each row has the parameters, GFLOPs at the input size, images/s, the ratio
to mmpose and that ratio weighted by the FLOPs (``ratio_per_flop``: above 1,
the design does more work per second). The basic-block designs exist only
here (they are not registered models).

Example::

    python tools/analysis_tools/hourglass_design_study.py --threads 2
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: design -> (our backbone overrides, residual block: 'bottleneck' | 'basic')
DESIGNS: Dict[str, Tuple[dict, str]] = {
    'newell8': (dict(num_stacks=8, feat_channels=256), 'bottleneck'),
    'basic8': (dict(num_stacks=8, feat_channels=120), 'basic'),
    'basic2': (dict(num_stacks=2, feat_channels=240), 'basic'),
}


class PreActBasicBlock(nn.Module):
    """``BN-ReLU-conv3x3 -> BN-ReLU-conv3x3`` plus the input (a 1x1 conv on
    the skip path when the channels change): the residual block of He et
    al.'s identity mappings, with the in/out channels of the bottleneck it
    replaces."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.skip = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False)
            if in_channels != out_channels else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H, W)."""
        identity = x if self.skip is None else self.skip(x)
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out += identity
        return out


def use_basic_blocks(module: nn.Module) -> int:
    """Replace every ``PreActBottleneck`` under ``module`` by a
    :class:`PreActBasicBlock` with the same in/out channels, in place.

    Returns:
        int: The number of blocks replaced.
    """
    from custom_pose.models.backbones.hourglass import PreActBottleneck
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PreActBottleneck):
                setattr(
                    parent, name,
                    PreActBasicBlock(child.bn1.num_features,
                                     child.conv3.out_channels))
                replaced += 1
    return replaced


def build_designs(cfg, names: List[str], seed: int) -> Dict[str, nn.Module]:
    """Estimators of the designs ``names`` (and ``'mmpose'``) from our
    hourglass config ``cfg`` (same data preprocessor, codec and loss)."""
    from custom_pose import benchmark as bm
    spec = bm.MODEL_SPECS['hourglass8']
    models = {}
    for name in names:
        if name == 'mmpose':
            models[name] = bm.build_model(
                bm.model_cfg_for(spec, 'mmpose', cfg), 'cpu', seed)
            continue
        overrides, block = DESIGNS[name]
        model_cfg = bm.model_cfg_for(spec, 'ours', cfg)
        model_cfg.backbone.update(overrides)
        model = bm.build_model(model_cfg, 'cpu', seed)
        if block == 'basic':
            torch.manual_seed(seed)
            use_basic_blocks(model.backbone.hourglasses)
            use_basic_blocks(model.backbone.stack_residuals)
        models[name] = model
    return models


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Training-step throughput of hourglass designs of about '
        'equal FLOPs against mmpose\'s HourglassNet + CPMHead.')
    parser.add_argument(
        '--designs', default=','.join([*DESIGNS, 'mmpose']),
        help=f'comma-separated subset of {",".join([*DESIGNS, "mmpose"])}')
    parser.add_argument('--paths', default='fp32+cl,bf16+cl',
                        help='numeric paths, e.g. fp32,fp32+cl,bf16+cl')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--out-dir', default='work_dirs/hourglass_study')
    parser.add_argument(
        '--config-dir', default=str(REPO_ROOT / 'configs'),
        help='the configs folder (default: this checkout\'s)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    args.designs = [n.strip() for n in args.designs.split(',') if n.strip()]
    unknown = [n for n in args.designs if n not in DESIGNS and n != 'mmpose']
    if unknown or not args.designs:
        parser.error(f'--designs: unknown {unknown or args.designs}; choose '
                     f'from {[*DESIGNS, "mmpose"]}')
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    from custom_pose import benchmark as bm
    from custom_pose.utils.cli import fail
    prog = Path(__file__).name
    names = args.designs
    try:
        variants = [bm.Variant.parse(p) for p in args.paths.split(',')]
    except ValueError as err:
        fail(prog, f'--paths: {err}')
    if any(v.fuse_bn for v in variants):
        fail(prog, '--paths: BN folding (fuse) is for inference only')
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from custom_pose.errors import InputError
    from custom_pose.utils.cli import check_output_dir
    try:
        check_output_dir(args.out_dir, '--out-dir',
                         [('the configs folder', args.config_dir)])
    except InputError as err:
        fail(prog, str(err))

    try:
        ctx = bm.BenchmarkContext(
            bm.Options(out_dir=args.out_dir, seed=args.seed,
                       config_dir=args.config_dir))
    except (ValueError, OSError) as err:
        fail(prog, str(err))
    cfg = ctx.cfg('hourglass8')
    w, h = bm.input_size_of(cfg)
    data = ctx.batch('hourglass8', args.batch, train=True)

    models = build_designs(cfg, names, args.seed)
    rows = {}
    for name, model in models.items():
        params, gflops = bm.count_params_flops(model, (h, w))
        rows[name] = dict(design=name, params_m=params, gflops=gflops,
                          paths={})
    for variant in variants:
        ctx.log(f'{variant.name}: {", ".join(names)}, batch {args.batch}, '
                f'{w}x{h}')
        fns = {}
        for name, model in models.items():
            # prepare_model returns a copy: every path starts from the same
            # weights
            model = bm.prepare_model(model, variant, train=True)
            fns[name] = bm.train_step_fn(
                model, bm.optim_wrapper_for(model, variant, 'cpu', cfg), data)
        times = bm.time_interleaved(fns, args.iters, args.warmup)
        del fns
        for name in names:
            s = bm.summarize(times[name])
            rows[name]['paths'][variant.name] = dict(
                step_s=s, images_per_s=args.batch / s['median'])

    ref = rows.get('mmpose')
    if ref is not None:
        for row in rows.values():
            for path, r in row['paths'].items():
                ratio = r['images_per_s'] / ref['paths'][path][
                    'images_per_s']
                r['ratio'] = ratio
                r['ratio_per_flop'] = ratio * row['gflops'] / ref['gflops']
    report = dict(
        machine=bm.machine_info('cpu'),
        threads=torch.get_num_threads(),
        batch=args.batch,
        input=[w, h],
        designs=list(rows.values()))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from custom_pose.utils.atomic_io import (write_json_atomic,
                                             write_text_atomic)
    write_json_atomic(str(out / 'hourglass_study.json'), report, indent=2)
    md = render_markdown(report)
    write_text_atomic(str(out / 'hourglass_study.md'), md)
    print(md)
    return report


def render_markdown(report: dict) -> str:
    """The report as a Markdown table (one row per design and path)."""
    lines = [
        f'Training step, batch {report["batch"]}, '
        f'{report["input"][0]}x{report["input"][1]}, '
        f'{report["threads"]} threads',
        '',
        '| design | params (M) | GFLOPs | path | img/s | ratio | '
        'ratio per FLOP |',
        '|---|---|---|---|---|---|---|',
    ]
    for row in report['designs']:
        for path, r in row['paths'].items():
            ratio = r.get('ratio')
            per_flop = r.get('ratio_per_flop')
            lines.append(
                f'| {row["design"]} | {row["params_m"]:.2f} | '
                f'{row["gflops"]:.2f} | {path} | {r["images_per_s"]:.2f} | '
                f'{"-" if ratio is None else f"{ratio:.2f}"} | '
                f'{"-" if per_flop is None else f"{per_flop:.2f}"} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()
