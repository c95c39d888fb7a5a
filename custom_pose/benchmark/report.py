# Copyright (c) custom_pose contributors. All rights reserved.
"""The benchmark report as Markdown: the tables of every section, the
summary, the README's short summary, and writing them into the docs.

Everything here works from the report dict (what ``benchmark.json``
holds), so a saved report can be rendered again without measuring:
:func:`load_report` reads one.
"""
import json
import os
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional

from custom_pose.utils.atomic_io import write_text_atomic
from .sections import SECTIONS, section_number
from .sections.base import BUSY_FLAG
from .specs import MIN_TRAIN_GRAD_COSINE
from .timing import OP_CLASSES

#: the generated block of ``docs/benchmark.md``
DOCS_START = '<!-- benchmark:start -->'
DOCS_END = '<!-- benchmark:end -->'
#: the summary block of ``README.md``
SUMMARY_START = '<!-- benchmark-summary:start -->'
SUMMARY_END = '<!-- benchmark-summary:end -->'


def summarize_sections(sections: dict) -> Dict[str, str]:
    """The report's summary: each section's headline figures (its
    ``summarize``), in section order."""
    out: Dict[str, str] = {}
    for name, section in SECTIONS.items():
        if sections.get(name) and section.summarize is not None:
            out.update(section.summarize(sections[name]))
    return out


def _list_rows(sections: dict) -> List[tuple]:
    """(section, row) of the sections whose result is a list of rows."""
    return [(name, r) for name, rows in sections.items()
            if isinstance(rows, list) for r in rows]


def _header(report: dict) -> List[str]:
    m = report['machine']
    s = report['settings']
    return [
        '## Benchmark: custom_pose vs mmpose built-ins',
        '',
        f'Machine: {m["cpu"]}, {m["logical_cores"]} logical cores'
        + (f', {m["memory_gb"]} GB' if m.get('memory_gb') else '')
        + (f', {", ".join(m["cpu_flags"])}' if m.get('cpu_flags') else '')
        + (f'; GPU {m["gpu"]}' if m.get('gpu') else '') + '.',
        f'Software: torch {m["torch"]} ({s["threads"]} threads), mmpose '
        f'{m["mmpose"]}, mmengine {m["mmengine"]}, mmcv {m["mmcv"]}, Python '
        f'{m["python"]}. Device: {s["device"]}. Load average at start / end:'
        f' {report.get("load_avg_start")} / {report.get("load_avg_end")}.',
        f'Run: {report["created"]}, `{report["command"]}`; medians of '
        f'{s["iters"]}+ timed iterations after {s["warmup"]} warm-up, the '
        'two sides interleaved.',
        '',
        'Ratio = ours / mmpose at the same numeric path (> 1: ours '
        'faster; the JSON also has `ratio_per_flop`, weighted by the two '
        'models\' FLOPs, which differ for the hourglass pair only); "vs '
        'mmpose fp32" = ours on that path / mmpose on its plain fp32 path. '
        'Paths: `fp32` plain; `fuse` BN folded into convs; `cl` '
        'channels-last; `bf16` CPU autocast; `fp16` CUDA autocast. Checks '
        'of a fast path against ours at fp32: keypoint distance in '
        'model-input pixels (mean, max; goal: mean < 1 px) for inference, '
        'relative loss difference and gradient cosine for training (goal: '
        f'cosine >= {MIN_TRAIN_GRAD_COSINE}; "fails" marks a miss). Summary '
        'figures of fast paths count only rows whose check passes.',
    ]


def _load_note(sections: dict) -> List[str]:
    loads = [
        r['foreign_load'] for _, r in _list_rows(sections)
        if r.get('foreign_load') is not None
    ]
    if not loads:
        return []
    busy = sum(1 for v in loads if v > BUSY_FLAG)
    return [
        '', f'Other processes used {min(loads):.2f} .. {max(loads):.2f} '
        'cores (average over each measurement; rows above '
        f'{BUSY_FLAG} are marked *): {busy} of {len(loads)} rows marked.'
    ]


def _profiles(sections: dict) -> List[str]:
    profiles = [(sec, r) for sec, r in _list_rows(sections)
                if r.get('profile')]
    if not profiles:
        return []
    lines = [
        '', '### Profiles (one call, self CPU time per operator class)', '',
        '| row | side | total ms | ' + ' | '.join(c for c, _ in OP_CLASSES)
        + ' | other | top operators |',
        '|---|---|---|' + '---|' * (len(OP_CLASSES) + 2)
    ]
    for sec, r in profiles:
        what = (f'{sec} {r["model"]} {r["variant"]} batch {r["batch"]}' +
                (f' flip {"yes" if r["flip_test"] else "no"}'
                 if 'flip_test' in r else ''))
        for side, prof in r['profile'].items():
            total = prof['total_ms']
            shares = ' | '.join(
                f'{100 * prof["classes"].get(c, 0.0) / total:.0f}%'
                for c, _ in OP_CLASSES + (('other', ()), ))
            ops = ', '.join(f'{p["op"].replace("aten::", "")} '
                            f'{100 * p["share"]:.0f}%'
                            for p in prof['top'][:4])
            lines.append(f'| {what} | {side} | {total:.0f} | {shares} | '
                         f'{ops} |')
    return lines


def render_markdown(report: dict) -> str:
    """The report as Markdown: the run's header, each section's tables (in
    section order), the operator profiles and the summary."""
    sections = report['sections']
    lines = _header(report) + _load_note(sections)
    for name, section in SECTIONS.items():
        if name in sections and section.render is not None:
            lines += section.render(sections[name], section_number(name))
    lines += _profiles(sections)
    summary = report.get('summary')
    if summary:
        lines += ['', '### Summary', '']
        lines += [f'- {k}: {v}' for k, v in summary.items()]
    return '\n'.join(lines) + '\n'


def render_readme_summary(report: dict,
                          docs_link: str = 'docs/benchmark.md') -> str:
    """The README's short summary of a report (about 10 lines): the run,
    and the headline figures of each section (its ``headline``) with a
    link to the full tables at ``docs_link``."""
    m = report['machine']
    s = report['settings']
    figures: Dict[str, str] = {}
    for name, section in SECTIONS.items():
        if report['sections'].get(name) and section.headline is not None:
            figures.update(section.headline(report['sections'][name]))
    gpu = f', GPU {m["gpu"]}' if m.get('gpu') else ''
    lines = [
        f'Latest run: {report["created"][:10]}, {m["cpu"]} '
        f'({m["logical_cores"]} logical cores{gpu}), torch {m["torch"]}, '
        f'{s["threads"]} threads, device {s["device"]}. Ratio = ours / '
        'mmpose (> 1: ours faster); a fast path counts only where its '
        'check against fp32 passes. All tables, profiles and the command: '
        f'[{osp.basename(docs_link)}]({docs_link}).'
    ]
    if figures:
        lines += ['', '| measurement | ours / mmpose |', '|---|---|']
        lines += [f'| {k} | {v} |' for k, v in figures.items()]
    return '\n'.join(lines) + '\n'


def load_report(path: str) -> dict:
    """A saved ``benchmark.json``, its summary computed again from its
    sections (the summary rules of this version).

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If the file is not a benchmark report.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file')
    try:
        report = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not JSON ({exc})') from None
    missing = [
        k for k in ('machine', 'settings', 'sections', 'created', 'command')
        if not isinstance(report, dict) or k not in report
    ]
    if missing:
        raise ValueError(f'{path}: not a benchmark report (no '
                         f'{", ".join(missing)})')
    report['summary'] = summarize_sections(report['sections'])
    return report


def check_marked_block(path: str, start: str, end: str) -> None:
    """Check that ``path`` is a writable file with a ``start`` ... ``end``
    block (before a long run writes it).

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If it lacks the two markers (in this order) or is not
            writable.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file')
    text = Path(path).read_text()
    at_start, at_end = text.find(start), text.find(end)
    if at_start < 0 or at_end < at_start:
        raise ValueError(
            f'{path}: no "{start}" ... "{end}" block to put the benchmark '
            'output in; add the two lines where it goes')
    if not os.access(path, os.W_OK):
        raise ValueError(f'{path}: not writable')


def replace_marked_block(path: str, start: str, end: str, body: str) -> None:
    """Replace the text between the lines ``start`` and ``end`` of
    ``path`` with ``body`` (see :func:`check_marked_block` for the
    errors)."""
    check_marked_block(path, start, end)
    text = Path(path).read_text()
    at_start, at_end = text.find(start), text.find(end)
    write_text_atomic(path, text[:at_start + len(start)] + '\n' + body +
                      text[at_end:])


def check_docs(docs_file: str, readme_file: Optional[str] = None) -> None:
    """Check the targets of :func:`write_docs` (see
    :func:`check_marked_block`)."""
    check_marked_block(docs_file, DOCS_START, DOCS_END)
    if readme_file is not None:
        check_marked_block(readme_file, SUMMARY_START, SUMMARY_END)


def write_docs(report: dict, docs_file: str,
               readme_file: Optional[str] = None) -> None:
    """Put the tables of ``report`` into ``docs_file`` (between
    :data:`DOCS_START` / :data:`DOCS_END`) and its short summary, with a
    link to ``docs_file``, into ``readme_file`` (between
    :data:`SUMMARY_START` / :data:`SUMMARY_END`).

    Both files are checked before either is written.
    """
    check_docs(docs_file, readme_file)
    replace_marked_block(docs_file, DOCS_START, DOCS_END,
                         render_markdown(report))
    if readme_file is not None:
        link = Path(osp.relpath(docs_file, osp.dirname(
            osp.abspath(readme_file)))).as_posix()
        replace_marked_block(readme_file, SUMMARY_START, SUMMARY_END,
                             render_readme_summary(report, link))
