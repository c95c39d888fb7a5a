"""Generate the synthetic Animal-Pose dataset (original release format),
and DeepLabCut / SLEAP / COCO projects of their own keypoints.

Example::

    python tools/make_synthetic_animalpose.py \\
        --out-dir data/animalpose_synthetic --num-images 500 --seed 0
    python tools/make_synthetic_animalpose.py --out-dir data/mouse \\
        --num-images 120 --no-clip --formats deeplabcut
    #  -> data/mouse/deeplabcut/config.yaml (4 body parts of its own)

Writes ``<out-dir>/images/*.jpg``, ``<out-dir>/keypoints.json`` (format
``animalpose``, the default) and (unless ``--no-clip``) ``<out-dir>/clip.mp4``
+ ``<out-dir>/clip_keypoints.json``; ``--arena-clip`` adds ``arena_clip.mp4`` +
``arena_clip_keypoints.json`` (two small animals crossing a 640x480 frame,
ground truth with track ids); ``--formats`` adds ``deeplabcut/``,
``deeplabcut_multi/``, ``labels.pkg.slp`` and ``coco_keypoints.json``. See
:mod:`custom_pose.datasets.synthetic` for the formats. The same seed and
arguments always give the same files, listed with their sizes and
SHA-256 in ``<out-dir>/.synthetic_files.json``: ``--overwrite`` removes only
those that are unchanged, and a non-empty ``--out-dir`` without that list is
refused.
"""
import argparse
import os.path as osp
import sys

from custom_pose.datasets.synthetic import (CATEGORY_IDS, LAYOUTS,
                                            generate_synthetic_animalpose)
from custom_pose.errors import CustomPoseError
from custom_pose.utils import cli

PROG = 'make_synthetic_animalpose.py'

# default output: <repo root>/data/animalpose_synthetic, independent of cwd
_DEFAULT_OUT = osp.join(
    osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
    'animalpose_synthetic')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Generate a seeded synthetic Animal-Pose dataset '
        '(keypoints.json + images/ + clip.mp4) in the original release '
        'format.')
    parser.add_argument(
        '--out-dir',
        default=_DEFAULT_OUT,
        help='output directory (default: %(default)s)')
    parser.add_argument(
        '--num-images',
        type=int,
        default=500,
        help='number of images (default: %(default)s)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=('WIDTH', 'HEIGHT'),
        help='image width and height (default: 256 256)')
    parser.add_argument(
        '--max-animals',
        type=int,
        default=1,
        help='animals per image are uniform in [1, MAX_ANIMALS] '
        '(default: 1)')
    parser.add_argument(
        '--categories',
        nargs='+',
        choices=sorted(CATEGORY_IDS),
        default=None,
        help='animal categories to draw (default: all five)')
    parser.add_argument(
        '--occlusion-prob',
        type=float,
        default=0.3,
        help='per-animal probability of an occluder (default: 0.3)')
    parser.add_argument(
        '--truncation-prob',
        type=float,
        default=0.15,
        help='per-animal probability of being partly outside the image '
        '(default: 0.15)')
    parser.add_argument(
        '--no-clip',
        action='store_true',
        help='do not write clip.mp4 / clip_keypoints.json')
    parser.add_argument(
        '--clip-frames',
        type=int,
        default=64,
        help='clip length in frames (default: 64)')
    parser.add_argument(
        '--clip-fps',
        type=int,
        default=25,
        help='clip frame rate (default: 25)')
    parser.add_argument(
        '--clip-size',
        type=int,
        nargs=2,
        default=None,
        metavar=('WIDTH', 'HEIGHT'),
        help='clip frame size, both even (default: --image-size)')
    parser.add_argument(
        '--arena-clip',
        action='store_true',
        help='also write arena_clip.mp4 / arena_clip_keypoints.json: two '
        'small animals (about a fifth of the frame width) walking across a '
        'large frame and crossing, ground truth with track ids')
    parser.add_argument(
        '--arena-frames',
        type=int,
        default=96,
        help='arena clip length in frames (default: %(default)s)')
    parser.add_argument(
        '--arena-size',
        type=int,
        nargs=2,
        default=(640, 480),
        metavar=('WIDTH', 'HEIGHT'),
        help='arena clip frame size, both even (default: 640 480)')
    parser.add_argument(
        '--jpeg-quality',
        type=int,
        default=95,
        help='JPEG quality 1-100 (default: 95)')
    parser.add_argument(
        '--formats',
        default='animalpose',
        help='comma-separated: what to write besides images/, some of '
        f'{",".join(LAYOUTS)} (default: %(default)s; deeplabcut: a '
        'single-animal DeepLabCut project of the images with one animal, '
        'deeplabcut_multi: a multi-animal one of all images)')
    parser.add_argument(
        '--no-progress', action='store_true', help='hide the progress bar')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace a dataset generated into --out-dir before: the files '
        'its .synthetic_files.json lists are removed first where they are '
        'unchanged (changed ones are kept and named); without it such a '
        'folder is refused, and so is, always, a non-empty folder without '
        'that list')
    return parser.parse_args(argv)


@cli.one_line_errors(PROG)
def main(argv=None) -> int:
    args = parse_args(argv)
    cli.check_output_dir(args.out_dir, '--out-dir')
    try:
        summary = generate_synthetic_animalpose(
            args.out_dir,
            num_images=args.num_images,
            seed=args.seed,
            image_size=tuple(args.image_size),
            max_animals=args.max_animals,
            categories=args.categories,
            occlusion_prob=args.occlusion_prob,
            truncation_prob=args.truncation_prob,
            with_clip=not args.no_clip,
            clip_frames=args.clip_frames,
            clip_fps=args.clip_fps,
            clip_size=tuple(args.clip_size) if args.clip_size else None,
            with_arena_clip=args.arena_clip,
            arena_frames=args.arena_frames,
            arena_size=tuple(args.arena_size),
            jpeg_quality=args.jpeg_quality,
            formats=args.formats,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            warn=lambda msg: sys.stderr.write(f'{PROG}: warning: {msg}\n'))
    except CustomPoseError:  # an output folder holding a dataset
        raise
    except ValueError as err:  # argument values the generator refuses
        cli.print_error(PROG, str(err))
        return 2
    clip = summary['clip']
    clip_msg = (f', clip {clip["num_frames"]} frames -> {clip["video"]}'
                if clip else '')
    arena = summary['arena_clip']
    if arena:
        clip_msg += (f', arena clip {arena["num_frames"]} frames '
                     f'({arena["two_animal_frames"]} with two animals) -> '
                     f'{arena["video"]}')
    print(f'\nwrote {summary["num_images"]} images / '
          f'{summary["num_annotations"]} animals / '
          f'{summary["num_visible_keypoints"]} visible keypoints to '
          f'{summary["out_dir"]} in {summary["seconds"]:.1f}s '
          f'({summary["images_per_second"]:.1f} img/s){clip_msg}')
    for fmt, info in summary['formats'].items():
        print(f'{fmt}: {info["path"]} ({info["images"]} images, '
              f'{info["instances"]} animals)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
