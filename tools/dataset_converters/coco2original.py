#!/usr/bin/env python
"""Convert a COCO keypoint json back to Animal-Pose's original format.

Keypoints are mapped by the names listed in each COCO category (mmpose's
``L_Eye`` ... or the release's ``left_eye`` ...) into the release's order;
``v > 0`` becomes 1, boxes become ``[xmin, ymin, xmax, ymax]``, images
become ``{"<id>": "<file name>"}`` and annotations are written in ``id``
order. The result loads with ``OrgAnimalPoseDataset``.

Example::

    python tools/dataset_converters/coco2original.py \\
        data/animalpose/coco_all.json data/animalpose/keypoints.json
"""
import argparse
import sys
from typing import List, Optional

from custom_pose.utils import cli

PROG = 'coco2original.py'


def _is_original(path: str) -> bool:
    data = cli.read_small_json(path)
    return cli.is_annotation_json(data) and isinstance(data['images'], dict)


#: The output: an existing original-format file is replaced, another file
#: (e.g. a COCO file) only with --overwrite.
ORIGINAL_JSON = cli.OutputKind('an original-format Animal-Pose file',
                               ('.json', ), _is_original)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Convert a COCO keypoint json to the original '
        'Animal-Pose keypoints.json format')
    parser.add_argument('input', help='COCO-format keypoint json')
    parser.add_argument('output', help='original-format json to write')
    parser.add_argument(
        '--indent', type=int, default=None, help='JSON indentation')
    cli.add_overwrite_argument(parser)
    return parser.parse_args(argv)


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from custom_pose.datasets.animalpose_coco import coco_to_original
    from custom_pose.datasets.file_io import dump_json, load_json
    cli.check_input_file(args.input, 'input file')
    cli.check_output_file(args.output, 'output file', inputs=[args.input],
                          kind=ORIGINAL_JSON, overwrite=args.overwrite)
    original = coco_to_original(load_json(args.input), args.input)
    dump_json(original, args.output, indent=args.indent)
    print(f'{PROG}: wrote {args.output}: {len(original["images"])} images, '
          f'{len(original["annotations"])} annotations, categories '
          f'{[c["name"] for c in original["categories"]]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
