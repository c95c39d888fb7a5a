# Copyright (c) custom_pose contributors. All rights reserved.
"""Section ``infer``: ``model.test_step`` latency and throughput at each
batch size, with and without flip test, ours against mmpose's counterpart on
each numeric path, with the check of each fast path's keypoints against
ours at fp32."""
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from torch import nn

from ..context import BenchmarkContext
from ..specs import (MAX_MEAN_KPT_DEV_PX, MODEL_SPECS, Variant, build_model,
                     calibrate_bn, default_variants, fit_heatmap_tail,
                     input_size_of, labelled_mask, model_cfg_for,
                     prepare_model)
from ..timing import (LAST_TIMING, profile_ops, ratio, ratio_headline,
                      ratio_summary, summarize, time_interleaved, wait_quiet)
from .base import busy_mark, fmt, register_section


def _predict_fn(model, data):
    result = {}

    def run():
        with torch.no_grad():
            result['out'] = model.test_step(data)
        return result['out']

    return run, result


def keypoints_of(outputs) -> Tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) keypoints in image pixels and (N, 1) image->input pixel
    factors of ``test_step`` outputs."""
    kpts, factors = [], []
    for sample in outputs:
        kpts.append(np.asarray(sample.pred_instances.keypoints[0],
                               np.float64))
        size = np.asarray(sample.metainfo['input_size'], np.float64)
        scale = np.asarray(sample.metainfo['input_scale'],
                           np.float64).reshape(-1)[:2]
        factors.append([float(size[0] / scale[0])])
    return np.stack(kpts), np.asarray(factors)


def _set_flip(model: nn.Module, flip: bool) -> nn.Module:
    model.test_cfg = dict(model.test_cfg or {}, flip_test=flip)
    return model


def check_models(ctx: BenchmarkContext, name: str) -> Tuple[dict, dict, dict]:
    """Both sides' base models of ``name`` for inference (BN statistics of
    the synthetic crops; ours with its heatmap tail fitted to the check
    crops, see :func:`fit_heatmap_tail`, or with the weights of
    ``Options.checkpoints[name]``), the check batch, and the fit record."""
    o = ctx.opts
    spec = MODEL_SPECS[name]
    cfg = ctx.cfg(name)
    check_data = ctx.check_batch(name)
    models = {}
    fit = {}
    for side in ('ours', 'mmpose'):
        model = build_model(model_cfg_for(spec, side, cfg), o.device, o.seed)
        ckpt = (o.checkpoints or {}).get(name)
        if side == 'ours' and ckpt:
            from mmengine.runner import load_checkpoint
            ctx.log(f'{name}: weights of {ckpt}')
            load_checkpoint(model, ckpt, map_location=o.device, strict=True,
                            logger='silent')
            fit = dict(checkpoint=ckpt)
        else:
            calibrate_bn(model, check_data)
        if side == 'ours' and not ckpt:
            ctx.log(f'fit {name} heatmap tail to {o.check_images} crops')
            fit = fit_heatmap_tail(
                model, check_data, max_steps=o.fit_steps, amp=True)
            ctx.log(f'  loss {fit["loss_start"]:.2e} -> {fit["loss_end"]:.2e}'
                    f' (zero heatmaps: {fit["loss_zero"]:.2e}) in '
                    f'{fit["steps"]} steps, {fit["seconds"]:.0f} s')
        models[side] = model.eval()
    return models, dict(check_data=check_data), fit


def keypoint_check(ref_model: nn.Module, model: nn.Module, data: dict,
                   flip: bool) -> dict:
    """Keypoints of ``model`` against ``ref_model`` on ``data``: distances
    in model-input pixels over the labelled keypoints (``labelled``, the
    goal: mean < 1 px) and over all keypoints (``all``)."""
    from custom_pose.models.utils import keypoint_deviation
    outs = []
    for m in (ref_model, model):
        m = _set_flip(m, flip)
        with torch.no_grad():
            outs.append(keypoints_of(m.test_step(data)))
    (ref, factors), (kpts, _) = outs
    factors = np.broadcast_to(factors, ref.shape[:2])
    mask = labelled_mask(data)
    labelled = keypoint_deviation(ref[mask], kpts[mask], factors[mask])
    labelled['within_goal'] = labelled['mean'] < MAX_MEAN_KPT_DEV_PX
    return dict(
        labelled=labelled,
        all=keypoint_deviation(ref, kpts, factors),
        num_labelled=int(mask.sum()))


def run_infer_section(ctx: BenchmarkContext) -> List[dict]:
    o = ctx.opts
    rows = []
    variants = [
        Variant.parse(v) for v in (o.infer_variants or default_variants(
            'infer', o.device, o.fast_paths, o.compile))
    ]
    for v in variants:
        v.check_device(o.device)
    for name in o.models_for('infer', with_counterpart=True):
        cfg = ctx.cfg(name)
        base, extra, fit = check_models(ctx, name)
        check_data = extra['check_data']
        prepared = {(side, v.name): prepare_model(
            base[side], v, train=False, device=o.device)
                    for side in base for v in variants}
        checks = {}
        for v in variants:
            if v.is_plain:
                continue
            for flip in o.flip_modes:
                checks[(v.name, flip)] = keypoint_check(
                    base['ours'], prepared[('ours', v.name)], check_data,
                    flip)
        for batch_size in o.infer_batches:
            data = ctx.batch(name, batch_size, train=False)
            for flip in o.flip_modes:
                refs: Dict[str, Any] = {}
                for variant in variants:
                    ctx.log(f'infer {name} {variant.name} batch '
                            f'{batch_size} flip {flip}')
                    fns = {
                        side: _predict_fn(
                            _set_flip(prepared[(side, variant.name)], flip),
                            data)[0]
                        for side in ('ours', 'mmpose')
                    }
                    wait_quiet(o.wait_quiet, ctx.log)
                    times = time_interleaved(
                        fns, o.iters, o.warmup, o.device,
                        min_time=o.min_time)
                    row = dict(
                        model=name, variant=variant.name, batch=batch_size,
                        flip_test=flip, input=list(input_size_of(cfg)),
                        foreign_load=LAST_TIMING.get('foreign_load'))
                    for side in ('ours', 'mmpose'):
                        s = summarize(times[side])
                        row[side] = dict(
                            latency_ms=s['median'] * 1e3,
                            images_per_s=batch_size / s['median'],
                            call_s=s)
                    ours_ips = row['ours']['images_per_s']
                    mm_ips = row['mmpose']['images_per_s']
                    row['ratio'] = ratio(ours_ips, mm_ips)
                    row['ratio_per_flop'] = row['ratio'] * ctx.work_ratio(
                        name)
                    if variant.is_plain:
                        refs = dict(ours_ips=ours_ips, mmpose_ips=mm_ips)
                    row['ratio_vs_mmpose_fp32'] = ratio(
                        ours_ips, refs.get('mmpose_ips'))
                    row['speedup_vs_ours_fp32'] = ratio(
                        ours_ips, refs.get('ours_ips'))
                    if o.profile and batch_size == max(o.infer_batches):
                        row['profile'] = {
                            side: profile_ops(fns[side])
                            for side in ('ours', 'mmpose')
                        }
                    if (variant.name, flip) in checks:
                        row['check'] = dict(
                            kpt_dev_input_px=checks[(variant.name, flip)],
                            fit=fit)
                    rows.append(row)
                    ctx.log(f'  ours {row["ours"]["latency_ms"]:.1f} ms '
                            f'({ours_ips:.2f} img/s), mmpose '
                            f'{row["mmpose"]["latency_ms"]:.1f} ms, ratio '
                            f'{row["ratio"]:.3f}')
    return rows


def infer_check_passes(check: dict) -> bool:
    """Whether a fast inference path's keypoints (a row's ``check``) are
    within :data:`~..specs.MAX_MEAN_KPT_DEV_PX` of ours at fp32 on the
    labelled keypoints."""
    return check.get('kpt_dev_input_px', {}).get('labelled', {}).get(
        'within_goal', False)


def render_infer_section(rows: List[dict], number: int) -> List[str]:
    """The section's Markdown table (one row per model, batch, flip test
    and path)."""
    lines = [
        '', f'### {number}. Inference (`test_step`: preprocess, forward, '
        'flip test, decode)', '',
        '| model | batch | flip | path | ours ms | ours img/s | mmpose '
        'ms | mmpose img/s | ratio | vs mmpose fp32 | kpt dev px '
        '(mean / max) |', '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        c = r.get('check', {}).get('kpt_dev_input_px', {}).get('labelled')
        check = f'{c["mean"]:.3f} / {c["max"]:.2f}' if c else '-'
        lines.append(
            f'| {r["model"]}{busy_mark(r)} | {r["batch"]} | '
            f'{"yes" if r["flip_test"] else "no"} | {r["variant"]} | '
            f'{r["ours"]["latency_ms"]:.1f} | '
            f'{r["ours"]["images_per_s"]:.2f} | '
            f'{r["mmpose"]["latency_ms"]:.1f} | '
            f'{r["mmpose"]["images_per_s"]:.2f} | {fmt(r["ratio"])} | '
            f'{fmt(r["ratio_vs_mmpose_fp32"])} | {check} |')
    return lines


register_section(
    'infer',
    run_infer_section,
    render=render_infer_section,
    summarize=lambda rows: ratio_summary('infer', rows, infer_check_passes),
    headline=lambda rows: ratio_headline('inference', rows,
                                         infer_check_passes))
