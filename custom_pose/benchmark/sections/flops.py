# Copyright (c) custom_pose contributors. All rights reserved.
"""Section ``flops``: parameters and FLOPs of both sides (mmengine's
counter; a multiply-add counts as one, as in the published figures) next to
the published figures."""
from typing import List

from ..context import BenchmarkContext
from ..specs import (MODEL_SPECS, build_model, count_params_flops,
                     input_size_of, model_cfg_for)
from .base import register_section


def run_flops_section(ctx: BenchmarkContext) -> List[dict]:
    o = ctx.opts
    rows = []
    for name in o.models_for('flops'):
        spec = MODEL_SPECS[name]
        cfg = ctx.cfg(name)
        w, h = input_size_of(cfg)
        sizes = [(h, w)]
        if not o.quick and (h, w) != (256, 192):
            sizes.insert(0, (256, 192))
        sides = ['ours'] + (['mmpose'] if spec.mmpose_backbone else [])
        for side in sides:
            ctx.log(f'flops {name} {side}')
            model = build_model(model_cfg_for(spec, side, cfg), 'cpu', o.seed)
            gflops, backbone_gflops = {}, {}
            params = 0.0
            for hw in sizes:
                params, flops = count_params_flops(model, hw)
                gflops[f'{hw[0]}x{hw[1]}'] = flops
                backbone_gflops[f'{hw[0]}x{hw[1]}'] = count_params_flops(
                    model.backbone, hw)[1]
            rows.append(
                dict(
                    model=name,
                    side=side,
                    backbone=cfg.model.backbone.type
                    if side == 'ours' else spec.mmpose_backbone['type'],
                    head=cfg.model.head.type
                    if side == 'ours' else spec.mmpose_head['type'],
                    params_m=params,
                    gflops=gflops,
                    backbone_gflops=backbone_gflops,
                    published=spec.published if side == 'ours' else None,
                    note=spec.note if side == 'ours' else ''))
    return rows


def render_flops_section(rows: List[dict], number: int) -> List[str]:
    """The section's Markdown table and the models' notes."""
    lines = [
        '', f'### {number}. Parameters and FLOPs (mmengine counter, 1 '
        'multiply-add = 1 FLOP)', '',
        '| model | side | backbone + head | params M | GFLOPs (backbone) | '
        'published |', '|---|---|---|---|---|---|'
    ]
    notes = []
    for r in rows:
        g = ', '.join(f'{v:.2f} ({r["backbone_gflops"][k]:.2f}) @{k}'
                      for k, v in r['gflops'].items())
        p = r.get('published')
        pub = (f'{p["params_m"]} M, {p["gflops"]} GFLOPs @{p["input"]} '
               f'({p["source"]})' if p else '-')
        lines.append(f'| {r["model"]} | {r["side"]} | {r["backbone"]} + '
                     f'{r["head"]} | {r["params_m"]:.2f} | {g} | {pub} |')
        if r.get('note'):
            notes.append(f'{r["model"]}: {r["note"]}.')
    notes.append(
        'Published GFLOPs of SimpleBaseline count the deconvolution '
        'head several times higher than the multiply-adds a transposed '
        'convolution does (mmengine\'s count); compare the backbone '
        'figures (in brackets) and the parameters.')
    return lines + [''] + notes


register_section('flops', run_flops_section, render=render_flops_section)
