#!/usr/bin/env python
"""Draw a pose dataset's ground truth (boxes + skeletons) into image files.

Either from a config (the dataset of ``<phase>_dataloader``) or straight
from an original-format Animal-Pose folder::

    python tools/misc/browse_dataset.py CONFIG --output-dir vis --phase val
    python tools/misc/browse_dataset.py --data-root data/animalpose \\
        --ann-file keypoints.json --output-dir vis --max-images 20

One file per image, with every instance of the image drawn in the
dataset's metainfo colours (:class:`custom_pose.apis.PoseDrawer`, as the
demos draw; it also works where mmpose 1.3.2's visualizer fails, on
numpy 2), written to ``<output-dir>/<image id>_<file name>``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from custom_pose.errors import (CustomPoseError, InputError,
                                ModelConfigError, config_build_errors)
from custom_pose.utils import cli

PROG = 'browse_dataset.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Write images with the ground-truth skeletons drawn')
    parser.add_argument(
        'config',
        nargs='?',
        help='config file; its <phase>_dataloader.dataset is browsed '
        '(omit it to browse an original-format folder with --data-root)')
    parser.add_argument(
        '--phase', choices=['train', 'val', 'test'], default='train',
        help='dataloader of the config to browse (default: train)')
    parser.add_argument(
        '--data-root', help='Animal-Pose folder (without a config)')
    parser.add_argument(
        '--ann-file',
        default='keypoints.json',
        help='original-format annotation file, relative to --data-root '
        '(default: keypoints.json)')
    parser.add_argument(
        '--img-prefix',
        help='image folder relative to --data-root (default: images/ if it '
        'exists, else the data root itself)')
    parser.add_argument(
        '--categories', nargs='+', help='browse only these categories')
    parser.add_argument(
        '--split', choices=['train', 'val', 'all'], default='all')
    parser.add_argument(
        '--split-ratio',
        type=float,
        help='fraction of the images in train (default: the dataset\'s)')
    parser.add_argument('--split-seed', type=int, default=0)
    parser.add_argument(
        '--output-dir', required=True, help='where to write the images')
    parser.add_argument(
        '--max-images',
        type=int,
        default=50,
        help='write at most this many images (default: 50)')
    parser.add_argument(
        '--no-bbox', action='store_true', help='do not draw the boxes')
    cli.add_cfg_options_argument(parser, 'data_root=DIR (with a config)')
    args = parser.parse_args(argv)
    if args.config is None and args.data_root is None:
        parser.error('give a CONFIG or --data-root')
    if args.max_images < 1:
        parser.error('--max-images must be >= 1')
    if args.split_ratio is not None and not 0.0 < args.split_ratio < 1.0:
        parser.error(f'--split-ratio must be in (0, 1), got {args.split_ratio}')
    return args


def _dataset_cfg(args: argparse.Namespace) -> dict:
    """The dataset config to build, in image-level (bottom-up) mode and
    without a pipeline."""
    from mmengine.registry import init_default_scope

    if args.config is not None:
        cfg = cli.load_config(args.config, args.cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmpose'))
        key = f'{args.phase}_dataloader'
        if key not in cfg or 'dataset' not in cfg[key]:
            raise ModelConfigError(f'{args.config}: has no {key}.dataset')
        ds_cfg = cfg[key].dataset.to_dict() if hasattr(
            cfg[key].dataset, 'to_dict') else dict(cfg[key].dataset)
        ds_cfg.pop('bbox_file', None)  # browse the ground truth
    else:
        cli.check_input_file(osp.join(args.data_root, args.ann_file),
                             'annotation file')
        init_default_scope('mmpose')
        img_prefix = args.img_prefix
        if img_prefix is None:
            img_prefix = 'images/' if osp.isdir(
                osp.join(args.data_root, 'images')) else ''
        ds_cfg = dict(
            type='OrgAnimalPoseDataset',
            data_root=args.data_root,
            ann_file=args.ann_file,
            data_prefix=dict(img=img_prefix),
            categories=args.categories,
            split=args.split,
            split_seed=args.split_seed)
        if args.split_ratio is not None:  # else the dataset's default
            ds_cfg['split_ratio'] = args.split_ratio
    ds_cfg.update(pipeline=[], data_mode='bottomup', test_mode=True)
    return ds_cfg


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    inputs = [('the config', args.config), ('the data root', args.data_root)]
    if args.config:
        inputs += cli.config_inputs(args.config)
    cli.check_output_dir(args.output_dir, '--output-dir', inputs)

    import cv2
    import numpy as np

    from custom_pose.apis import PoseDrawer, draw_bboxes
    from mmpose.registry import DATASETS

    with config_build_errors('the dataset'):
        dataset = DATASETS.build(_dataset_cfg(args))
    num_kpts = dataset.metainfo['num_keypoints']
    drawer = PoseDrawer(dataset.metainfo, num_kpts, radius=3, thickness=2)
    os.makedirs(args.output_dir, exist_ok=True)

    written = 0
    for idx in range(min(len(dataset), args.max_images)):
        item = dataset[idx]
        img = cv2.imread(item['img_path'], cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f'cannot read image {item["img_path"]}')
        # an image whose instances were all left out has no instance fields
        keypoints = item.get('keypoints', np.zeros((0, num_kpts, 2)))
        visible = np.asarray(
            item.get('keypoints_visible', np.zeros((0, num_kpts))),
            dtype=np.float32)
        if visible.ndim == 3:
            visible = visible[..., 0]
        if not args.no_bbox:
            bboxes = np.asarray(item.get('bbox', np.zeros((0, 4))),
                                dtype=np.float32).reshape(-1, 4)
            draw_bboxes(img, bboxes, [''] * len(bboxes), thickness=2)
        drawer.draw(img, keypoints, visible)
        out_file = osp.join(args.output_dir,
                            f'{item["img_id"]}_{osp.basename(item["img_path"])}')
        if not cv2.imwrite(out_file, img):
            raise CustomPoseError(f'cannot write {out_file}')
        written += 1
    print(f'{PROG}: wrote {written} image(s) to {args.output_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
