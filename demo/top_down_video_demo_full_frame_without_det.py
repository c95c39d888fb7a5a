# Copyright (c) custom_pose contributors. All rights reserved.
"""Top-down pose estimation on a video where the whole frame is the box.

For clips that show one animal (or person) filling the frame, e.g. the
synthetic ``clip.mp4`` of ``tools/make_synthetic_animalpose.py``: no
detector runs; every frame is one instance whose box is the frame.

Frames are decoded in a background thread and go through the model in
batches of ``--batch-size``: each frame is warped to the model input (the
warp matrix is computed once per frame size) straight into one reusable
batch buffer, the batch is normalised on the device, the flip test runs as
one forward pass and the heatmaps of the batch are decoded at once (see
``custom_pose.apis.TopdownBatchInferencer``). By default the BatchNorm
layers are folded into the convs and the model runs channels-last, both in
fp32 (``--no-fuse-conv-bn``, ``--no-channels-last`` turn them off);
``--amp`` adds bf16 (CPU) / fp16 (CUDA) autocast.

Example::

    python demo/top_down_video_demo_full_frame_without_det.py \\
        configs/animal/custom_res50_animalpose_256x256.py \\
        work_dirs/custom_res50_animalpose_256x256/best_coco_AP_epoch_10.pth \\
        --video-path data/animalpose_synthetic/clip.mp4 \\
        --out-video-root vis_results --save-predictions

writes ``vis_results/vis_clip.mp4`` (same frame count, fps and size as the
input, keypoints and skeleton in the dataset's colours) and
``vis_results/vis_clip.json``::

    {"video": ..., "fps": ..., "width": ..., "height": ..., "num_frames": N,
     "num_keypoints": K, "keypoint_names": [...], "bbox_format": "xyxy",
     "frames": [{"frame_id": 0, "bbox": [0, 0, W, H],
                 "keypoints": [[x, y] x K], "keypoint_scores": [s x K]}, ...]}

Exit status: 0 on success (also when q/Esc closes the window early), 1 for
a bad input (missing/unreadable video, missing or incompatible checkpoint,
keypoint-count mismatch; one ``<prog>: error: ...`` line), 2 for bad
arguments, 130 when interrupted with Ctrl-C (the output written so far is
finalised and kept).
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import warnings
from typing import List, NoReturn, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Top-down pose estimation on every frame of a video, '
        'the full frame being the bounding box (no detector).')
    parser.add_argument('pose_config', help='pose model config file')
    parser.add_argument('pose_checkpoint', help='pose model checkpoint file')
    parser.add_argument(
        '--video-path', '--video_path', required=True, help='input video')
    parser.add_argument(
        '--show', action='store_true',
        help='show the frames in a window (q/Esc quits); ignored with a '
        'warning where there is no display')
    parser.add_argument(
        '--out-video-root', '--out_video_root', default='',
        help='directory for vis_<video name> (and the predictions JSON); '
        'no video is written without it')
    parser.add_argument(
        '--device', default=None,
        help='device, e.g. cpu or cuda:0 (default: cuda:0 if available, '
        'else cpu)')
    parser.add_argument(
        '--kpt-thr', '--kpt_thr', type=float, default=0.3,
        help='keypoint score threshold for drawing')
    parser.add_argument(
        '--radius', type=int, default=4, help='keypoint radius in pixels')
    parser.add_argument(
        '--thickness', type=int, default=1,
        help='skeleton link thickness in pixels')
    parser.add_argument(
        '--batch-size', '--batch_size', type=int, default=16,
        help='frames per forward pass')
    parser.add_argument(
        '--save-predictions', '--save_predictions', action='store_true',
        help='also write vis_<video stem>.json with per-frame keypoints '
        '(K, 2) and scores (K) next to the video (needs --out-video-root)')
    speed = parser.add_argument_group(
        'numeric paths (tools/analysis_tools/benchmark.py --sections video '
        'measures each against mmpose\'s per-frame inference_topdown)')
    speed.add_argument(
        '--fuse-conv-bn', action=argparse.BooleanOptionalAction, default=True,
        help='fold BatchNorm layers into the convs before them (fp32; the '
        'keypoints change only by float rounding)')
    speed.add_argument(
        '--channels-last', action=argparse.BooleanOptionalAction,
        default=True, help='channels-last (NHWC) weights and activations '
        '(fp32; only the summation order changes)')
    speed.add_argument(
        '--amp', action='store_true',
        help='mixed precision: bf16 autocast on CPU, fp16 on CUDA (about 2x '
        'faster on CPUs with AMX/AVX512-BF16; heatmaps lose precision, the '
        'keypoints move by a fraction of a heatmap pixel on average)')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if not 0.0 <= args.kpt_thr <= 1.0:
        parser.error(f'--kpt-thr must be in [0, 1], got {args.kpt_thr}')
    if args.radius < 0 or args.thickness < 1:
        parser.error('--radius must be >= 0 and --thickness >= 1')
    if not (args.show or args.out_video_root):
        parser.error('nothing to do: give --out-video-root and/or --show')
    if args.save_predictions and not args.out_video_root:
        parser.error('--save-predictions needs --out-video-root')
    args.prog = parser.prog
    return args


def _fail(prog: str, message: str, code: int = 1) -> NoReturn:
    """One ``<prog>: error: <message>`` line on stderr, then exit."""
    sys.stderr.write(f'{prog}: error: {message}\n')
    sys.exit(code)


def _check_files(args: argparse.Namespace) -> None:
    """Checks that need no heavy import, so they fail fast."""
    for what, path in (('video file', args.video_path),
                       ('pose config file', args.pose_config),
                       ('checkpoint file', args.pose_checkpoint)):
        if '://' in path and what == 'checkpoint file':
            _fail(args.prog, f'checkpoint {path}: only local files are '
                  'accepted (nothing is downloaded at run time)')
        if not osp.exists(path):
            _fail(args.prog, f'{what} not found: {path}')
        if not osp.isfile(path):
            _fail(args.prog, f'{what} is not a file: {path}')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    prog = args.prog
    _check_files(args)

    # mmengine imports pkg_resources, which warns on import
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
    import torch
    from tqdm import tqdm

    from custom_pose.apis import (CheckpointError, Display, ModelConfigError,
                                  PoseDrawer, ThreadedFrameReader,
                                  TopdownBatchInferencer, VideoSink,
                                  VideoSourceError, check_device,
                                  init_pose_model, open_video_file)
    from custom_pose.models.utils import prepare_for_inference

    try:
        source = open_video_file(args.video_path)
        device = check_device(args.device)
    except (VideoSourceError, ValueError) as exc:
        _fail(prog, str(exc))
    info = source.info
    if device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True  # fixed batch and input size

    try:
        model = init_pose_model(args.pose_config, args.pose_checkpoint,
                                device)
        prepare_for_inference(
            model, fuse_bn=args.fuse_conv_bn,
            channels_last=args.channels_last, amp=args.amp, inplace=True)
        inferencer = TopdownBatchInferencer(model, batch_size=args.batch_size)
        meta = model.dataset_meta
        drawer = PoseDrawer(
            meta, inferencer.num_keypoints, radius=args.radius,
            thickness=args.thickness, kpt_thr=args.kpt_thr)
    except (ModelConfigError, CheckpointError, ValueError) as exc:
        source.release()
        _fail(prog, str(exc))

    name = osp.basename(args.video_path)
    stem = osp.splitext(name)[0]
    out_video = out_json = None
    sink = None
    if args.out_video_root:
        out_video = osp.join(args.out_video_root, f'vis_{stem}.mp4')
        if args.save_predictions:
            out_json = osp.join(args.out_video_root, f'vis_{stem}.json')
        try:
            sink = VideoSink(out_video, info.fps, info.size)
        except (VideoSourceError, OSError) as exc:
            source.release()
            _fail(prog, str(exc))

    display = Display(
        f'{prog}: {name}', args.show,
        warn=lambda msg: sys.stderr.write(f'{prog}: warning: {msg}\n'))
    reader = ThreadedFrameReader(
        source, drop_stale=False, max_queue=2 * args.batch_size)
    records = []
    status = 0
    num_done = 0
    start = time.perf_counter()
    progress = tqdm(
        total=info.num_frames, unit='frame', desc='pose estimation',
        file=sys.stderr, dynamic_ncols=True)
    try:
        batch = []
        end_of_video = False
        quit_requested = False
        while not (end_of_video or quit_requested):
            packet = reader.get()
            if packet is None:
                end_of_video = True
            else:
                batch.append(packet.frame)
            if batch and (len(batch) == args.batch_size or end_of_video):
                keypoints, scores = inferencer.infer_frames(batch)
                for frame, kpts, kpt_scores in zip(batch, keypoints, scores):
                    drawer.draw(frame, kpts[None], kpt_scores[None])
                    if sink is not None:
                        sink.write(frame)
                    if out_json is not None:
                        records.append(
                            dict(
                                frame_id=num_done,
                                bbox=[0, 0, info.width, info.height],
                                keypoints=kpts.tolist(),
                                keypoint_scores=kpt_scores.tolist()))
                    num_done += 1
                    if display.show(frame):
                        quit_requested = True
                        break
                progress.update(len(batch))
                batch = []
    except KeyboardInterrupt:
        status = 130
    finally:
        progress.close()
        reader.stop()
        display.close()
        if sink is not None:
            sink.close()

    elapsed = time.perf_counter() - start
    if out_json is not None:
        keypoint_names = [
            meta.get('keypoint_id2name', {}).get(i, str(i))
            for i in range(inferencer.num_keypoints)
        ]
        os.makedirs(osp.dirname(osp.abspath(out_json)), exist_ok=True)
        with open(out_json, 'w') as f:
            json.dump(
                dict(
                    video=osp.abspath(args.video_path),
                    config=osp.abspath(args.pose_config),
                    checkpoint=osp.abspath(args.pose_checkpoint),
                    fps=info.fps,
                    width=info.width,
                    height=info.height,
                    num_frames=len(records),
                    num_keypoints=inferencer.num_keypoints,
                    keypoint_names=keypoint_names,
                    bbox_format='xyxy',
                    frames=records), f)
    fps = num_done / elapsed if elapsed > 0 else 0.0
    note = ' (interrupted)' if status == 130 else ''
    print(f'{prog}: {num_done} frames in {elapsed:.1f} s '
          f'({fps:.1f} frames/s) on {device}{note}')
    if out_video is not None:
        print(f'{prog}: video: {out_video}')
    if out_json is not None:
        print(f'{prog}: predictions: {out_json}')
    return status


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # while loading, before the frame loop
        sys.stderr.write(f'{osp.basename(sys.argv[0])}: interrupted\n')
        sys.exit(130)
