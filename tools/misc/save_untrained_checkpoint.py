#!/usr/bin/env python
"""Save a config's model as training starts it, for ``tools/test.py``.

The "before" of a training run: the weights ``tools/train.py --seed S``
starts from, evaluated like any checkpoint.

Example::

    python tools/misc/save_untrained_checkpoint.py \\
        configs/custom/custom_res18_keypoints_128x128.py untrained.pth \\
        --cfg-options data_root=data/mouse/deeplabcut
    python tools/test.py configs/custom/custom_res18_keypoints_128x128.py \\
        untrained.pth --cfg-options data_root=data/mouse/deeplabcut
"""
import argparse
import sys
from typing import List, Optional

from custom_pose.utils import cli

PROG = 'save_untrained_checkpoint.py'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Save a config's model as training starts it")
    parser.add_argument('config', help='config file path')
    parser.add_argument('out', help='checkpoint file to write')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    cli.add_cfg_options_argument(parser, "data_root=DIR")
    cli.add_overwrite_argument(parser)
    return parser.parse_args(argv)


#: The output: an existing .pth is replaced, another file only with
#: --overwrite.
CHECKPOINT = cli.OutputKind('a checkpoint', ('.pth', ))


@cli.one_line_errors(PROG)
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from custom_pose.apis import save_untrained_checkpoint
    from custom_pose.utils.atomic_io import (commit_temp_path,
                                             discard_temp_path,
                                             named_os_error,
                                             reserve_temp_path)
    cli.check_input_file(args.config, 'config file')
    cfg = cli.load_config(args.config, args.cfg_options)
    cli.check_output_file(args.out, 'output file',
                          inputs=cli.config_inputs(cfg, args.config),
                          kind=CHECKPOINT, overwrite=args.overwrite)
    # all-or-nothing: saved beside the target, then renamed over it
    tmp = reserve_temp_path(args.out, suffix='.tmp.pth')
    try:
        save_untrained_checkpoint(cfg, tmp, seed=args.seed)
        commit_temp_path(tmp, args.out)
    except OSError as exc:
        raise named_os_error(exc, args.out) from None
    finally:
        discard_temp_path(tmp)
    print(f'{PROG}: wrote {args.out} (seed {args.seed})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
