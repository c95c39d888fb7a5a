# Copyright (c) custom_pose contributors. All rights reserved.
"""The registry of benchmark sections and the table-cell helpers they share.

A section is a function taking the :class:`~..context.BenchmarkContext` and
returning its rows (a list, or a dict holding them), registered under its
name with :func:`register_section`, together with how its rows are shown::

    def run_my_section(ctx: BenchmarkContext) -> List[dict]:
        return [dict(model=name, ...) for name in ctx.opts.models_for(...)]

    def render_my_section(rows, number: int) -> List[str]:
        return ['', f'### {number}. My section', '', '| model | ... |', ...]

    register_section('my-section', run_my_section, render=render_my_section)

``--sections my-section`` then runs it; its rows go into the JSON report
under its name and its table into the Markdown, numbered in registration
order. ``ctx.opts.models_for('my-section')`` reads the section's default
models from :data:`~..specs.DEFAULT_MODELS` (``--models`` overrides them);
``default=False`` keeps a slow section out of a run that names none.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

#: rows measured while other processes used more cores than this are
#: marked in the Markdown
BUSY_FLAG = 0.3


@dataclass(frozen=True)
class Section:
    """A registered benchmark section.

    Attributes:
        name (str): Its name on the command line and in the JSON report.
        run (callable): ``run(ctx) -> rows`` (JSON-serialisable).
        render (callable, optional): ``render(rows, number) -> lines`` of
            Markdown, starting with the section's heading.
        summarize (callable, optional): ``summarize(rows) -> {what:
            figure}``: the headline figures of the report's summary.
        headline (callable, optional): ``headline(rows) -> {what: figure}``:
            the few of them shown in the README's summary.
        default (bool): Run when no sections are named.
    """
    name: str
    run: Callable[[Any], Any]
    render: Optional[Callable[[Any, int], List[str]]] = None
    summarize: Optional[Callable[[Any], Dict[str, str]]] = None
    headline: Optional[Callable[[Any], Dict[str, str]]] = None
    default: bool = True


#: name -> section, in registration (= run and report) order
SECTIONS: Dict[str, Section] = {}


def register_section(name: str,
                     run: Callable[[Any], Any],
                     *,
                     render: Optional[Callable[[Any, int],
                                               List[str]]] = None,
                     summarize: Optional[Callable[[Any],
                                                  Dict[str, str]]] = None,
                     headline: Optional[Callable[[Any],
                                                 Dict[str, str]]] = None,
                     default: bool = True) -> Section:
    """Register a section under ``name`` (see :class:`Section`).

    Raises:
        ValueError: If ``name`` is taken.
    """
    if name in SECTIONS:
        raise ValueError(f'benchmark section {name!r} is already registered')
    section = Section(name, run, render, summarize, headline, default)
    SECTIONS[name] = section
    return section


def section_number(name: str) -> int:
    """The number of a section's heading (its registration order, from 1)."""
    return list(SECTIONS).index(name) + 1


def default_sections() -> List[str]:
    """The sections run when none are named."""
    return [name for name, s in SECTIONS.items() if s.default]


def fmt(v: Optional[float], spec: str = '.2f') -> str:
    """A number for a table cell; ``-`` for a missing one."""
    return '-' if v is None else format(v, spec)


def busy_mark(row: dict) -> str:
    """`` *`` after rows measured on a busy machine (see
    :data:`BUSY_FLAG`)."""
    return ' *' if (row.get('foreign_load') or 0.0) > BUSY_FLAG else ''
