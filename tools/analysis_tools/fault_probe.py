#!/usr/bin/env python
"""Probe the command-line tools with faults and bad input, as a new user
would, and print one table row per case: held or failed.

Example::

    python tools/analysis_tools/fault_probe.py --work-dir /tmp/probe

The cases (:mod:`custom_pose.benchmark.fault_cases`) run the real tools of
this checkout in subprocesses, on a small synthetic dataset, a 2-epoch
training run and an untrained checkpoint made in ``--work-dir``; nothing is
downloaded. About 10-15 minutes on 2 CPU cores. The exit status is 1 when a
case failed.
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile

from custom_pose.benchmark.fault_probe import (Probe, row_held, run_cases,
                                               table)
from custom_pose.utils import cli

PROG = 'fault_probe.py'


@cli.one_line_errors(PROG)
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=None,
                        help='an empty or new folder for the probe\'s files '
                        '(default: a temporary folder, removed at the end)')
    parser.add_argument('--cases', nargs='+', default=(), metavar='TEXT',
                        help='only the cases whose name contains one of '
                        'these texts')
    args = parser.parse_args(argv)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='fault_probe_')
    if osp.isdir(work_dir) and os.listdir(work_dir):
        cli.fail(PROG, f'--work-dir {work_dir} is not empty: give a new '
                 'folder')
    cli.check_output_dir(work_dir, '--work-dir')
    probe = Probe(work_dir)
    probe.setup()
    rows = run_cases(probe, args.cases,
                     echo=lambda row: print(row, flush=True))
    print('\n' + table(rows))
    if not args.work_dir:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0 if all(map(row_held, rows)) else 1


if __name__ == '__main__':
    sys.exit(main())
