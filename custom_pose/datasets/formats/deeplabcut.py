"""DeepLabCut projects: ``config.yaml`` + ``labeled-data/*/CollectedData_*``.

A DeepLabCut project folder holds::

    config.yaml                      # Task, scorer, bodyparts, skeleton, ...
    labeled-data/<video>/img0042.png
    labeled-data/<video>/CollectedData_<scorer>.csv   (and .h5)

``config.yaml`` names the body parts (``bodyparts``; in a multi-animal
project ``multianimalbodyparts``, ``uniquebodyparts`` and ``individuals``)
and optionally a ``skeleton`` of name pairs. Each ``CollectedData`` file has
three header rows (``scorer``, ``bodyparts``, ``coords``), four in a
multi-animal project (``scorer``, ``individuals``, ``bodyparts``,
``coords``), then one row per labelled frame. The row index is either one
column (``labeled-data/<video>/img0042.png``, DeepLabCut < 2.3) or three
(``labeled-data``, ``<video>``, ``img0042.png``). An empty cell is an
unlabelled body part. The ``.h5`` twin of the CSV (a pandas DataFrame) is
read where pandas and PyTables are installed; the CSV is preferred.

Reading rules:

- keypoints are the ``config.yaml`` body parts in its order (without a
  ``config.yaml``, the first CSV's body parts in column order);
- the body parts of every file must equal ``config.yaml``'s;
- image paths are relative to the project folder (the folder holding
  ``config.yaml``; for a lone CSV without one, the folder above
  ``labeled-data``);
- each individual of a multi-animal row with at least one labelled body part
  is an instance (``track`` = the individual's name); the unique body parts
  (individual ``single``: landmarks not on any animal) are left out and
  counted in :attr:`KeypointAnnotations.notes`;
- DeepLabCut has no visibility flag: labelled body parts get ``v = 2``.
"""
import csv
import datetime
import glob
import io
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .common import (KeypointAnnotations, KeypointFormatError,
                     KeypointImage, KeypointInstance, atomic_output,
                     check_keypoint_names, instance_from_points,
                     locate_image, skeleton_from_names)

__all__ = [
    'read_deeplabcut', 'write_deeplabcut', 'read_deeplabcut_keypoint_names',
    'find_deeplabcut_config'
]

#: The individual DeepLabCut files unique body parts under.
UNIQUE_INDIVIDUAL = 'single'
_COORDS = ('x', 'y')


@dataclass
class _Table:
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


# ---------------------------------------------------------------------------
# config.yaml
# ---------------------------------------------------------------------------
def find_deeplabcut_config(path: str) -> Optional[str]:
    """The project ``config.yaml`` for a project folder, a ``config.yaml``,
    or a ``CollectedData`` file (searched up to two folders above it)."""
    if osp.isdir(path):
        cand = osp.join(path, 'config.yaml')
        return cand if osp.isfile(cand) else None
    if path.endswith(('.yaml', '.yml')):
        return path
    folder = osp.dirname(osp.abspath(path))
    for _ in range(3):
        cand = osp.join(folder, 'config.yaml')
        if osp.isfile(cand):
            return cand
        folder = osp.dirname(folder)
    return None


def _load_config(path: str) -> Dict[str, Any]:
    import yaml
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: DeepLabCut config.yaml does not '
                                'exist')
    try:
        with open(path, encoding='utf-8') as f:
            cfg = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        pos = f' (line {mark.line + 1})' if mark is not None else ''
        raise KeypointFormatError(
            f'{path}: not valid YAML{pos}: '
            f'{getattr(e, "problem", None) or e}') from None
    if not isinstance(cfg, dict):
        raise KeypointFormatError(
            f'{path}: expected a DeepLabCut config (a mapping with '
            f'"bodyparts"), got {type(cfg).__name__}')
    return cfg


def _config_keypoints(cfg: Dict[str, Any], path: str
                      ) -> Tuple[bool, Tuple[str, ...], List[str],
                                 Optional[List[str]]]:
    """``(multi_animal, keypoint names, unique body parts, individuals)``."""
    multi = bool(cfg.get('multianimalproject', False))
    key = 'multianimalbodyparts' if multi else 'bodyparts'
    if cfg.get(key) is None:
        raise KeypointFormatError(
            f'{path}: no "{key}" list; list the body parts you labelled '
            f'under "{key}:"')
    names = check_keypoint_names(cfg[key], f'{path}: {key}')
    unique = list(cfg.get('uniquebodyparts') or []) if multi else []
    clash = sorted(set(unique) & set(names))
    if clash:
        raise KeypointFormatError(
            f'{path}: {clash} listed both in multianimalbodyparts and '
            'uniquebodyparts; give every body part one role')
    individuals = list(cfg.get('individuals') or []) if multi else None
    return multi, names, unique, individuals


# ---------------------------------------------------------------------------
# CollectedData files
# ---------------------------------------------------------------------------
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


def _read_csv(path: str) -> _Table:
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
    return _Table(
        source=path,
        individuals=column.get('individuals'),
        bodyparts=column['bodyparts'],
        coords=column['coords'],
        rows=rows,
        values=np.asarray(values, dtype=np.float64).reshape(
            len(rows), width - n_index),
        row_where=row_where)


def _table_from_frame(df: Any, source: str) -> _Table:
    """A ``CollectedData`` pandas DataFrame (the ``.h5`` files) as a
    :class:`_Table`."""
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
    return _Table(
        source=source,
        individuals=level('individuals') if 'individuals' in names else None,
        bodyparts=level('bodyparts'),
        coords=level('coords'),
        rows=rows,
        values=values,
        row_where=[f'{source}: row {r!r}' for r in rows])


def _read_h5(path: str) -> _Table:
    try:
        import pandas as pd
        import tables  # noqa: F401  (pandas' HDF5 backend)
    except ImportError:
        raise KeypointFormatError(
            f'{path}: reading DeepLabCut .h5 files needs pandas and PyTables '
            '(pip install pandas tables); or point ann_file at the '
            'CollectedData_*.csv beside it') from None
    return _table_from_frame(pd.read_hdf(path), path)


def _read_table(path: str) -> _Table:
    if path.endswith('.h5'):
        return _read_h5(path)
    return _read_csv(path)


def _project_files(project: str, scorer: Optional[str]) -> List[str]:
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


def _column_map(table: _Table, names: Sequence[str],
                individuals: Optional[List[str]], unique: Sequence[str],
                config: Optional[str]
                ) -> Tuple[Dict[Tuple[Optional[str], str, str], int], int]:
    """Check a table's columns against the body parts and map
    ``(individual, body part, coord)`` to its column.

    Returns:
        tuple: The map and the number of unique-body-part columns.
    """
    src = config or 'the first CollectedData file'
    multi_file = table.individuals is not None
    if multi_file != (individuals is not None):
        raise KeypointFormatError(
            f'{table.source}: a {"multi" if multi_file else "single"}-animal '
            f'file (header rows {"with" if multi_file else "without"} '
            f'"individuals"), but {src} describes a '
            f'{"multi" if individuals is not None else "single"}-animal '
            'project; set multianimalproject in config.yaml to match')
    inds = table.individuals or [None] * len(table.bodyparts)
    col: Dict[Tuple[Optional[str], str, str], int] = {}
    n_unique = 0
    for j, (ind, part, coord) in enumerate(
            zip(inds, table.bodyparts, table.coords)):
        if coord not in _COORDS:
            continue  # e.g. "likelihood" of machine-labelled frames
        if ind == UNIQUE_INDIVIDUAL or part in unique:
            n_unique += 1
            continue
        key = (ind, part, coord)
        if key in col:
            raise KeypointFormatError(
                f'{table.source}: column {j + 1} repeats '
                f'{"/".join(k for k in key if k)}; every body part has one x '
                'and one y column')
        col[key] = j
    parts = list(dict.fromkeys(p for _, p, _ in col))
    if set(parts) != set(names):
        missing = [n for n in names if n not in parts]
        extra = [p for p in parts if p not in names]
        raise KeypointFormatError(
            f'{table.source}: body parts {parts} do not match the '
            f'{"multianimalbodyparts" if individuals is not None else "bodyparts"}'
            f' {list(names)} of {src} (missing in this file: {missing}; not '
            f'in {osp.basename(src)}: {extra}); make them the same names')
    if individuals is not None:
        unknown = [i for i in dict.fromkeys(k[0] for k in col)
                   if individuals and i not in individuals]
        if unknown:
            raise KeypointFormatError(
                f'{table.source}: individuals {unknown} are not in the '
                f'"individuals" of {src} ({individuals}); add them there')
    for ind in dict.fromkeys(k[0] for k in col):
        for part in names:
            for coord in _COORDS:
                if (ind, part, coord) not in col:
                    who = f'{ind}/' if ind else ''
                    raise KeypointFormatError(
                        f'{table.source}: no "{coord}" column for '
                        f'{who}{part}; every body part has an x and a y '
                        'column')
    return col, n_unique


def read_deeplabcut_keypoint_names(path: str) -> Tuple[str, ...]:
    """The keypoint names of a project (from ``config.yaml``; without one,
    from the ``CollectedData`` file's header), without reading the rows'
    images."""
    config = _project_config(path)
    if config is not None:
        return _config_keypoints(_load_config(config), config)[1]
    return _table_keypoints(_read_table(path))


def _project_config(path: str) -> Optional[str]:
    """:func:`find_deeplabcut_config`; a project folder must have one."""
    config = find_deeplabcut_config(path)
    if config is None and osp.isdir(path):
        raise KeypointFormatError(
            f'{path}: no config.yaml in this folder; point ann_file at a '
            'DeepLabCut project folder, its config.yaml or a CollectedData '
            'file')
    return config


def _table_keypoints(table: _Table) -> Tuple[str, ...]:
    """Body parts of a file without ``config.yaml``, in column order."""
    inds = table.individuals or [None] * len(table.bodyparts)
    return tuple(dict.fromkeys(
        p for i, p, c in zip(inds, table.bodyparts, table.coords)
        if c in _COORDS and i != UNIQUE_INDIVIDUAL))


def read_deeplabcut(path: str) -> KeypointAnnotations:
    """Read a DeepLabCut project (or one ``CollectedData`` file).

    Args:
        path (str): The project folder, its ``config.yaml``, or a
            ``CollectedData_<scorer>.csv`` / ``.h5`` (its project's
            ``config.yaml`` is looked for up to two folders above).

    Returns:
        KeypointAnnotations: Images with their size (read from the image
        headers), one instance per labelled animal.

    Raises:
        KeypointFormatError: Body parts that disagree with ``config.yaml``, a
            name used twice, a non-numeric coordinate, a row pointing at a
            missing image, an ``.h5`` file without pandas/PyTables, ...
        FileNotFoundError: ``path`` does not exist.
    """
    if not osp.exists(path):
        raise FileNotFoundError(f'{path}: DeepLabCut project or '
                                'CollectedData file does not exist')
    config = _project_config(path)
    cfg = _load_config(config) if config is not None else None
    if osp.isdir(path) or path.endswith(('.yaml', '.yml')):
        project = osp.dirname(osp.abspath(config))
        files = _project_files(project, cfg.get('scorer'))
    else:
        files = [path]
        if config is not None:
            project = osp.dirname(osp.abspath(config))
        else:
            folder = osp.dirname(osp.abspath(path))
            parent = osp.dirname(folder)
            project = osp.dirname(parent) if osp.basename(
                parent) == 'labeled-data' else folder
    tables = [_read_table(f) for f in files]

    if cfg is not None:
        multi, names, unique, individuals = _config_keypoints(cfg, config)
        if multi and individuals is None:
            individuals = []
        skeleton = skeleton_from_names(
            cfg.get('skeleton') or [], names, f'{config}: skeleton',
            ignore=unique)
    else:
        first = tables[0]
        multi = first.individuals is not None
        individuals = [] if multi else None
        unique = []
        names = _table_keypoints(first)
        skeleton = ()

    images: List[KeypointImage] = []
    instances: List[KeypointInstance] = []
    seen: Dict[str, str] = {}
    n_unique_cols = 0
    for table in tables:
        col, n_unique = _column_map(table, names, individuals, unique, config)
        n_unique_cols += n_unique * len(table.rows)
        inds = list(dict.fromkeys(k[0] for k in col))
        for r, (file_name, where) in enumerate(
                zip(table.rows, table.row_where)):
            if file_name in seen:
                raise KeypointFormatError(
                    f'{where}: image {file_name!r} is labelled again (first '
                    f'at {seen[file_name]}); keep one row per image')
            seen[file_name] = where
            img_path, (w, h) = locate_image(project, file_name, where)
            img = KeypointImage(
                id=len(images) + 1, file_name=file_name, path=img_path,
                width=w, height=h)
            images.append(img)
            for ind in inds:
                xy = [[table.values[r, col[(ind, n, c)]] for c in _COORDS]
                      for n in names]
                inst = instance_from_points(xy, len(instances) + 1, img.id,
                                            ind)
                if inst is not None:
                    instances.append(inst)
    notes = []
    if n_unique_cols:
        notes.append(
            f'unique body parts {unique or [UNIQUE_INDIVIDUAL]} (not on any '
            'animal) left out')
    return KeypointAnnotations(
        path=config if osp.isdir(path) else path,
        format='deeplabcut',
        keypoint_names=names,
        skeleton=skeleton,
        images=images,
        instances=instances,
        notes=notes)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
def _video_of(file_name: str) -> str:
    parts = file_name.replace('\\', '/').split('/')
    if len(parts) != 3 or parts[0] != 'labeled-data':
        raise ValueError(
            f'write_deeplabcut: image {file_name!r} must be named '
            '"labeled-data/<video>/<image>" (relative to the project)')
    return parts[1]


def _individual_names(annots: KeypointAnnotations) -> Dict[int, str]:
    """Individual name of every instance: its track, else ``animal<k>`` by
    order within its image."""
    order: Dict[int, int] = {}
    out = {}
    for inst in annots.instances:
        order[inst.image_id] = order.get(inst.image_id, 0) + 1
        out[inst.id] = inst.track or f'animal{order[inst.image_id]}'
    return out


def _format(v: float) -> str:
    return repr(float(v))


def write_deeplabcut(annots: KeypointAnnotations,
                     project_dir: str,
                     scorer: str = 'custom_pose',
                     task: str = 'custom_pose',
                     multi_animal: Optional[bool] = None,
                     index_columns: int = 1,
                     date: Optional[str] = None) -> str:
    """Write ``annots`` as a DeepLabCut project (all files or none).

    Writes ``config.yaml`` and one ``labeled-data/<video>/CollectedData_
    <scorer>.csv`` per video folder. The images must already be in the
    project: every ``file_name`` is ``labeled-data/<video>/<image>``.

    Args:
        annots (KeypointAnnotations): What to write.
        project_dir (str): The project folder.
        scorer (str): DeepLabCut's scorer (labeller) name.
        task (str): The project's ``Task``.
        multi_animal (bool, optional): Write a multi-animal project
            (``individuals`` header row). Defaults to multi-animal when an
            image has more than one instance or any instance has a track.
        index_columns (int): 1 (``labeled-data/v/img.png``, DeepLabCut <
            2.3) or 3 (``labeled-data``, ``v``, ``img.png``).
        date (str, optional): The project's ``date`` (DeepLabCut writes
            ``'%b%d'``, e.g. ``'Mar15'``). Defaults to today; give one for
            reproducible files.

    Returns:
        str: The ``config.yaml`` path.
    """
    import yaml
    if index_columns not in (1, 3):
        raise ValueError(f'index_columns: expected 1 or 3, got '
                         f'{index_columns!r}')
    per_image: Dict[int, List[KeypointInstance]] = {}
    for inst in annots.instances:
        per_image.setdefault(inst.image_id, []).append(inst)
    if multi_animal is None:
        multi_animal = any(len(v) > 1 for v in per_image.values()) or any(
            inst.track for inst in annots.instances)
    if not multi_animal and any(len(v) > 1 for v in per_image.values()):
        raise ValueError('write_deeplabcut: an image has several instances; '
                         'use multi_animal=True')
    names = list(annots.keypoint_names)
    ind_of = _individual_names(annots)
    individuals = list(dict.fromkeys(ind_of[i.id] for i in annots.instances))

    columns = []  # (individual, body part, coord)
    for ind in (individuals if multi_animal else [None]):
        for part in names:
            columns += [(ind, part, c) for c in _COORDS]
    videos: Dict[str, List[KeypointImage]] = {}
    for img in annots.images:
        videos.setdefault(_video_of(img.file_name), []).append(img)

    cfg = dict(
        Task=task,
        scorer=scorer,
        date=date if date is not None else
        datetime.date.today().strftime('%b%d'),
        multianimalproject=bool(multi_animal),
        identity=False if multi_animal else None,
        project_path=osp.abspath(project_dir),
        video_sets={},
        skeleton=[[names[i], names[j]] for i, j in annots.skeleton],
        TrainingFraction=[0.95],
        iteration=0,
        default_net_type='resnet_50')
    if multi_animal:
        cfg.update(
            individuals=individuals,
            uniquebodyparts=[],
            multianimalbodyparts=names,
            bodyparts='MULTI!')
    else:
        cfg['bodyparts'] = names

    with atomic_output() as out:
        out.write(
            osp.join(project_dir, 'config.yaml'),
            yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False))
        for video, imgs in videos.items():
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator='\n')
            pad = [''] * (index_columns - 1)
            writer.writerow(['scorer'] + pad + [scorer] * len(columns))
            if multi_animal:
                writer.writerow(['individuals'] + pad +
                                [c[0] for c in columns])
            writer.writerow(['bodyparts'] + pad + [c[1] for c in columns])
            writer.writerow(['coords'] + pad + [c[2] for c in columns])
            for img in imgs:
                cells = {}
                for inst in per_image.get(img.id, []):
                    ind = ind_of[inst.id] if multi_animal else None
                    for k, part in enumerate(names):
                        if inst.visibility[k] > 0:
                            for c, coord in enumerate(_COORDS):
                                cells[(ind, part, coord)] = _format(
                                    inst.keypoints[k, c])
                index = ([img.file_name] if index_columns == 1 else
                         img.file_name.replace('\\', '/').split('/'))
                writer.writerow(index + [cells.get(c, '') for c in columns])
            out.write(
                osp.join(project_dir, 'labeled-data', video,
                         f'CollectedData_{scorer}.csv'), buf.getvalue())
    return osp.join(project_dir, 'config.yaml')
