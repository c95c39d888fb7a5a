"""DeepLabCut projects: ``config.yaml`` + ``labeled-data/*/CollectedData_*``.

A DeepLabCut project folder holds::

    config.yaml                      # Task, scorer, bodyparts, skeleton, ...
    labeled-data/<video>/img0042.png
    labeled-data/<video>/CollectedData_<scorer>.csv   (and .h5)

``config.yaml`` names the body parts (``bodyparts``; in a multi-animal
project ``multianimalbodyparts``, ``uniquebodyparts`` and ``individuals``)
and optionally a ``skeleton`` of name pairs. The ``CollectedData`` files
(header rows ``scorer``, (``individuals``,) ``bodyparts``, ``coords``, one
row per labelled frame) are read by :mod:`.deeplabcut_tables`; which column
is which keypoint of which instance is decided in
:mod:`.deeplabcut_bodyparts`.

Reading rules:

- keypoints are the ``config.yaml`` body parts in its order (without a
  ``config.yaml``, the first CSV's body parts in column order); in a
  multi-animal project with ``unique_bodyparts='instance'`` (default), the
  ``multianimalbodyparts`` then the ``uniquebodyparts``;
- the body parts of every file must equal ``config.yaml``'s;
- image paths are relative to the project folder (the folder holding
  ``config.yaml``; for a lone CSV without one, the folder above
  ``labeled-data``);
- each individual of a multi-animal row with at least one labelled body part
  is an instance (``track`` = the individual's name); the unique body parts
  (individual ``single``: landmarks not on any animal) of a row are one more
  instance (``track='single'``) with ``unique_bodyparts='instance'``, and are
  left out and counted in :attr:`KeypointAnnotations.notes` with
  ``unique_bodyparts='drop'``;
- DeepLabCut has no visibility flag: labelled body parts get ``v = 2``.
"""
import csv
import datetime
import io
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

from .common import (KeypointAnnotations, KeypointFormatError,
                     KeypointImage, KeypointInstance, atomic_output,
                     instance_from_points, locate_image)
from .deeplabcut_bodyparts import (DEFAULT_UNIQUE_BODYPARTS,
                                   UNIQUE_INDIVIDUAL, BodyParts,
                                   check_unique_bodyparts, column_groups,
                                   config_bodyparts, group_points,
                                   table_bodyparts)
from .deeplabcut_tables import COORDS, project_files, read_table

__all__ = [
    'read_deeplabcut', 'write_deeplabcut', 'read_deeplabcut_keypoint_names',
    'find_deeplabcut_config', 'UNIQUE_INDIVIDUAL'
]

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


def _project_config(path: str) -> Optional[str]:
    """:func:`find_deeplabcut_config`; a project folder must have one."""
    config = find_deeplabcut_config(path)
    if config is None and osp.isdir(path):
        raise KeypointFormatError(
            f'{path}: no config.yaml in this folder; point ann_file at a '
            'DeepLabCut project folder, its config.yaml or a CollectedData '
            'file')
    return config


def read_deeplabcut_keypoint_names(
        path: str,
        unique_bodyparts: str = DEFAULT_UNIQUE_BODYPARTS) -> Tuple[str, ...]:
    """The keypoint names of a project (from ``config.yaml``; without one,
    from the ``CollectedData`` file's header), without reading the rows'
    images: the names :func:`read_deeplabcut` gives with the same
    ``unique_bodyparts``."""
    mode = check_unique_bodyparts(unique_bodyparts)
    config = _project_config(path)
    if config is not None:
        return config_bodyparts(_load_config(config), config,
                                mode).keypoint_names
    return table_bodyparts(read_table(path), mode).keypoint_names


def _unique_note(parts: BodyParts, config: Optional[str]) -> str:
    """The note of unique-body-part columns left out."""
    if parts.mode == 'drop':
        left_out = list(parts.unique) or [UNIQUE_INDIVIDUAL]
        return f'unique body parts {left_out} (not on any animal) left out'
    return (f'columns of the individual "{UNIQUE_INDIVIDUAL}" left out: '
            f'{config} lists no uniquebodyparts (list them there to train on '
            'them)')


def read_deeplabcut(
        path: str,
        unique_bodyparts: str = DEFAULT_UNIQUE_BODYPARTS
) -> KeypointAnnotations:
    """Read a DeepLabCut project (or one ``CollectedData`` file).

    Args:
        path (str): The project folder, its ``config.yaml``, or a
            ``CollectedData_<scorer>.csv`` / ``.h5`` (its project's
            ``config.yaml`` is looked for up to two folders above).
        unique_bodyparts (str): The ``uniquebodyparts`` of a multi-animal
            project (individual ``single``): ``'instance'`` (default)
            appends them to the keypoints and makes each frame's ``single``
            labels one instance with ``track='single'``; ``'drop'`` leaves
            them out (counted in ``notes``). See
            :mod:`.deeplabcut_bodyparts`.

    Returns:
        KeypointAnnotations: Images with their size (read from the image
        headers), one instance per labelled animal (and per frame with
        labelled unique body parts).

    Raises:
        KeypointFormatError: Body parts that disagree with ``config.yaml``, a
            name used twice, a non-numeric coordinate, a row pointing at a
            missing image, an ``.h5`` file without pandas/PyTables, ...
        InputError: ``unique_bodyparts`` is neither ``'instance'`` nor
            ``'drop'``.
        FileNotFoundError: ``path`` does not exist.
    """
    mode = check_unique_bodyparts(unique_bodyparts)
    if not osp.exists(path):
        raise FileNotFoundError(f'{path}: DeepLabCut project or '
                                'CollectedData file does not exist')
    config = _project_config(path)
    cfg = _load_config(config) if config is not None else None
    if osp.isdir(path) or path.endswith(('.yaml', '.yml')):
        project = osp.dirname(osp.abspath(config))
        files = project_files(project, cfg.get('scorer'))
    else:
        files = [path]
        if config is not None:
            project = osp.dirname(osp.abspath(config))
        else:
            folder = osp.dirname(osp.abspath(path))
            parent = osp.dirname(folder)
            project = osp.dirname(parent) if osp.basename(
                parent) == 'labeled-data' else folder
    tables = [read_table(f) for f in files]

    if cfg is not None:
        parts = config_bodyparts(cfg, config, mode)
        skeleton = parts.skeleton(cfg.get('skeleton') or [],
                                  f'{config}: skeleton')
    else:
        parts = table_bodyparts(tables[0], mode)
        skeleton = ()

    images: List[KeypointImage] = []
    instances: List[KeypointInstance] = []
    seen: Dict[str, str] = {}
    n_dropped = 0
    for table in tables:
        groups, dropped = column_groups(table, parts)
        n_dropped += dropped
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
            for track, idx in groups:
                inst = instance_from_points(
                    group_points(table.values[r], idx), len(instances) + 1,
                    img.id, track)
                if inst is not None:
                    instances.append(inst)
    return KeypointAnnotations(
        path=config if osp.isdir(path) else path,
        format='deeplabcut',
        keypoint_names=parts.keypoint_names,
        skeleton=skeleton,
        images=images,
        instances=instances,
        notes=[_unique_note(parts, config)] if n_dropped else [])


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
            columns += [(ind, part, c) for c in COORDS]
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
                            for c, coord in enumerate(COORDS):
                                cells[(ind, part, coord)] = _format(
                                    inst.keypoints[k, c])
                index = ([img.file_name] if index_columns == 1 else
                         img.file_name.replace('\\', '/').split('/'))
                writer.writerow(index + [cells.get(c, '') for c in columns])
            out.write(
                osp.join(project_dir, 'labeled-data', video,
                         f'CollectedData_{scorer}.csv'), buf.getvalue())
    return osp.join(project_dir, 'config.yaml')
