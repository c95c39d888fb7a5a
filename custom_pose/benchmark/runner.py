# Copyright (c) custom_pose contributors. All rights reserved.
"""Running a benchmark: the selected sections in order, the machine's
description, and the report files (``benchmark.json``, ``benchmark.md``)."""
import datetime
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from custom_pose.utils.atomic_io import write_text_atomic
from .context import BenchmarkContext, Options
from .report import render_markdown, summarize_sections
from .sections import SECTIONS, default_sections


def machine_info(device: str) -> dict:
    """CPU model, cores, memory, GPU and library versions."""
    import mmcv
    import mmengine

    import mmpose
    cpu_model, flags = '', set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and not cpu_model:
                    cpu_model = line.split(':', 1)[1].strip()
                elif line.startswith('flags') and not flags:
                    flags = set(line.split(':', 1)[1].split())
    except OSError:
        pass
    cpu_model = cpu_model or platform.processor() or 'unknown CPU'
    mem_gb = None
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal'):
                    mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    info = dict(
        cpu=cpu_model,
        cpu_flags=sorted(flags & {'avx2', 'avx512f', 'avx512_bf16',
                                  'amx_bf16', 'amx_int8', 'amx_tile'}),
        logical_cores=os.cpu_count(),
        memory_gb=mem_gb,
        os=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        mkldnn=torch.backends.mkldnn.is_available(),
        mmengine=mmengine.__version__,
        mmcv=mmcv.__version__,
        mmpose=mmpose.__version__,
        device=device)
    if torch.device(device).type == 'cuda' and torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
        info['cuda'] = torch.version.cuda
        info['cudnn'] = torch.backends.cudnn.version()
    return info


def _load_avg() -> Optional[List[float]]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run_benchmark(opts: Options, command: str = '') -> dict:
    """Run the selected sections (``opts.sections``, by registered name, in
    registration order; every default section if ``None``); write
    ``benchmark.json`` and ``benchmark.md`` into ``opts.out_dir``; return
    the report.

    Raises:
        ValueError: For an unknown section, an unavailable device or a bad
            setting.
        FileNotFoundError: For a missing config folder, config or
            checkpoint.
    """
    if opts.sections is None:
        opts.sections = tuple(default_sections())
    unknown = set(opts.sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f'unknown section(s) {sorted(unknown)}; known: '
                         f'{list(SECTIONS)}')
    if opts.quick:
        opts.apply_quick()
    if torch.device(opts.device).type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError('--device cuda: no CUDA GPU is available')
        torch.backends.cudnn.benchmark = opts.cudnn_benchmark
    if opts.threads is not None and opts.threads < 1:
        raise ValueError(f'threads: must be >= 1, got {opts.threads}')
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    log_level = logger.level
    threads = torch.get_num_threads()
    logger.setLevel('WARNING')  # init_weights logs every parameter
    try:
        if opts.threads is not None:
            torch.set_num_threads(opts.threads)
        return _run(opts, command)
    finally:
        logger.setLevel(log_level)
        torch.set_num_threads(threads)


def _run(opts: Options, command: str) -> dict:
    ctx = BenchmarkContext(opts)
    report: Dict[str, Any] = dict(
        schema=1,
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        command=command,
        machine=machine_info(opts.device),
        load_avg_start=_load_avg(),
        settings=dict(asdict(opts), threads=torch.get_num_threads()),
        sections={})
    t0 = time.perf_counter()
    for name, section in SECTIONS.items():
        if name in opts.sections:
            t_sec = time.perf_counter()
            report['sections'][name] = section.run(ctx)
            report.setdefault('section_seconds', {})[name] = round(
                time.perf_counter() - t_sec, 1)
    report['seconds'] = round(time.perf_counter() - t0, 1)
    report['load_avg_end'] = _load_avg()
    report['summary'] = summarize_sections(report['sections'])
    out = Path(opts.out_dir)
    write_text_atomic(str(out / 'benchmark.json'),
                      json.dumps(report, indent=1))
    write_text_atomic(str(out / 'benchmark.md'), render_markdown(report))
    return report
