"""The list of the files a generator run wrote, and what ``overwrite``
may remove.

:func:`~.generate.generate_synthetic_animalpose` ends by writing
``out_dir/.synthetic_files.json`` (:data:`MANIFEST_NAME`): every file it
wrote, relative to ``out_dir``, with its size and SHA-256::

    {"images/synth_000001.jpg": {"size": 5123, "sha256": "3f1c..."}, ...}

A later run with ``overwrite=True`` removes only the listed files that lie
inside ``out_dir`` and still have that size and checksum
(:func:`take_out_dir`); the others are kept and named in one warning. A
non-empty folder without the list is not the generator's and is refused,
and so is a run that would write over a file it may not remove.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Set, Tuple

from custom_pose.errors import InputError
from custom_pose.utils.atomic_io import write_text_atomic
from custom_pose.utils.file_hash import file_sha256

__all__ = [
    'MANIFEST_NAME', 'file_record', 'write_manifest', 'read_manifest',
    'all_files', 'take_out_dir'
]

#: The list of the files a run wrote, in its ``out_dir``.
MANIFEST_NAME = '.synthetic_files.json'

Record = Optional[Dict[str, object]]


def file_record(path: str) -> Dict[str, object]:
    """``{'size': bytes, 'sha256': hex digest}`` of file ``path``."""
    return dict(size=osp.getsize(path), sha256=file_sha256(path))


def all_files(out_dir: str) -> Set[str]:
    """Every file under ``out_dir``, relative to it."""
    found = set()
    for root, _, files in os.walk(out_dir):
        found.update(osp.relpath(osp.join(root, f), out_dir) for f in files)
    return found


def write_manifest(out_dir: str, files: Set[str]) -> str:
    """Write :data:`MANIFEST_NAME` listing ``files`` (relative to
    ``out_dir``) with their records; returns its path."""
    path = osp.join(out_dir, MANIFEST_NAME)
    records = {rel: file_record(osp.join(out_dir, rel))
               for rel in sorted(files)}
    write_text_atomic(path, json.dumps(records, indent=1) + '\n')
    return path


def read_manifest(out_dir: str) -> Optional[Dict[str, Record]]:
    """The files :data:`MANIFEST_NAME` in ``out_dir`` lists, with their
    records (``None`` for an entry without a valid one, e.g. of a plain
    list of names); ``None`` without that file.

    Raises:
        InputError: If the file is not a list the generator wrote (not
            JSON, another structure), naming it and the fix.
    """
    path = osp.join(out_dir, MANIFEST_NAME)
    if not osp.isfile(path):
        return None
    fix = ('nothing was removed; remove the generated files by hand (or '
           'the file list), or write to another folder (out_dir=)')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f'{path}: the list of generated files is not valid '
                         f'JSON ({exc}); {fix}') from None
    if isinstance(data, list) and all(isinstance(p, str) for p in data):
        return {p: None for p in data}
    if isinstance(data, dict) and all(isinstance(p, str) for p in data):
        return {p: r if _valid_record(r) else None for p, r in data.items()}
    raise InputError(f'{path}: not a list of generated files (expected a '
                     f'JSON object of file names); {fix}')


def _valid_record(record: object) -> bool:
    return isinstance(record, dict) and isinstance(
        record.get('size'), int) and isinstance(record.get('sha256'), str)


def _inside(out_dir: str, rel: str) -> bool:
    """Whether ``rel`` names a path inside ``out_dir`` (no ``..``, not
    absolute, no link leading out)."""
    if not rel or osp.isabs(rel) or '..' in rel.replace('\\', '/').split('/'):
        return False
    root = osp.realpath(out_dir)
    return osp.realpath(osp.join(out_dir, rel)).startswith(root + os.sep)


def _unchanged(path: str, record: Record) -> bool:
    """Whether file ``path`` is still what ``record`` describes."""
    if record is None or osp.islink(path) or not osp.isfile(path):
        return False
    if osp.getsize(path) != record['size']:
        return False
    return file_record(path)['sha256'] == record['sha256']


def _sort_out(out_dir: str,
              manifest: Dict[str, Record]) -> Tuple[List[str], List[str]]:
    """``(removable, kept)``: the listed files that may be removed, and
    the listed paths that exist but may not (outside ``out_dir``, changed
    since, or without a record)."""
    removable, kept = [], []
    for rel, record in sorted(manifest.items()):
        if not _inside(out_dir, rel):
            kept.append(rel)
        elif osp.lexists(osp.join(out_dir, rel)):
            (removable if _unchanged(osp.join(out_dir, rel), record)
             else kept).append(rel)
    return removable, kept


def _listing(names: List[str]) -> str:
    return ', '.join(names[:3]) + (
        f', ... ({len(names)} files)' if len(names) > 3 else '')


def take_out_dir(out_dir: str, overwrite: bool,
                 will_write: Callable[[str], bool],
                 warn: Callable[[str], None]) -> Set[str]:
    """Make ``out_dir`` ready for a run: create it, or check it and (with
    ``overwrite``) remove what an earlier run wrote there.

    Args:
        out_dir (str): The output folder.
        overwrite (bool): Remove an earlier run's files (those its
            :data:`MANIFEST_NAME` lists, inside ``out_dir``, unchanged).
        will_write (Callable[[str], bool]): Whether this run writes a path
            (relative to ``out_dir``).
        warn (Callable[[str], None]): Takes the one warning line naming
            the listed files that are kept.

    Returns:
        set[str]: The files left in ``out_dir`` (not this run's).

    Raises:
        InputError: A non-empty folder without :data:`MANIFEST_NAME`; one
            with it and ``overwrite`` False; an unreadable list; a file
            this run would write that may not be removed. Nothing is
            removed then.
    """
    if not osp.isdir(out_dir):
        os.makedirs(osp.join(out_dir, 'images'))
        return set()
    manifest = read_manifest(out_dir)
    present = all_files(out_dir)
    if manifest is None:
        if present:
            raise InputError(
                f'{out_dir} is not empty and has no {MANIFEST_NAME} (the list '
                'of the files a generator run wrote), so nothing in it is '
                f'replaced or removed ({_listing(sorted(present))}); write to '
                'a new or empty folder (out_dir=)')
        os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
        return set()
    if not overwrite:
        owned = sorted([p for p in manifest if _inside(out_dir, p) and
                        osp.isfile(osp.join(out_dir, p))] + [MANIFEST_NAME])
        raise InputError(
            f'{out_dir} already holds a generated dataset ({_listing(owned)})'
            '; replace it with --overwrite (overwrite=True), which first '
            'removes the files the generator wrote there, or write to '
            'another folder')
    removable, kept = _sort_out(out_dir, manifest)
    blocking = sorted(p for p in present - set(removable) - {MANIFEST_NAME}
                      if will_write(p))
    if blocking:
        raise InputError(
            f'{out_dir}: this run writes {_listing(blocking)}, which the '
            f'generator did not write as it is (changed since, or not in '
            f'{MANIFEST_NAME}); nothing was removed: move it away or write '
            'to another folder (out_dir=)')
    for rel in removable:
        os.remove(osp.join(out_dir, rel))
    os.remove(osp.join(out_dir, MANIFEST_NAME))
    if kept:
        warn(f'kept {len(kept)} file(s) listed in '
             f'{osp.join(out_dir, MANIFEST_NAME)} that the generator did not '
             'write as they are (changed since, or outside out_dir): '
             f'{_listing(kept)}')
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    return all_files(out_dir)
