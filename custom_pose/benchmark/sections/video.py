# Copyright (c) custom_pose contributors. All rights reserved.
"""Section ``video``: frames/s of the full-frame video demo's loop
(:func:`custom_pose.apis.run_video`, the whole frame as the box; the demo
``demo/top_down_video_demo_full_frame_without_det.py`` is a thin wrapper of
it) against mmpose's own per-frame path (``inference_topdown`` + mmpose's
visualizer + ``cv2.VideoWriter``) on the same clip and checkpoint, with the
keypoint deviation of each row from mmpose's: the demo's numeric defaults
(PyTorch fast paths) with ``--box-mode full-frame``, plain fp32 and ``--amp`` (with ``fast_paths``), and the
network exported to ONNX and run by onnxruntime (``--backend
onnxruntime``); and the per-frame cost of box propagation, track ids and
smoothing (:func:`custom_pose.tracking.measure_tracking_cost`).

Where mmpose's visualizer cannot draw (mmpose 1.3.2's fails with numpy 2),
mmpose's loop runs without drawing and is the baseline of the ratios.
"""
import copy
import functools
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..context import (BenchmarkContext, build_dataset, fit_pipeline,
                       val_pipeline)
from ..specs import (MAX_MEAN_KPT_DEV_PX, MODEL_SPECS, build_model,
                     calibrate_bn, fit_heatmap_tail, input_size_of,
                     model_cfg_for)
from ..timing import cpu_snapshot, foreign_load, ratio, wait_quiet
from .base import fmt, register_section

#: the video row of mmpose's per-frame loop with drawing and writing
MMPOSE = 'mmpose'
#: the video row of mmpose's per-frame loop without drawing and writing
MMPOSE_NO_DRAW = 'mmpose inference_topdown only (no drawing, no writing)'

#: a pipeline's run on the clip: frames, frames/s of its frame loop, wall
#: seconds with model loading, keypoints (frames, K, 2) in image pixels
VideoRun = Tuple[int, float, float, np.ndarray]


def run_video_demo(config: str, checkpoint: str, video: Path,
                   out_root: Path, device: str, batch_size: int,
                   **options: Any) -> VideoRun:
    """Run the video demo's loop (:func:`custom_pose.apis.run_video`) on
    ``video``, saving its predictions under ``out_root``.

    Args:
        config (str): Pose model config.
        checkpoint (str): Its checkpoint.
        video (Path): The clip.
        out_root (Path): The demo's ``--out-video-root``.
        device (str): ``'cpu'`` or ``'cuda'``.
        batch_size (int): Frames per forward pass.
        **options: More :func:`~custom_pose.apis.run_video` arguments (the
            demo's options, e.g. ``amp=True``, ``backend='onnxruntime'``).

    Returns:
        tuple: Frames, the loop's frames/s (first decoded to last written
        frame), wall seconds with model loading, keypoints (frames, K, 2).
    """
    from custom_pose.apis import run_video
    t0 = time.perf_counter()
    stats = run_video(
        config, checkpoint, str(video), out_video_root=str(out_root),
        save_predictions=True, device=device, batch_size=batch_size,
        progress=False, **options)
    wall = time.perf_counter() - t0
    pred = json.loads(Path(stats.out_json).read_text())
    kpts = np.asarray(
        [f['instances'][0]['keypoints'] for f in pred['frames']], np.float64)
    return stats.frames_done, stats.fps, wall, kpts


def _draw(visualizer, image: np.ndarray, data_sample) -> np.ndarray:
    """The predicted pose of ``data_sample`` drawn on ``image`` (RGB) by
    mmpose's visualizer, as mmpose's demos draw it."""
    visualizer.add_datasample(
        'result',
        image,
        data_sample=data_sample,
        draw_gt=False,
        draw_heatmap=False,
        draw_bbox=False,
        show=False,
        wait_time=0,
        kpt_thr=0.3)
    return visualizer.get_image()


def mmpose_drawing_error(cfg, metainfo: dict) -> Optional[str]:
    """Why mmpose's visualizer cannot draw a pose with this stack (mmpose
    1.3.2's fails with numpy 2), or ``None`` when it can: one tiny draw,
    the way :func:`_mmpose_video` draws each frame (:func:`_draw`).

    Args:
        cfg (Config): A model config (its ``visualizer``).
        metainfo (dict): The dataset meta (keypoints, skeleton, colours).
    """
    try:
        from mmengine.structures import InstanceData

        from mmpose.registry import VISUALIZERS
        from mmpose.structures import PoseDataSample
        visualizer = VISUALIZERS.build(copy.deepcopy(cfg.visualizer))
        visualizer.set_dataset_meta(metainfo)
        k = int(metainfo['num_keypoints'])
        sample = PoseDataSample()
        sample.pred_instances = InstanceData(
            keypoints=np.stack(
                [np.linspace(4, 28, k), np.linspace(28, 6, k)],
                axis=-1)[None].astype(np.float32),
            keypoint_scores=np.ones((1, k), np.float32))
        _draw(visualizer, np.zeros((32, 32, 3), np.uint8), sample)
    except Exception as exc:  # whatever the stack raises means: no drawing
        return f'{type(exc).__name__}: {exc}'
    return None


def _mmpose_video(config: str,
                  checkpoint: str,
                  video: str,
                  out_video: str,
                  device: str,
                  draw: bool = True) -> VideoRun:
    """mmpose's per-frame path: ``inference_topdown`` on the whole frame,
    mmpose's visualizer and ``cv2.VideoWriter`` (only decoding and
    ``inference_topdown`` with ``draw=False``). (frames, frames/s of the
    frame loop, wall seconds with model loading, keypoints (N, K, 2))."""
    import cv2
    import mmcv

    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    t_wall = time.perf_counter()
    model = init_model(config, checkpoint, device=device)
    if draw:
        visualizer = VISUALIZERS.build(copy.deepcopy(model.cfg.visualizer))
        visualizer.set_dataset_meta(model.dataset_meta)
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = (cv2.VideoWriter(out_video, cv2.VideoWriter_fourcc(*'mp4v'),
                              fps, size) if draw else None)
    kpts = []
    n = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        results = inference_topdown(model, frame)
        data_sample = merge_data_samples(results)
        kpts.append(np.asarray(data_sample.pred_instances.keypoints[0]))
        n += 1
        if not draw:
            continue
        writer.write(
            mmcv.rgb2bgr(_draw(visualizer, mmcv.bgr2rgb(frame),
                               data_sample)))
    if writer is not None:
        writer.release()
    cap.release()
    elapsed = time.perf_counter() - t0
    return n, n / elapsed, time.perf_counter() - t_wall, np.stack(kpts)


def clip_batch(cfg, video: str, gt_file: str,
               metainfo: dict) -> Tuple[dict, np.ndarray]:
    """Every frame of a synthetic clip as a collated batch through
    :func:`fit_pipeline` (the whole frame as the box, targets from the
    clip's ground truth), and the (N, K) mask of labelled keypoints."""
    import cv2
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    gt = json.loads(Path(gt_file).read_text())['frames']
    pipeline = Compose(fit_pipeline(cfg))
    cap = cv2.VideoCapture(video)
    samples, masks = [], []
    for frame_gt in gt:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        kpts = np.asarray(frame_gt['keypoints'], np.float32)
        info = dict(
            img=frame,
            bbox=np.array([[0, 0, w, h]], np.float32),
            bbox_score=np.ones(1, np.float32),
            keypoints=kpts[None, :, :2],
            keypoints_visible=(kpts[None, :, 2] > 0).astype(np.float32))
        info.update(metainfo)
        samples.append(pipeline(info))
        masks.append(kpts[:, 2] > 0)
    cap.release()
    return pseudo_collate(samples), np.stack(masks)


def _full_frame_factor(cfg, width: int, height: int) -> float:
    """Image -> model-input pixels for a whole-frame box (padding 1.25)."""
    iw, ih = input_size_of(cfg)
    sw, sh = width * 1.25, height * 1.25
    if sw > sh * iw / ih:
        sh = sw * ih / iw
    else:
        sw = sh * iw / ih
    return iw / sw


def _fitted_video_checkpoint(ctx: BenchmarkContext, name: str, cfg,
                             clip_data: dict, metainfo: dict,
                             ckpt: Path) -> Tuple[dict, List[int]]:
    """Save a checkpoint of ``name`` built from its config: seeded weights,
    BN statistics of the clip, the heatmap tail fitted to a few of its
    frames (sharp heatmaps, as a trained model has), the dataset meta."""
    from mmengine.runner import save_checkpoint
    o = ctx.opts
    spec = MODEL_SPECS[name]
    num = len(clip_data['inputs'])
    count = min(num, max(4 * o.check_images, 2))
    fit_idx = [int(i) for i in np.linspace(0, num - 1, count).round()]
    fit_data = dict(
        inputs=[clip_data['inputs'][i] for i in fit_idx],
        data_samples=[clip_data['data_samples'][i] for i in fit_idx])
    model = build_model(model_cfg_for(spec, 'ours', cfg), 'cpu', o.seed)
    calibrate_bn(model, fit_data)
    ctx.log(f'fit {name} heatmap tail to {len(fit_idx)} clip frames')
    fit = fit_heatmap_tail(model, fit_data, max_steps=o.fit_steps, amp=True)
    save_checkpoint(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=metainfo)), str(ckpt))
    return fit, fit_idx


def run_video_section(ctx: BenchmarkContext) -> dict:
    """Frames/s of mmpose's per-frame loop (with and without drawing) and
    of the demo (its defaults; with ``fast_paths`` also plain fp32 and
    ``--amp``), ``video_repeats`` times in alternating order; the medians,
    ratios against mmpose's loop and keypoint deviations from it."""
    from custom_pose.datasets.synthetic import make_clip
    from custom_pose.models.utils import keypoint_deviation
    o = ctx.opts
    name = o.models_for('video')[0]
    spec = MODEL_SPECS[name]
    cfg = ctx.cfg(name)
    config_path = str(ctx.config_dir / spec.config)
    work = ctx.out_dir / 'video'
    work.mkdir(parents=True, exist_ok=True)
    clip_name = (f'clip_{o.video_size[0]}x{o.video_size[1]}_'
                 f'{o.video_frames}.mp4')
    clip = work / clip_name
    if not clip.exists():
        make_clip(
            str(work), seed=0, num_frames=o.video_frames, fps=25,
            image_size=o.video_size, video_name=clip_name,
            keypoints_name=clip_name + '.json')
    # a checkpoint of the model built from the config: seeded weights, BN
    # statistics of the clip, the head fitted to a few of its frames (sharp
    # heatmaps, as a trained model has), and the dataset meta
    ckpt = work / f'{name}_seed{o.seed}_fitted.pth'
    dataset = build_dataset(cfg, ctx.data_root, val_pipeline(cfg))
    clip_data, labelled = clip_batch(cfg, str(clip), str(clip) + '.json',
                                     dataset.metainfo)
    fit: Dict[str, Any] = {}
    fit_idx: List[int] = []
    if o.video_checkpoint:
        ckpt = Path(o.video_checkpoint)
        if not ckpt.is_file():
            raise FileNotFoundError(f'video checkpoint not found: {ckpt}')
    else:
        fit, fit_idx = _fitted_video_checkpoint(ctx, name, cfg, clip_data,
                                                dataset.metainfo, ckpt)
    draw_error = mmpose_drawing_error(cfg, dataset.metainfo)
    if draw_error is not None:
        ctx.log(f'mmpose\'s visualizer cannot draw here ({draw_error}): '
                'its per-frame loop runs without drawing')
    # row -> a run of its pipeline on the clip: (frames, frames/s, wall s,
    # keypoints); a new row is one more entry
    pipelines: Dict[str, Callable[[], VideoRun]] = {}
    for key in ([MMPOSE] if draw_error is None else []) + [MMPOSE_NO_DRAW]:
        pipelines[key] = functools.partial(
            _mmpose_video, config_path, str(ckpt), str(clip),
            str(work / 'out_mmpose.mp4'), o.device, draw=key == MMPOSE)
    # the demo with its defaults, and with the flags shown
    demo_options: Dict[str, Dict[str, Any]] = {'ours_demo': {}}
    if o.fast_paths:
        demo_options['ours_demo --no-fuse-conv-bn --no-channels-last'] = \
            dict(fuse_conv_bn=False, channels_last=False)
        demo_options['ours_demo --amp'] = dict(amp=True)
    onnx_note = _export_for_onnxruntime(config_path, str(ckpt), work, o)
    if onnx_note.endswith('.onnx'):
        demo_options['ours_demo --backend onnxruntime'] = dict(
            backend='onnxruntime', onnx=onnx_note)
    for i, (key, options) in enumerate(demo_options.items()):
        pipelines[key] = functools.partial(
            run_video_demo, config_path, str(ckpt), clip,
            work / f'demo_out_{i}', o.device, o.video_batch, **options)
    baseline = next(iter(pipelines))
    runs: Dict[str, List[Tuple[int, float, float, Optional[float]]]] = {}
    kpts: Dict[str, np.ndarray] = {}
    for rep in range(o.video_repeats):
        ctx.log(f'video {name} repeat {rep + 1}/{o.video_repeats}')
        order = list(pipelines)
        if rep % 2:
            order = order[::-1]
        for key in order:
            wait_quiet(o.wait_quiet, ctx.log)
            snap = cpu_snapshot()
            n, fps, wall, kpts[key] = pipelines[key]()
            runs.setdefault(key, []).append(
                (n, fps, wall, foreign_load(snap, cpu_snapshot())))
    factor = _full_frame_factor(cfg, *o.video_size)
    mm_fps = statistics.median(r[1] for r in runs[baseline])
    rows = []
    for key, rs in runs.items():
        fps = statistics.median(r[1] for r in rs)
        row = dict(
            pipeline=key,
            frames=rs[0][0],
            fps=fps,
            fps_runs=[r[1] for r in rs],
            wall_s=statistics.median(r[2] for r in rs),
            foreign_load=max((r[3] or 0.0) for r in rs),
            ratio_vs_mmpose=ratio(fps, mm_fps))
        if key != baseline and kpts[key].shape == kpts[baseline].shape:
            dev = keypoint_deviation(kpts[baseline][labelled],
                                     kpts[key][labelled],
                                     px_per_unit=factor)
            dev['within_goal'] = dev['mean'] < MAX_MEAN_KPT_DEV_PX
            dev['all'] = keypoint_deviation(kpts[baseline], kpts[key],
                                            px_per_unit=factor)
            row['kpt_dev_vs_mmpose_input_px'] = dev
        rows.append(row)
        ctx.log(f'  {key}: {fps:.1f} frames/s')
    return dict(
        status='ok',
        model=name,
        config=spec.config,
        clip=dict(
            frames=o.video_frames, size=list(o.video_size), fps=25),
        demo_batch_size=o.video_batch,
        checkpoint=str(o.video_checkpoint) if o.video_checkpoint else
        'built from the config, heatmap tail fitted to the clip',
        fit=dict(fit, frames=fit_idx),
        baseline=baseline,
        mmpose_draw_error=draw_error,
        onnx=onnx_note,
        rows=rows,
        tracking_cost=_tracking_cost(ctx))


def _export_for_onnxruntime(config: str, checkpoint: str, work: Path,
                            opts) -> str:
    """Export the checkpoint for the onnxruntime row: the ``.onnx`` path,
    or why there is no such row."""
    if opts.device != 'cpu':
        return 'onnxruntime row on the CPU only'
    try:
        import onnxruntime  # noqa: F401

        from custom_pose.apis import init_pose_model
        from custom_pose.deploy import export_onnx
    except ImportError as exc:
        return f'no onnxruntime row ({exc}; pip install -e .[deploy])'
    path = work / (Path(checkpoint).stem + '.onnx')
    export_onnx(init_pose_model(config, checkpoint, 'cpu'), str(path),
                dynamic_batch=True)
    return str(path)


def _tracking_cost(ctx: BenchmarkContext) -> Dict[str, float]:
    """Milliseconds per frame of box propagation, track ids and each
    smoother, two animals of 20 keypoints on a 640x480 frame
    (:func:`custom_pose.tracking.measure_tracking_cost`)."""
    from custom_pose.tracking import measure_tracking_cost
    o = ctx.opts
    wait_quiet(o.wait_quiet, ctx.log)
    return measure_tracking_cost(
        num_frames=30 if o.quick else 300,
        smoothers=('oneeuro', 'savgol', 'gaussian'), seed=o.seed)


def render_video_section(v: dict, number: int) -> List[str]:
    """The section's Markdown table (one row per pipeline), or why it was
    skipped."""
    lines = ['', f'### {number}. Video demo, whole frame as the box']
    if v.get('status') != 'ok':
        return lines + ['', f'Skipped: {v.get("reason")}']
    lines += [
        '', f'{v["model"]} ({v["config"]}), clip of '
        f'{v["clip"]["frames"]} frames {v["clip"]["size"][0]}x'
        f'{v["clip"]["size"][1]}, flip test as in the config. '
        '`mmpose`: `inference_topdown` per frame + mmpose\'s '
        'visualizer + `cv2.VideoWriter`; `ours_demo`: the loop of '
        '`demo/top_down_video_demo_full_frame_without_det.py` '
        f'(`custom_pose.apis.run_video`, batch {v["demo_batch_size"]}) '
        'with its numeric defaults (PyTorch, BN folded, channels-last, '
        'fp32) and the whole frame as the box (`--box-mode full-frame`), or '
        'the flags shown; `--backend onnxruntime`: the network exported '
        'to ONNX (dynamic batch) and run by onnxruntime on the CPU, the '
        'rest of the loop unchanged. Times from the first decoded frame '
        'to the last written one; keypoints compared on the labelled '
        'keypoints, in model-input pixels.'
    ]
    if v.get('onnx') and not str(v['onnx']).endswith('.onnx'):
        lines += ['', f'No onnxruntime row: {v["onnx"]}.']
    if v.get('mmpose_draw_error'):
        lines += [
            '', 'mmpose\'s visualizer cannot draw with this stack '
            f'(`{v["mmpose_draw_error"]}`): the ratios and keypoints are '
            'against mmpose\'s loop without drawing.'
        ]
    lines += [
        '', '| pipeline | frames | frames/s | ratio vs mmpose | wall s '
        '(with model load) | kpt dev vs mmpose px (mean / max) |',
        '|---|---|---|---|---|---|'
    ]
    for r in v['rows']:
        c = r.get('kpt_dev_vs_mmpose_input_px')
        check = f'{c["mean"]:.3f} / {c["max"]:.2f}' if c else '-'
        lines.append(f'| {r["pipeline"]} | {r["frames"]} | {r["fps"]:.1f} | '
                     f'{fmt(r["ratio_vs_mmpose"])} | {r["wall_s"]:.1f} | '
                     f'{check} |')
    cost = v.get('tracking_cost')
    if cost:
        lines += [
            '', 'Per-frame cost of `--track-box` and `--smooth` '
            '(`custom_pose.tracking.measure_tracking_cost`: '
            f'{int(cost["instances"])} animals of {int(cost["keypoints"])} '
            f'keypoints, {int(cost["frames"])} frames, no model):', '',
            '| step | ms/frame |', '|---|---|'
        ]
        for key, value in cost.items():
            if key in ('frames', 'instances', 'keypoints'):
                continue
            lines.append(f'| {key.replace("_", " ")} | {value:.3f} |')
    return lines


def summarize_video_section(v: dict) -> Dict[str, str]:
    """Each pipeline's frames/s against mmpose's per-frame loop."""
    if v.get('status') != 'ok':
        return {}
    baseline = v.get('baseline', MMPOSE)
    what = ('mmpose per-frame' if baseline == MMPOSE else
            'mmpose per-frame (without drawing)')
    return {
        f'video {r["pipeline"]} vs {what}': f'{fmt(r["ratio_vs_mmpose"])}x'
        for r in v['rows'] if r['pipeline'] != baseline
    }


def video_headline(v: dict) -> Dict[str, str]:
    """The demo with its defaults against mmpose's per-frame loop."""
    if v.get('status') != 'ok':
        return {}
    baseline = v.get('baseline', MMPOSE)
    what = ('video demo vs mmpose\'s per-frame loop' +
            ('' if baseline == MMPOSE else ' without drawing'))
    return {
        what: f'{fmt(r["ratio_vs_mmpose"])}x'
        for r in v['rows'] if r['pipeline'] == 'ours_demo'
    }


register_section(
    'video',
    run_video_section,
    render=render_video_section,
    summarize=summarize_video_section,
    headline=video_headline)
