#!/usr/bin/env python
"""Convert Animal-Pose Part I (original ``keypoints.json``) to COCO keypoints.

The output uses mmpose's Animal-Pose keypoint order and names (what
``OrgAnimalPoseDataset`` produces and mmpose's ``AnimalPoseDataset`` /
``CocoMetric(ann_file=...)`` read), boxes as ``[x, y, w, h]``, ``area`` =
box area, ``v = 2`` for labelled keypoints, the release's category ids and
annotation ids = 1-based positions in the original ``annotations`` list.

Examples::

    python tools/dataset_converters/original2coco.py \\
        data/animalpose/keypoints.json data/animalpose/coco_all.json
    python tools/dataset_converters/original2coco.py \\
        data/animalpose/keypoints.json data/animalpose/coco_val.json \\
        --split val --split-ratio 0.8 --split-seed 0 --categories cat dog

Image ``width`` / ``height`` are read from the image headers in
``--img-dir`` (default: ``images/`` next to the input, else the input's
folder); images that cannot be read get none.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from custom_pose.datasets.animalpose_format import DEFAULT_SPLIT_RATIO
from custom_pose.utils import cli

PROG = 'original2coco.py'


def _is_coco(path: str) -> bool:
    data = cli.read_small_json(path)
    return cli.is_annotation_json(data) and isinstance(data['images'], list)


#: The output: an existing COCO file is replaced, another file (e.g. an
#: original-format keypoints.json) only with --overwrite.
COCO_JSON = cli.OutputKind('a COCO keypoint file', ('.json', ), _is_coco)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Convert an original-format Animal-Pose keypoints.json '
        'to a COCO keypoint json (mmpose keypoint order)')
    parser.add_argument('input', help='original-format keypoints.json')
    parser.add_argument('output', help='COCO-format json to write')
    parser.add_argument(
        '--img-dir',
        help='image folder, for image width/height (default: images/ next '
        'to the input, else the input\'s folder)')
    parser.add_argument(
        '--categories', nargs='+', help='keep only these categories')
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'all'],
        default='all',
        help='seeded image split to write (default: all)')
    parser.add_argument(
        '--split-ratio',
        type=float,
        default=DEFAULT_SPLIT_RATIO,
        help='fraction of the images in train (default: %(default)s, the '
        'dataset\'s own default)')
    parser.add_argument('--split-seed', type=int, default=0)
    parser.add_argument(
        '--split-file',
        help='file of image ids to write (JSON list or one per line); '
        'excludes --split')
    parser.add_argument(
        '--indent', type=int, default=None, help='JSON indentation')
    cli.add_overwrite_argument(parser)
    args = parser.parse_args(argv)
    if not 0.0 < args.split_ratio < 1.0:
        parser.error(f'--split-ratio must be in (0, 1), got {args.split_ratio}')
    if args.split_file is not None and args.split != 'all':
        parser.error('--split-file excludes --split train/val')
    return args


def _image_dir(args: argparse.Namespace, images: dict) -> Optional[str]:
    if args.img_dir is not None:
        return args.img_dir
    in_dir = osp.dirname(osp.abspath(args.input))
    first = next(iter(images.values()), None)
    for cand in (osp.join(in_dir, 'images'), in_dir):
        if first is not None and osp.isfile(osp.join(cand, first)):
            return cand
    return None


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from custom_pose.datasets.animalpose_coco import to_coco
    from custom_pose.datasets.animalpose_format import (
        AnimalPoseFormatError, dump_json, load_original, read_image_size)
    from custom_pose.datasets.splits import read_split_file, split_image_ids

    cli.check_input_file(args.input, 'input file')
    if args.split_file is not None:
        cli.check_input_file(args.split_file, '--split-file')
    cli.check_output_file(args.output, 'output file',
                          inputs=[args.input, args.split_file],
                          kind=COCO_JSON, overwrite=args.overwrite)
    annots = load_original(args.input)
    cat_ids = (
        annots.category_ids(args.categories) if args.categories else None)
    if args.split_file is not None:
        img_ids = read_split_file(args.split_file)
        unknown = [i for i in img_ids if i not in annots.images]
        if unknown:
            raise AnimalPoseFormatError(
                f'{args.split_file}: image id(s) {unknown[:5]} '
                f'({len(unknown)} in all) are not in {args.input}')
    else:
        img_ids = split_image_ids(annots.images, args.split,
                                  args.split_ratio, args.split_seed)
    img_dir = _image_dir(args, annots.images)
    sizes = {}
    if img_dir is not None:
        for img_id in img_ids:
            size = read_image_size(osp.join(img_dir, annots.images[img_id]))
            if size is not None:
                sizes[img_id] = size
    coco = to_coco(annots, img_ids, cat_ids, sizes)
    dump_json(coco, args.output, indent=args.indent)
    n_sized = sum(1 for img in coco['images'] if 'width' in img)
    print(f'{PROG}: wrote {args.output}: {len(coco["images"])} images '
          f'({n_sized} with width/height), {len(coco["annotations"])} '
          f'annotations, categories '
          f'{[c["name"] for c in coco["categories"]]}')
    if n_sized < len(coco['images']):
        print(
            f'{PROG}: warning: {len(coco["images"]) - n_sized} image(s) '
            'have no width/height (image files not found; pass --img-dir); '
            "mmpose's COCO-style datasets need them",
            file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
