"""Reading DeepLabCut ``CollectedData`` files into one table.

A ``CollectedData_<scorer>.csv`` has three header rows (``scorer``,
``bodyparts``, ``coords``), four in a multi-animal project (``scorer``,
``individuals``, ``bodyparts``, ``coords``), then one row per labelled
frame. The row index is one column (``labeled-data/<video>/img0042.png``,
DeepLabCut < 2.3) or three (``labeled-data``, ``<video>``,
``img0042.png``); an empty cell is an unlabelled body part. The ``.h5`` twin
holds the same pandas DataFrame (columns a MultiIndex of those levels) and
is read where pandas and PyTables are installed.

:func:`read_table` reads either into a :class:`LabelTable`;
:func:`project_files` finds the ``CollectedData`` file of every
``labeled-data`` folder of a project. What the columns mean (body parts,
individuals, unique body parts) is decided in :mod:`.deeplabcut_bodyparts`.
"""
import csv
import glob
import os.path as osp
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

from .common import KeypointFormatError

__all__ = [
    'COORDS', 'LabelTable', 'read_csv_table', 'read_h5_table',
    'table_from_frame', 'read_table', 'project_files'
]

#: The coordinate columns read (others, e.g. ``likelihood``, are skipped).
COORDS: Tuple[str, str] = ('x', 'y')


@dataclass
class LabelTable:
    """A ``CollectedData`` file, whatever its container (CSV or .h5).

    ``individuals``, ``bodyparts`` and ``coords`` give each value column's
    header (``individuals`` is None in a single-animal file); ``rows`` the
    image path of each row, ``values`` ``(rows, columns)`` with NaN for an
    empty cell and ``row_where`` each row's position for messages.
    """
    source: str
    individuals: Optional[List[str]]
    bodyparts: List[str]
    coords: List[str]
    rows: List[str]
    values: np.ndarray
    row_where: List[str]


def _check_levels(names: List[str], source: str, what: str) -> None:
    """The header levels of a single- or multi-animal CollectedData file."""
    if names not in (['scorer', 'bodyparts', 'coords'],
                     ['scorer', 'individuals', 'bodyparts', 'coords']):
        raise KeypointFormatError(
            f'{source}: not a DeepLabCut CollectedData file: {what} must be '
            'scorer, (individuals,) bodyparts, coords, got '
            f'{names or "none of them"}')


def _parse_value(cell: str, where: str) -> float:
    cell = cell.strip()
    if cell == '' or cell.lower() == 'nan':
        return float('nan')
    try:
        value = float(cell)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value):
        raise KeypointFormatError(
            f'{where}: {cell!r} is not a number; coordinates are numbers in '
            'pixels (leave the cell empty for an unlabelled body part)')
    return value


def read_csv_table(path: str) -> LabelTable:
    """Parse a ``CollectedData_*.csv`` (1 or 3 index columns)."""
    with open(path, newline='', encoding='utf-8-sig') as f:
        lines = list(csv.reader(f))
    levels: List[Tuple[str, List[str]]] = []
    lineno = 0
    while lineno < len(lines) and lines[lineno] and \
            lines[lineno][0].strip() in ('scorer', 'individuals',
                                         'bodyparts', 'coords'):
        levels.append((lines[lineno][0].strip(), lines[lineno]))
        lineno += 1
    _check_levels([name for name, _ in levels], path, 'the first rows')
    header = levels[0][1]
    n_index = 1
    while n_index < len(header) and header[n_index].strip() == '':
        n_index += 1
    width = len(header)
    if any(len(row) != width for _, row in levels):
        raise KeypointFormatError(
            f'{path}: the header rows have different lengths '
            f'{[len(row) for _, row in levels]}')
    # pandas writes a row of index names when the index levels are named
    if lineno < len(lines) and lines[lineno] and \
            all(c.strip() == '' for c in lines[lineno][n_index:]):
        lineno += 1
    column = {name: [c.strip() for c in row[n_index:]]
              for name, row in levels}
    rows, values, row_where = [], [], []
    for i in range(lineno, len(lines)):
        cells = lines[i]
        if not any(c.strip() for c in cells):
            continue
        where = f'{path}: line {i + 1}'
        if len(cells) != width:
            raise KeypointFormatError(
                f'{where}: {len(cells)} cells, the header has {width}; fix '
                'the row')
        parts = [c.strip() for c in cells[:n_index] if c.strip()]
        rows.append('/'.join(parts).replace('\\', '/'))
        values.append([
            _parse_value(
                c, f'{where}, column {n_index + j + 1} '
                f'({column["bodyparts"][j]} {column["coords"][j]})')
            for j, c in enumerate(cells[n_index:])
        ])
        row_where.append(where)
    return LabelTable(
        source=path,
        individuals=column.get('individuals'),
        bodyparts=column['bodyparts'],
        coords=column['coords'],
        rows=rows,
        values=np.asarray(values, dtype=np.float64).reshape(
            len(rows), width - n_index),
        row_where=row_where)


def table_from_frame(df: Any, source: str) -> LabelTable:
    """A ``CollectedData`` pandas DataFrame (the ``.h5`` files) as a
    :class:`LabelTable`."""
    cols = df.columns
    names = [str(n) for n in (cols.names or [])]
    _check_levels(names, source, 'the column levels')

    def level(name: str) -> List[str]:
        return [str(v) for v in cols.get_level_values(name)]

    rows = [('/'.join(str(p) for p in key) if isinstance(key, tuple) else
             str(key)).replace('\\', '/') for key in df.index]
    try:
        values = df.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise KeypointFormatError(
            f'{source}: a coordinate is not a number ({e}); coordinates are '
            'numbers in pixels') from None
    if np.isinf(values).any():
        r, c = np.argwhere(np.isinf(values))[0]
        raise KeypointFormatError(
            f'{source}: row {rows[r]!r}, column {cols[c]}: infinite '
            'coordinate')
    return LabelTable(
        source=source,
        individuals=level('individuals') if 'individuals' in names else None,
        bodyparts=level('bodyparts'),
        coords=level('coords'),
        rows=rows,
        values=values,
        row_where=[f'{source}: row {r!r}' for r in rows])


def read_h5_table(path: str) -> LabelTable:
    try:
        import pandas as pd
        import tables  # noqa: F401  (pandas' HDF5 backend)
    except ImportError:
        raise KeypointFormatError(
            f'{path}: reading DeepLabCut .h5 files needs pandas and PyTables '
            '(pip install pandas tables); or point ann_file at the '
            'CollectedData_*.csv beside it') from None
    return table_from_frame(pd.read_hdf(path), path)


def read_table(path: str) -> LabelTable:
    if path.endswith('.h5'):
        return read_h5_table(path)
    return read_csv_table(path)


def project_files(project: str, scorer: Optional[str]) -> List[str]:
    """The ``CollectedData`` file of every ``labeled-data/*`` folder."""
    files = []
    for folder in sorted(glob.glob(osp.join(project, 'labeled-data', '*'))):
        if not osp.isdir(folder):
            continue
        found = None
        names = [f'CollectedData_{scorer}.csv', f'CollectedData_{scorer}.h5'
                 ] if scorer else []
        for name in names:
            if osp.isfile(osp.join(folder, name)):
                found = osp.join(folder, name)
                break
        if found is None:
            others = sorted(glob.glob(osp.join(folder, 'CollectedData_*.csv'))
                            ) or sorted(
                                glob.glob(osp.join(folder,
                                                   'CollectedData_*.h5')))
            if len(others) > 1:
                raise KeypointFormatError(
                    f'{folder}: several CollectedData files {others} and '
                    f'none for config.yaml\'s scorer {scorer!r}; keep one or '
                    'set "scorer" in config.yaml')
            found = others[0] if others else None
        if found is not None:  # folders without labels are skipped
            files.append(found)
    if not files:
        raise KeypointFormatError(
            f'{project}: no labeled-data/*/CollectedData_*.csv (or .h5) in '
            'this DeepLabCut project; label frames first, or point ann_file '
            'at a CollectedData file')
    return files
