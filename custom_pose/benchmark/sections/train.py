# Copyright (c) custom_pose contributors. All rights reserved.
"""Section ``train``: training-step throughput (``model.train_step``: data
preprocessor, forward, loss, backward, optimizer step) in images/s, ours
against mmpose's counterpart on each numeric path, with the check of each
fast path's loss and gradients against fp32."""
import copy
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from ..context import BenchmarkContext
from ..specs import (MODEL_SPECS, Variant, build_model, default_variants,
                     input_size_of, model_cfg_for, prepare_model,
                     train_check_passes)
from ..timing import (LAST_TIMING, profile_ops, ratio, ratio_headline,
                      ratio_summary, summarize, time_interleaved, wait_quiet)
from .base import busy_mark, fmt, register_section


def optim_wrapper_for(model: nn.Module, variant: Variant, device: str, cfg):
    """The config's optimizer (the same for both sides) in an
    ``OptimWrapper``; ``AmpOptimWrapper`` (loss scaling) for CUDA AMP. On
    CPU, bf16 needs no loss scaling and the autocast is in the model
    (mmengine's AmpOptimWrapper refuses to run without a GPU)."""
    from mmengine.optim import build_optim_wrapper
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg['type'] = 'OptimWrapper'
    for key in ('dtype', 'loss_scale'):
        wrapper_cfg.pop(key, None)
    if variant.amp_dtype is not None and torch.device(
            device).type == 'cuda':
        wrapper_cfg.update(
            type='AmpOptimWrapper', loss_scale='dynamic',
            dtype=variant.amp_dtype)
    return build_optim_wrapper(model, wrapper_cfg)


def train_step_fn(model, optim_wrapper,
                  data) -> Callable[[], Dict[str, torch.Tensor]]:
    """A function without arguments running one ``train_step`` of
    ``model`` on ``data``."""

    def step():
        return model.train_step(data, optim_wrapper)

    return step


def _loss_and_grads(model: nn.Module,
                    data: dict) -> Tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    loss.backward()
    grads = torch.cat([
        p.grad.detach().float().flatten() for p in model.parameters()
        if p.grad is not None
    ])
    return float(loss.detach()), grads


def train_check(model: nn.Module, data: dict, variant: Variant,
                device: str) -> Dict[str, float]:
    """Loss and gradients of one step of ``variant`` against fp32, from the
    same weights and batch (BN in train mode uses batch statistics)."""
    ref_model = copy.deepcopy(model).train()
    ref_loss, ref_grads = _loss_and_grads(ref_model, data)
    fast_model = prepare_model(
        model,
        Variant(variant.name, variant.precision, variant.channels_last),
        train=True,
        device=device)
    loss, grads = _loss_and_grads(fast_model, data)
    cos = torch.nn.functional.cosine_similarity(
        ref_grads.double(), grads.double(), dim=0)
    check = dict(
        loss_fp32=ref_loss,
        loss=loss,
        loss_rel_diff=abs(loss - ref_loss) / max(abs(ref_loss), 1e-12),
        grad_cosine=float(cos))
    check['within_goal'] = train_check_passes(check)
    return check


def run_train_section(ctx: BenchmarkContext) -> List[dict]:
    o = ctx.opts
    rows = []
    variants = [
        Variant.parse(v) for v in (o.train_variants or default_variants(
            'train', o.device, o.fast_paths, o.compile))
    ]
    for name in o.models_for('train', with_counterpart=True):
        spec = MODEL_SPECS[name]
        cfg = ctx.cfg(name)
        data = ctx.batch(name, o.train_batch, train=True)
        ref_imgs = {}
        for variant in variants:
            variant.check_device(o.device)
            ctx.log(f'train {name} {variant.name} batch {o.train_batch}')
            fns = {}
            for side in ('ours', 'mmpose'):
                model = build_model(
                    model_cfg_for(spec, side, cfg), o.device, o.seed)
                model = prepare_model(model, variant, train=True,
                                      device=o.device)
                fns[side] = train_step_fn(
                    model, optim_wrapper_for(model, variant, o.device, cfg),
                    data)
            wait_quiet(o.wait_quiet, ctx.log)
            times = time_interleaved(fns, o.iters, o.warmup, o.device)
            busy = LAST_TIMING.get('foreign_load')
            prof = ({side: profile_ops(fns[side])
                     for side in ('ours', 'mmpose')} if o.profile else None)
            del fns
            row = dict(
                model=name, variant=variant.name, batch=o.train_batch,
                input=list(input_size_of(cfg)), foreign_load=busy)
            for side in ('ours', 'mmpose'):
                s = summarize(times[side])
                row[side] = dict(
                    step_s=s, images_per_s=o.train_batch / s['median'])
            ours_ips = row['ours']['images_per_s']
            mm_ips = row['mmpose']['images_per_s']
            row['ratio'] = ratio(ours_ips, mm_ips)
            row['ratio_per_flop'] = row['ratio'] * ctx.work_ratio(name)
            if variant.is_plain:
                ref_imgs = dict(ours=ours_ips, mmpose=mm_ips)
            row['ratio_vs_mmpose_fp32'] = ratio(ours_ips,
                                                ref_imgs.get('mmpose'))
            row['speedup_vs_ours_fp32'] = ratio(ours_ips,
                                                ref_imgs.get('ours'))
            if prof is not None:
                row['profile'] = prof
            if not variant.is_plain:
                model = build_model(
                    model_cfg_for(spec, 'ours', cfg), o.device, o.seed)
                row['check'] = train_check(model, data, variant, o.device)
            rows.append(row)
            ctx.log(f'  ours {ours_ips:.2f} img/s, mmpose {mm_ips:.2f} '
                    f'img/s, ratio {row["ratio"]:.3f}')
    return rows


def render_train_section(rows: List[dict], number: int) -> List[str]:
    """The section's Markdown table (one row per model and path)."""
    lines = [
        '', f'### {number}. Training step (forward + backward + Adam step)',
        '', '| model | input | batch | path | ours img/s | mmpose img/s | '
        'ratio | vs mmpose fp32 | check |',
        '|---|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        c = r.get('check')
        check = (f'loss {c["loss_rel_diff"]:.1e}, grad cos '
                 f'{c["grad_cosine"]:.4f}' if c else '-')
        if c and not train_check_passes(c):
            check += ' (fails)'
        lines.append(
            f'| {r["model"]}{busy_mark(r)} | '
            f'{r["input"][0]}x{r["input"][1]} | '
            f'{r["batch"]} | {r["variant"]} | '
            f'{r["ours"]["images_per_s"]:.2f} | '
            f'{r["mmpose"]["images_per_s"]:.2f} | {fmt(r["ratio"])} | '
            f'{fmt(r["ratio_vs_mmpose_fp32"])} | {check} |')
    return lines


register_section(
    'train',
    run_train_section,
    render=render_train_section,
    summarize=lambda rows: ratio_summary('train', rows, train_check_passes),
    headline=lambda rows: ratio_headline('training step', rows,
                                         train_check_passes))
