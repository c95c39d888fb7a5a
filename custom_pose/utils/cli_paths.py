# Copyright (c) custom_pose contributors. All rights reserved.
"""Path checks of the command-line tools, done before any long work.

- :func:`check_input_file`: a local, readable, non-empty file;
- :func:`check_output_dir`, :func:`check_output_file`,
  :func:`check_outputs`: outputs that can be written, that are none of the
  tool's inputs (:func:`config_inputs`: the files a config reads) and that
  replace an existing file of another kind than the tool writes
  (:class:`OutputKind`) only with ``--overwrite``
  (:func:`add_overwrite_argument`).
"""
import argparse
import json
import os
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from custom_pose.errors import InputError
from custom_pose.utils.cfg_options import dataloader_datasets
from custom_pose.utils.checkpoint import is_remote

__all__ = [
    'check_input_file', 'check_output_file', 'check_output_dir',
    'check_outputs', 'OutputKind', 'Folder', 'config_inputs',
    'add_overwrite_argument', 'read_small_json', 'is_annotation_json',
    'is_json_report', 'JSON_REPORT', 'IMAGE', 'Input'
]


# ---------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------
def check_input_file(path: str, what: str = 'input file') -> str:
    """Check that ``path`` is a local, readable, non-empty file.

    Args:
        path (str): The file.
        what (str): What it is, for messages (``'checkpoint file'``).

    Returns:
        str: ``path``.

    Raises:
        InputError: For a URL, a missing path, a folder, an unreadable or a
            0-byte file.
    """
    path = str(path)
    if is_remote(path):
        raise InputError(f'{what} {path}: only local files are accepted '
                         '(nothing is downloaded at run time)')
    if not osp.exists(path):
        raise InputError(f'{what} not found: {path}')
    if not osp.isfile(path):
        raise InputError(f'{what} is not a file: {path}')
    if not os.access(path, os.R_OK):
        raise InputError(f'{what} is not readable: {path} (permissions)')
    if osp.getsize(path) == 0:
        raise InputError(f'{what} is empty (0 bytes): {path}')
    return path


def _nearest_existing(path: str) -> str:
    """``path`` or its closest existing ancestor."""
    path = osp.abspath(path)
    while not osp.exists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _check_creatable_dir(path: str, what: str, target: str) -> None:
    """``path`` is a writable folder or can be created as one."""
    existing = _nearest_existing(path)
    if not osp.isdir(existing):
        raise InputError(
            f'{what} {target}: {existing} is a file, not a folder')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f'{what} {target}: cannot write in {existing} '
                         '(permissions or a read-only file system)')
    # os.access answers yes for root where no file can be made (e.g. in
    # /proc): make and remove one
    try:
        fd, probe = tempfile.mkstemp(prefix='.write-check-', dir=existing)
    except OSError as exc:
        raise InputError(f'{what} {target}: cannot write in {existing} '
                         f'({exc.strerror or exc})') from None
    os.close(fd)
    os.remove(probe)


#: An input of a tool: a path, or ``(what it is, path)`` such as
#: ``('the checkpoint', 'epoch_8.pth')``; ``None`` paths are ignored.
Input = Union[None, str, Tuple[str, Optional[str]]]


def _inputs(inputs: Sequence[Input]) -> List[Tuple[str, str]]:
    """``(what, path)`` of every given input."""
    out = []
    for item in inputs:
        what, path = item if isinstance(item, tuple) else ('the input file',
                                                           item)
        if path is not None and str(path) != '':
            out.append((what, str(path)))
    return out


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file or folder (symbolic and
    hard links included)."""
    try:
        return osp.samefile(a, b)
    except OSError:  # one of them does not exist
        return osp.realpath(a) == osp.realpath(b)


def _refuse_input(what: str, path: str, inputs: Sequence[Input]) -> None:
    """``InputError`` if ``path`` is one of ``inputs``."""
    for label, source in _inputs(inputs):
        if _same_file(path, source):
            raise InputError(
                f'{what} {path} is {label} {source}: writing it would '
                'destroy the input; give another output file')


def check_output_dir(path: str,
                     what: str = 'output folder',
                     inputs: Sequence[Input] = (),
                     writes: Sequence[str] = ()) -> str:
    """Check that folder ``path`` can be written (created if needed), before
    any long work.

    Args:
        path (str): The folder.
        what (str): What it is, for messages (``'--work-dir'``).
        inputs (Sequence): Files and folders the tool reads (see
            :data:`Input`): ``path`` must be none of them, and none of the
            files ``writes`` names in it may be one of them.
        writes (Sequence[str]): Names of the files the tool writes in
            ``path``.

    Raises:
        InputError: If ``path`` or a parent of it is a file, ``path`` is an
            input, a file written in it would replace an input, or the
            first existing folder on the way is not writable.
    """
    path = str(path)
    if osp.exists(path) and not osp.isdir(path):
        raise InputError(f'{what} {path} is a file, not a folder')
    for label, source in _inputs(inputs):
        if _same_file(path, source):
            raise InputError(
                f'{what} {path} is {label} {source}: the tool would write '
                'into its input; give another folder')
        for name in writes:
            if _same_file(osp.join(path, name), source):
                raise InputError(
                    f'{what} {path}: writing {name} there would replace '
                    f'{label} {source}; give another folder')
    _check_creatable_dir(path, what, path)
    return path


@dataclass(frozen=True)
class OutputKind:
    """What a tool writes to a file, for :func:`check_output_file`.

    An existing file of this kind is replaced; one of another kind (another
    suffix, or ``accepts`` answers no) only with ``overwrite=True``.

    Attributes:
        name (str): For messages, with its article (``'an ONNX model'``).
        suffixes (Tuple[str, ...]): Lower-case file suffixes of the kind.
        accepts (Callable[[str], bool], optional): Whether an existing file
            with one of ``suffixes`` is of the kind (e.g. reads its JSON).
    """
    name: str
    suffixes: Tuple[str, ...]
    accepts: Optional[Callable[[str], bool]] = None

    def holds(self, path: str) -> bool:
        """Whether the existing file ``path`` is of this kind."""
        if not path.lower().endswith(self.suffixes):
            return False
        return self.accepts is None or bool(self.accepts(path))


#: Largest JSON file :func:`read_small_json` reads (bytes).
_JSON_PEEK_LIMIT = 64 << 20


def read_small_json(path: str) -> Any:
    """The data of a JSON file of at most 64 MiB; ``None`` for a larger or
    unreadable one."""
    try:
        if osp.getsize(path) > _JSON_PEEK_LIMIT:
            return None
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_annotation_json(data: Any) -> bool:
    """Whether JSON ``data`` holds keypoint annotations (COCO, or
    Animal-Pose's original format: ``images`` and ``annotations``)."""
    return isinstance(data, dict) and 'annotations' in data and \
        'images' in data


def is_json_report(path: str) -> bool:
    """Whether file ``path`` is a JSON object that holds no annotations
    (a tool's figures, e.g. ``--out-json``)."""
    data = read_small_json(path)
    return isinstance(data, dict) and not is_annotation_json(data)


#: A tool's figures as JSON: an existing report is replaced; annotations
#: or other files only with ``--overwrite``.
JSON_REPORT = OutputKind('a JSON report', ('.json', ), is_json_report)
#: An image a tool draws.
IMAGE = OutputKind('an image', ('.png', '.jpg', '.jpeg', '.bmp', '.tif',
                                '.tiff', '.webp'))


_DESCRIPTIONS = (
    (('.py', ), 'a config'), (('.pth', '.pt', '.ckpt'), 'a checkpoint'),
    (('.onnx', ), 'an ONNX model'), (('.yaml', '.yml'), 'a YAML file'),
    (('.csv', '.h5', '.slp'), 'an annotation file'),
    (('.mp4', '.avi', '.mov', '.mkv'), 'a video'),
    (('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp'), 'an image'))


def _describe(path: str) -> str:
    """What an existing file seems to be, for messages (``'a config'``)."""
    lower = path.lower()
    if lower.endswith('.json'):
        return ('an annotation file' if is_annotation_json(
            read_small_json(path)) else 'a JSON file of another kind')
    for suffixes, text in _DESCRIPTIONS:
        if lower.endswith(suffixes):
            return text
    return 'a file of another kind'


def check_output_file(path: str,
                      what: str = 'output file',
                      inputs: Sequence[Input] = (),
                      kind: Optional[OutputKind] = None,
                      overwrite: bool = False) -> str:
    """Check that file ``path`` can be written (its folder created if
    needed), before any long work.

    Args:
        path (str): The file to write.
        what (str): What it is, for messages (``'--out'``).
        inputs (Sequence): Files and folders the tool reads (see
            :data:`Input`); ``path`` must be none of them (writing would
            destroy the input), symbolic and hard links included.
        kind (OutputKind, optional): What the tool writes; an existing file
            of another kind is replaced only with ``overwrite``. ``None``:
            any existing file is replaced.
        overwrite (bool): Replace an existing file of another kind (the
            tools' ``--overwrite``).

    Raises:
        InputError: If ``path`` is a folder, one of ``inputs``, an existing
            file that cannot be overwritten or is of another kind than
            ``kind`` (without ``overwrite``), or its folder cannot be created
            or written.
    """
    path = str(path)
    if osp.isdir(path):
        raise InputError(f'{what} {path} is a folder, not a file')
    _refuse_input(what, path, inputs)
    if osp.exists(path):
        if not os.access(path, os.W_OK):
            raise InputError(f'{what} {path} exists and cannot be '
                             'overwritten (permissions)')
        if kind is not None and not overwrite and not kind.holds(path):
            raise InputError(
                f'{what} {path} exists and is {_describe(path)}, not '
                f'{kind.name}: pass --overwrite to replace it, or give '
                'another file')
    _check_creatable_dir(osp.dirname(osp.abspath(path)), what, path)
    return path


@dataclass(frozen=True)
class Folder:
    """An output folder for :func:`check_outputs`.

    Attributes:
        writes (Tuple[str, ...]): Names of the files written in it.
    """
    writes: Tuple[str, ...] = ()


def check_outputs(outputs: Sequence[Tuple[str, Optional[str], Any]],
                  inputs: Sequence[Input] = (),
                  overwrite: bool = False) -> None:
    """Check every output of a tool against its inputs and each other,
    before any long work: no output is an input (a file, or a folder the
    tool would write into), no two outputs are one file, and an existing
    file of another kind is replaced only with ``overwrite``.

    Args:
        outputs (Sequence): ``(what, path, kind)``: the option (``'--out'``),
            the path (``None``: not given, skipped) and an
            :class:`OutputKind` for a file, a :class:`Folder` for a folder,
            or ``None`` for a file of any kind.
        inputs (Sequence): Files and folders the tool reads (see
            :data:`Input`, and :func:`config_inputs`).
        overwrite (bool): The tool's ``--overwrite``.

    Raises:
        InputError: The first output that fails, in one line.
    """
    seen: List[Tuple[str, str]] = []
    for what, path, kind in outputs:
        if path is None:
            continue
        if isinstance(kind, Folder):
            check_output_dir(path, what, inputs, kind.writes)
            continue
        check_output_file(path, what, inputs, kind, overwrite)
        for other, other_path in seen:
            if _same_file(path, other_path):
                raise InputError(f'{what} {path} is also {other}: give two '
                                 'different files')
        seen.append((what, str(path)))


def _resolve(root: Optional[str], path: Optional[str]) -> Optional[str]:
    """``root/path`` as a dataset resolves it (``path`` when absolute)."""
    if not path or not isinstance(path, str):
        return None
    if osp.isabs(path) or not root:
        return path
    return osp.join(str(root), path)


def config_inputs(cfg: Any, config_path: Optional[str] = None
                  ) -> List[Tuple[str, str]]:
    """The files and folders a config reads, as ``(what, path)`` inputs of
    :func:`check_outputs`: the config file itself, and of every dataloader's
    dataset the annotation file (``data_root``/``ann_file``; the
    DeepLabCut project's ``config.yaml`` for an empty ``ann_file``), split
    and box files and image folder, and the evaluators' ``ann_file``.

    Args:
        cfg (Config | str): The config (or its file, read here).
        config_path (str, optional): Its file.

    Raises:
        ModelConfigError: If ``cfg`` is a file that does not parse.
    """
    from collections.abc import Mapping
    if isinstance(cfg, str):
        from custom_pose.utils.config import load_config as _load
        config_path, cfg = cfg, _load(cfg)
    found: List[Tuple[str, str]] = []
    if config_path:
        found.append(('the config', str(config_path)))
    for _, ds in dataloader_datasets(cfg):
        root = ds.get('data_root')
        ann = ds.get('ann_file')
        if ann == '' and isinstance(root, str) and root:
            ann = 'config.yaml'
        for name, value in (('annotation file', ann),
                            ('split file', ds.get('split_file')),
                            ('box file', ds.get('bbox_file'))):
            path = _resolve(root, value)
            if path:
                found.append((f'the {name} of the config', path))
        prefix = ds.get('data_prefix')
        img = prefix.get('img') if isinstance(prefix, Mapping) else None
        folder = _resolve(root, img) if img else root
        if isinstance(folder, str) and folder:
            found.append(('the image folder of the config', folder))
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key) or []
        if isinstance(evaluators, Mapping):
            evaluators = [evaluators]
        for ev in evaluators:
            if isinstance(ev, Mapping) and isinstance(ev.get('ann_file'),
                                                      str):
                found.append(('the evaluation annotation file of the config',
                              ev['ann_file']))
    return found


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: replace an existing output file of another kind."""
    parser.add_argument(
        '--overwrite', action='store_true',
        help='replace an existing output file of another kind than the '
        'tool writes (e.g. a .pth where an ONNX model goes); a file of the '
        'same kind is always replaced')
