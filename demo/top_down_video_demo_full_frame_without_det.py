# Copyright (c) custom_pose contributors. All rights reserved.
"""Top-down pose estimation on a video without a detector.

``--box-mode`` picks the box each frame is estimated in. ``full-frame``:
the whole frame (or ``--roi X1,Y1,X2,Y2``) in every frame, for a clip whose
animal (or person) fills the frame. ``track`` (also ``--track-box``): the
box of the previous frame's pose (enlarged), for a smaller animal; the
first box, and the fallback when the pose is lost, comes from a search of
the frame (or ROI) with windows (``--search-scales``). ``auto``, the
default, searches the first 5 frames for the animal and takes ``track``
where its keypoints span less than half of the frame (the larger side of
their box over the frame's larger side), else ``full-frame``; it prints its
choice and the JSON keeps it (``tracking.box_decision``). Poses get track
ids; ``--smooth oneeuro|savgol|gaussian`` smooths them over time.
``--backend onnxruntime --onnx model.onnx`` runs an exported model
(``tools/deployment/pytorch2onnx.py``). Details:
``docs/tracking_and_onnx.md``.

Frames are decoded in a background thread and, with the whole frame or the
ROI as the box, go through the model in batches of ``--batch-size``
(lowered, with a warning, to what fits in a quarter of the available
memory): each frame is warped to the model input (the warp matrix is
computed once per frame size) straight into one reusable batch buffer, the
batch is normalised on the device, the flip test runs as one forward pass
and the heatmaps of the batch are decoded at once (see
``custom_pose.apis.TopdownBatchInferencer``). By default the BatchNorm
layers are folded into the convs and the model runs channels-last, both in
fp32 (``--no-fuse-conv-bn``, ``--no-channels-last`` turn them off);
``--amp`` adds bf16 (CPU) / fp16 (CUDA) autocast. The loop is
:func:`custom_pose.apis.run_video`.

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
     "backend": "pytorch", "onnx": null, "tracking": {"box_mode": "auto",
     "track_box": ..., "box_decision": {"mode": "start" | "track", "fill":
     ..., "reason": ..., ...}, "roi": ..., "smooth": ..., ...},
     "frames_decoded": N,
     "undecodable_frames": [...],
     "frames": [{"frame_id": 0, "instances": [{"track_id": 0,
                 "bbox": [x1, y1, x2, y2], "bbox_source": "full_frame",
                 "keypoints": [[x, y] x K], "keypoints_raw": [[x, y] x K],
                 "keypoint_scores": [s x K]}]}, ...]}

``frame_id`` is the frame's index in the video (a frame that does not
decode is left out, and reported, without renumbering the rest);
``tracking.track_box`` says whether the box followed the pose (``--box-mode
track``, or ``auto`` choosing it: ``box_decision.mode`` ``track``, with the
median ``fill`` of the frame the keypoints spanned);
``bbox_source`` is ``full_frame``, ``roi``, ``search`` or ``propagated``;
``keypoints`` are smoothed (equal to ``keypoints_raw`` with ``--smooth
none``).

The outputs are whole or absent: the video is written under a temporary
name beside it (``.vis_clip.mp4.<random>.tmp.mp4``) and renamed when it is
finished (also after Ctrl-C; removed after an error); the JSON is written
at the end, and while the demo runs the frames done so far are written
every 100 frames or 5 seconds to ``vis_clip.partial.json`` (the same
layout, with ``"partial": true``; removed when the JSON is written), which
a killed run leaves behind. Numbers that JSON cannot hold (NaN) are
written as ``null``.

Exit status: 0 on success (also when q/Esc closes the window early), 1 for
a bad input (missing/unreadable video, missing or incompatible checkpoint,
keypoint-count mismatch; one ``<prog>: error: ...`` line), 2 for bad
arguments, 130 when interrupted with Ctrl-C (the output written so far is
finalised and kept).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from custom_pose.utils import cli

PROG = osp.basename(__file__)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description='Top-down pose estimation on every frame of '
        'a video without a detector: the whole frame (or --roi) as the box, '
        'or a box that follows the animal (--box-mode; by default decided '
        'from the first frames).')
    parser.add_argument('pose_config', help='pose model config file')
    parser.add_argument('pose_checkpoint', help='pose model checkpoint file')
    parser.add_argument(
        '--video-path', '--video_path', required=True, help='input video')
    parser.add_argument(
        '--out-video-root', '--out_video_root', default='',
        help='directory for vis_<video name> (and the predictions JSON); '
        'no video is written without it')
    cli.add_device_argument(parser)
    cli.add_drawing_arguments(parser)
    parser.add_argument(
        '--batch-size', '--batch_size', type=int, default=16,
        help='frames per forward pass')
    parser.add_argument(
        '--save-predictions', '--save_predictions', action='store_true',
        help='also write vis_<video stem>.json with each frame\'s poses '
        '(track id, box and its source, raw and smoothed keypoints, '
        'scores) next to the video (needs --out-video-root)')
    cli.add_inference_path_arguments(
        parser, 'numeric paths (tools/analysis_tools/benchmark.py --sections '
        'video measures each against mmpose\'s per-frame inference_topdown)')
    cli.add_tracking_arguments(parser, detector=False)
    cli.add_backend_arguments(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    cli.check_drawing_arguments(parser, args)
    if not (args.show or args.out_video_root):
        parser.error('nothing to do: give --out-video-root and/or --show')
    if args.save_predictions and not args.out_video_root:
        parser.error('--save-predictions needs --out-video-root')
    cli.check_backend_arguments(parser, args)
    args.tracking = cli.tracking_options(parser, args)
    return args


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cli.check_input_file(args.video_path, 'video file')
    cli.check_input_file(args.pose_config, 'pose config file')
    cli.check_input_file(args.pose_checkpoint, 'checkpoint file')
    if args.onnx:
        cli.check_input_file(args.onnx, 'ONNX model file')
    if args.out_video_root:
        cli.check_output_dir(args.out_video_root, '--out-video-root')
        from custom_pose.apis.video_loop import video_outputs
        inputs = [args.video_path, args.pose_config, args.pose_checkpoint,
                  args.onnx]
        for path in video_outputs(args.video_path, args.out_video_root,
                                  args.save_predictions):
            cli.check_output_file(path, '--out-video-root output', inputs)

    from custom_pose.apis import run_video
    stats = run_video(
        args.pose_config, args.pose_checkpoint, args.video_path,
        out_video_root=args.out_video_root,
        save_predictions=args.save_predictions, device=args.device,
        batch_size=args.batch_size, show=args.show, kpt_thr=args.kpt_thr,
        radius=args.radius, thickness=args.thickness,
        fuse_conv_bn=args.fuse_conv_bn, channels_last=args.channels_last,
        amp=args.amp, window_name=f'{PROG}: {osp.basename(args.video_path)}',
        warn=lambda msg: sys.stderr.write(f'{PROG}: warning: {msg}\n'),
        tracking=args.tracking, backend=args.backend, onnx=args.onnx,
        on_box_mode=lambda decision: cli.print_box_mode(PROG, decision,
                                                        detector=False))
    if stats.decode_report:
        print(f'{PROG}: {stats.decode_report}')
    note = ' (interrupted)' if stats.interrupted else ''
    print(f'{PROG}: {stats.frames_done} frames in {stats.seconds:.1f} s '
          f'({stats.fps:.1f} frames/s) on {stats.device}, '
          f'{stats.backend}{note}')
    if stats.out_video is not None:
        print(f'{PROG}: video: {stats.out_video}')
    if stats.out_json is not None:
        print(f'{PROG}: predictions: {stats.out_json}')
    return 130 if stats.interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
