"""DeepLabCut body parts: which column is which keypoint of which instance.

``config.yaml`` names the body parts: ``bodyparts`` in a single-animal
project; in a multi-animal one (``multianimalproject: true``)
``multianimalbodyparts`` (labelled on every individual of ``individuals``)
and ``uniquebodyparts`` (landmarks that exist once per frame and belong to
no animal, e.g. the corners of a nest or an arena). The ``CollectedData``
files put every individual's body parts under its name and the unique body
parts under the individual ``single`` (:data:`UNIQUE_INDIVIDUAL`), as
DeepLabCut's labelling GUI and its predictions write them.

DeepLabCut's own engine keeps the unique body parts: its joint list is
``multianimalbodyparts + uniquebodyparts`` and a project's ``single`` labels
become one more annotation per frame. The ``unique_bodyparts`` option
(:data:`UNIQUE_BODYPARTS_OPTIONS`) says what the readers do with them:

``'instance'`` (default)
    The keypoints are ``multianimalbodyparts + uniquebodyparts``. Each
    individual is an instance labelled on its own body parts (its unique
    body parts unlabelled); each frame's ``single`` columns are one more
    instance, ``track='single'``, labelled on the unique body parts only.
    One keypoint head learns both; the top-down crop of the ``single``
    instance is the box of its labelled landmarks.
``'drop'``
    The keypoints are ``multianimalbodyparts``; the ``single`` columns are
    left out and counted in :attr:`KeypointAnnotations.notes`.

Skeleton links between an animal's body part and a unique body part are
left out (no instance is labelled on both ends).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import InputError
from .common import (KeypointFormatError, check_keypoint_names,
                     skeleton_from_names)
from .deeplabcut_tables import COORDS, LabelTable

__all__ = [
    'UNIQUE_INDIVIDUAL', 'UNIQUE_BODYPARTS_OPTIONS',
    'DEFAULT_UNIQUE_BODYPARTS', 'check_unique_bodyparts', 'BodyParts',
    'config_bodyparts', 'table_bodyparts', 'column_groups', 'group_points'
]

#: The individual DeepLabCut files unique body parts under.
UNIQUE_INDIVIDUAL = 'single'
#: The values of the readers' and the dataset's ``unique_bodyparts=``.
UNIQUE_BODYPARTS_OPTIONS: Tuple[str, str] = ('instance', 'drop')
#: DeepLabCut keeps unique body parts; so does the default.
DEFAULT_UNIQUE_BODYPARTS = 'instance'

#: ``(instance track, (K, 2) column of each keypoint's x and y, -1 where
#: the instance has none)``.
ColumnGroup = Tuple[Optional[str], np.ndarray]


def check_unique_bodyparts(value: Any) -> str:
    """``value`` if it is one of :data:`UNIQUE_BODYPARTS_OPTIONS`.

    Raises:
        InputError: Any other value.
    """
    if not isinstance(value, str) or value not in UNIQUE_BODYPARTS_OPTIONS:
        raise InputError(
            f"unique_bodyparts: expected 'instance' (a multi-animal "
            "DeepLabCut project's uniquebodyparts are keypoints, labelled on "
            "one 'single' instance per frame) or 'drop' (left out), got "
            f'{value!r}')
    return value


@dataclass(frozen=True)
class BodyParts:
    """The body parts of a project (or of a lone ``CollectedData`` file).

    Attributes:
        bodyparts (tuple[str]): ``bodyparts`` (single animal) or
            ``multianimalbodyparts``: the body parts of every animal.
        unique (tuple[str]): ``uniquebodyparts`` (empty in a single-animal
            project).
        individuals (list[str], optional): ``individuals`` of a multi-animal
            project (empty when not listed: any name is accepted); None in a
            single-animal project.
        mode (str): ``'instance'`` or ``'drop'`` (see the module).
        source (str): Where they were read, for messages.
    """
    bodyparts: Tuple[str, ...]
    unique: Tuple[str, ...]
    individuals: Optional[List[str]]
    mode: str
    source: str

    @property
    def keep_unique(self) -> bool:
        """Whether the unique body parts are keypoints."""
        return self.mode == 'instance' and bool(self.unique)

    @property
    def keypoint_names(self) -> Tuple[str, ...]:
        """The K keypoint names: ``bodyparts``, then the unique body parts
        with ``mode='instance'``."""
        return self.bodyparts + (self.unique if self.keep_unique else ())

    def skeleton(self, links: Sequence, where: str
                 ) -> Tuple[Tuple[int, int], ...]:
        """``config.yaml``'s skeleton (name pairs) as index pairs of
        :attr:`keypoint_names`; links to a unique body part that is not a
        keypoint, and links between an animal's body part and a unique body
        part, are left out."""
        if not self.keep_unique:
            return skeleton_from_names(links, self.bodyparts, where,
                                       ignore=self.unique)
        n = len(self.bodyparts)
        return tuple((i, j) for i, j in skeleton_from_names(
            links, self.keypoint_names, where) if (i < n) == (j < n))


def config_bodyparts(cfg: Dict[str, Any], path: str,
                     mode: str) -> BodyParts:
    """The body parts ``config.yaml`` (read into ``cfg``) lists.

    Raises:
        KeypointFormatError: No (multi-animal) body part list, a name used
            twice, a name both an animal's and unique.
    """
    multi = bool(cfg.get('multianimalproject', False))
    key = 'multianimalbodyparts' if multi else 'bodyparts'
    if cfg.get(key) is None:
        raise KeypointFormatError(
            f'{path}: no "{key}" list; list the body parts you labelled '
            f'under "{key}:"')
    names = check_keypoint_names(cfg[key], f'{path}: {key}')
    unique: Tuple[str, ...] = ()
    if multi and cfg.get('uniquebodyparts'):
        unique = check_keypoint_names(cfg['uniquebodyparts'],
                                      f'{path}: uniquebodyparts')
    clash = sorted(set(unique) & set(names))
    if clash:
        raise KeypointFormatError(
            f'{path}: {clash} listed both in multianimalbodyparts and '
            'uniquebodyparts; give every body part one role')
    individuals = list(cfg.get('individuals') or []) if multi else None
    return BodyParts(names, unique, individuals, mode, path)


def table_bodyparts(table: LabelTable, mode: str) -> BodyParts:
    """The body parts of a lone ``CollectedData`` file (no ``config.yaml``),
    in column order: the animals' body parts, and those under ``single``.

    Raises:
        KeypointFormatError: With ``mode='instance'``, a body part both
            under an animal and under ``single``.
    """
    inds = table.individuals or [None] * len(table.bodyparts)
    cols = [(i, p) for i, p, c in zip(inds, table.bodyparts, table.coords)
            if c in COORDS]
    names = tuple(dict.fromkeys(p for i, p in cols
                                if i != UNIQUE_INDIVIDUAL))
    single = tuple(dict.fromkeys(p for i, p in cols
                                 if i == UNIQUE_INDIVIDUAL))
    clash = [p for p in single if p in names]
    if clash and mode == 'instance':
        raise KeypointFormatError(
            f'{table.source}: body parts {clash} are both under an animal and '
            f'under the individual "{UNIQUE_INDIVIDUAL}"; give every body '
            "part one role (or set unique_bodyparts='drop')")
    unique = tuple(p for p in single if p not in names)
    individuals = [] if table.individuals is not None else None
    return BodyParts(names, unique, individuals, mode,
                     'the first CollectedData file')


def _unique_column(table: LabelTable, j: int, ind: Optional[str], part: str,
                   coord: str, parts: BodyParts) -> None:
    """Check a column of ``single`` or of a unique body part, kept as a
    keypoint."""
    where = f'{table.source}: column {j + 1} ({ind}/{part} {coord})'
    if ind != UNIQUE_INDIVIDUAL:
        raise KeypointFormatError(
            f'{where}: {part!r} is a uniquebodyparts entry of '
            f'{parts.source}, but DeepLabCut files unique body parts under '
            f'the individual "{UNIQUE_INDIVIDUAL}"; move these columns there '
            'or list the body part under multianimalbodyparts')
    if part not in parts.unique:
        raise KeypointFormatError(
            f'{where}: {part!r} is not in the uniquebodyparts '
            f'{list(parts.unique)} of {parts.source}; add it there, or set '
            "unique_bodyparts='drop' to leave the unique body parts out")


def column_groups(table: LabelTable, parts: BodyParts
                  ) -> Tuple[List[ColumnGroup], int]:
    """Check a table's columns against the body parts and group them by
    instance.

    Returns:
        tuple: The groups (every individual in column order, then
        ``single`` where its body parts are keypoints; one group with track
        None in a single-animal file) and the number of columns left out
        (unique body parts with ``mode='drop'``).

    Raises:
        KeypointFormatError: A single-animal file in a multi-animal project
            (or the reverse), a column repeated, body parts or individuals
            that differ from ``config.yaml``'s, a body part without its x or
            y column.
    """
    src = parts.source
    multi_file = table.individuals is not None
    if multi_file != (parts.individuals is not None):
        raise KeypointFormatError(
            f'{table.source}: a {"multi" if multi_file else "single"}-animal '
            f'file (header rows {"with" if multi_file else "without"} '
            f'"individuals"), but {src} describes a '
            f'{"multi" if parts.individuals is not None else "single"}-animal '
            'project; set multianimalproject in config.yaml to match')
    inds = table.individuals or [None] * len(table.bodyparts)
    col: Dict[Tuple[Optional[str], str, str], int] = {}
    n_dropped = 0
    for j, (ind, part, coord) in enumerate(
            zip(inds, table.bodyparts, table.coords)):
        if coord not in COORDS:
            continue  # e.g. "likelihood" of machine-labelled frames
        if ind == UNIQUE_INDIVIDUAL or part in parts.unique:
            if not parts.keep_unique:
                n_dropped += 1
                continue
            _unique_column(table, j, ind, part, coord, parts)
        key = (ind, part, coord)
        if key in col:
            raise KeypointFormatError(
                f'{table.source}: column {j + 1} repeats '
                f'{"/".join(k for k in key if k)}; every body part has one x '
                'and one y column')
        col[key] = j
    animals = list(dict.fromkeys(
        k[0] for k in col if k[0] != UNIQUE_INDIVIDUAL))
    _check_animal_parts(table, parts, col, animals)
    _check_xy(table, col, [(ind, parts.bodyparts) for ind in animals])
    groups = [(ind, _group_columns(col, ind, parts.bodyparts, 0,
                                   len(parts.keypoint_names)))
              for ind in animals]
    if parts.keep_unique and multi_file:
        _check_xy(table, col, [(UNIQUE_INDIVIDUAL, parts.unique)],
                  f' (as DeepLabCut writes the uniquebodyparts of {src}; '
                  "or set unique_bodyparts='drop')")
        groups.append((UNIQUE_INDIVIDUAL, _group_columns(
            col, UNIQUE_INDIVIDUAL, parts.unique, len(parts.bodyparts),
            len(parts.keypoint_names))))
    return groups, n_dropped


def _check_animal_parts(table: LabelTable, parts: BodyParts,
                        col: Dict[Tuple[Optional[str], str, str], int],
                        animals: List[Optional[str]]) -> None:
    """The animals' body parts and names against ``config.yaml``'s."""
    src = parts.source
    found = list(dict.fromkeys(
        p for i, p, _ in col if i != UNIQUE_INDIVIDUAL))
    if set(found) != set(parts.bodyparts):
        missing = [n for n in parts.bodyparts if n not in found]
        extra = [p for p in found if p not in parts.bodyparts]
        key = ('multianimalbodyparts' if parts.individuals is not None else
               'bodyparts')
        raise KeypointFormatError(
            f'{table.source}: body parts {found} do not match the {key} '
            f'{list(parts.bodyparts)} of {src} (missing in this file: '
            f'{missing}; not in {osp.basename(src)}: {extra}); make them '
            'the same names')
    if parts.individuals:
        unknown = [i for i in animals if i not in parts.individuals]
        if unknown:
            raise KeypointFormatError(
                f'{table.source}: individuals {unknown} are not in the '
                f'"individuals" of {src} ({parts.individuals}); add them '
                'there')


def _check_xy(table: LabelTable, col: Dict[Tuple[Optional[str], str, str], int],
              wanted: Sequence[Tuple[Optional[str], Sequence[str]]],
              hint: str = '') -> None:
    """Every ``(individual, body parts)`` of ``wanted`` has an x and a y
    column."""
    for ind, names in wanted:
        for part in names:
            for coord in COORDS:
                if (ind, part, coord) not in col:
                    who = f'{ind}/' if ind else ''
                    raise KeypointFormatError(
                        f'{table.source}: no "{coord}" column for '
                        f'{who}{part}; every body part has an x and a y '
                        f'column{hint}')


def _group_columns(col: Dict[Tuple[Optional[str], str, str], int],
                   ind: Optional[str], names: Sequence[str], first: int,
                   num_keypoints: int) -> np.ndarray:
    """``(K, 2)`` columns of ``ind``'s x and y: ``names`` are keypoints
    ``first, first + 1, ...``; -1 elsewhere."""
    idx = np.full((num_keypoints, 2), -1, dtype=np.int64)
    for k, part in enumerate(names):
        idx[first + k] = [col[(ind, part, c)] for c in COORDS]
    return idx


def group_points(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``(K, 2)`` points of one instance from a row's ``values`` (the
    table's ``(columns,)``) and its group's ``idx``; NaN where unlabelled or
    not the instance's keypoint."""
    return np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)
