"""What a checkpoint may hold: torch's safe ``weights_only`` loading of
mmengine's files, and ``meta`` in plain Python types.

torch >= 2.6 loads with ``weights_only=True`` by default and
refuses every pickled global that is not allow-listed.  mmengine 0.10.x calls
plain ``torch.load(file)`` when resuming, and its checkpoints hold a few
non-tensor objects: the message hub's :class:`~mmengine.logging.HistoryBuffer`
logs and numpy arrays/scalars (history values, the dataset metainfo in
``meta``).  So ``Runner.resume`` of a checkpoint mmengine has just written
fails with ``_pickle.UnpicklingError: Weights only load failed``.

An empty numpy array pickles its (empty) data as a call of ``bytes()``
(pickle protocol 2 writes ``b''`` that way), so ``builtins.bytes`` is bound
to :func:`_empty_bytes`, which makes only empty ``bytes`` and refuses
everything else. The package's own runs write ``meta`` in plain Python types
(:func:`plain_metainfo`), which need none of this; the allow-list keeps
checkpoints written by mmengine's own ``Runner`` and by earlier versions of
the package loadable, e.g. those of a keypoint set without a skeleton, whose
``dataset_meta['skeleton_link_colors']`` is an empty array.

A ``HistoryBuffer`` also pickles its statistics methods (``HistoryBuffer.min``
...), which pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``.
Allowing ``builtins.getattr`` itself would let a file read any attribute of
any allowed object, so the name ``builtins.getattr`` is bound to
:func:`_history_buffer_getattr`, which resolves exactly those methods and
refuses everything else.

Instead of disabling safe loading, :func:`register_checkpoint_safe_globals`
allow-lists exactly those types through torch's public
``torch.serialization.add_safe_globals``; anything else in a file is still
refused.  ``import custom_pose`` calls it once.

**Damaged files.** torch's reader does not check the CRC-32 checksums of
its zip format: a checkpoint with a few KB of changed bytes inside a
tensor loads, and the run goes on with wrong weights.
:func:`zip_damage` reads every member of the archive through Python's
:mod:`zipfile`, which compares each member's CRC-32 with the one in the
archive (about 60 ms for a 51 MB file in the page cache, against
about 80 ms for torch.load itself).
"""
import pickle
import zipfile
import zlib
from typing import IO, Any, Dict, List, Optional, Union

import numpy as np
import torch

__all__ = [
    'checkpoint_safe_globals', 'register_checkpoint_safe_globals',
    'plain_metainfo', 'restore_metainfo_arrays', 'METAINFO_ARRAYS',
    'zip_damage'
]


def _numpy_multiarray() -> Any:
    """numpy's ``multiarray`` module (``numpy._core`` in numpy 2)."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and isinstance(name, str) and not name.startswith('_'):
        method = HistoryBuffer.__dict__.get(name)
        if callable(method):
            return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: '
        'custom_pose only allows HistoryBuffer statistics methods')


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()`` restricted to the empty value protocol-2 pickles write
    for ``b''`` (the data of an empty numpy array)."""
    if args and args not in (('', ), ('', 'latin1'), (b'', )):
        raise pickle.UnpicklingError(
            f'refusing bytes{args!r} while loading a checkpoint: custom_pose '
            'only allows the empty bytes of an empty numpy array')
    return b''


def checkpoint_safe_globals() -> List[Any]:
    """The types mmengine writes into checkpoints, besides tensors.

    Returns:
        list: Callables/classes to pass to ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer

    multiarray = _numpy_multiarray()
    types: List[Any] = [
        HistoryBuffer,             # MessageHub.log_scalars values
        multiarray._reconstruct,   # numpy arrays (history, metainfo)
        multiarray.scalar,         # numpy scalars (runtime info, metrics)
        np.ndarray,
        np.dtype,
        (_history_buffer_getattr, 'builtins.getattr'),  # HistoryBuffer.min ...
        (_empty_bytes, 'builtins.bytes'),  # the data of an empty array
    ]
    # numpy >= 1.25 pickles dtypes through their concrete dtype classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        types += [
            getattr(dtypes, name) for name in sorted(dir(dtypes))
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    return types


def register_checkpoint_safe_globals() -> None:
    """Allow-list :func:`checkpoint_safe_globals` for ``torch.load``.

    A no-op on torch versions without ``add_safe_globals`` (< 2.4), which
    load these checkpoints anyway. Safe to call more than once.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - old torch
        return
    known = torch.serialization.get_safe_globals()
    add_safe_globals([t for t in checkpoint_safe_globals() if t not in known])


def plain_metainfo(value: Any) -> Any:
    """``value`` with numpy arrays as (nested) lists and numpy scalars as
    Python numbers, recursively through dicts, lists and tuples.

    Checkpoints keep their ``meta`` in these plain types (mmpose's dataset
    metainfo holds colour and sigma arrays), so that any ``torch.load``
    with ``weights_only=True`` reads it without an allow-list;
    :func:`restore_metainfo_arrays` turns the metainfo's arrays back.
    """
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain_metainfo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
        return type(value)(plain_metainfo(v) for v in value)
    return value


#: The fields of mmpose's parsed metainfo that are numpy arrays, with their
#: dtypes (``mmpose.datasets.datasets.utils.parse_pose_metainfo``).
METAINFO_ARRAYS: Dict[str, Any] = {
    'keypoint_colors': np.uint8,
    'skeleton_link_colors': np.uint8,
    'dataset_keypoint_weights': np.float32,
    'sigmas': np.float32,
}


def restore_metainfo_arrays(meta: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of a parsed metainfo whose array fields
    (:data:`METAINFO_ARRAYS`), stored as lists by :func:`plain_metainfo`,
    are numpy arrays again, as mmpose's datasets give them: colours
    ``(K, 3)`` / ``(L, 3)`` uint8 (``(0, 3)`` without a skeleton), weights
    and sigmas ``(K, )`` float32."""
    meta = dict(meta)
    for key, dtype in METAINFO_ARRAYS.items():
        if key in meta and meta[key] is not None and not isinstance(
                meta[key], np.ndarray):
            arr = np.asarray(meta[key], dtype=dtype)
            if key.endswith('_colors') and arr.size == 0:
                arr = arr.reshape(0, 3)
            meta[key] = arr
    return meta


def zip_damage(source: Union[str, IO[bytes]]) -> Optional[str]:
    """Why the bytes of a zip-format torch checkpoint are damaged.

    Every member is read and its CRC-32 compared with the archive's. Files
    in torch's legacy (non-zip) format carry no checksums and are not
    checked; neither are members torch wrote without a checksum
    (``torch.serialization.set_crc32_options(False)`` stores 0).

    Args:
        source (str | file): The file, or a seekable binary file object.

    Returns:
        str | None: E.g. ``'CRC mismatch in epoch_3/data/12'``,
        ``'unreadable zip entry epoch_3/data/2'`` (a damaged entry header)
        or ``'bad zip structure: ...'``; ``None`` for an intact file or one
        that is not a zip archive.

    Raises:
        OSError: If the file cannot be read.
    """
    if not zipfile.is_zipfile(source):
        return None
    if not isinstance(source, str):
        source.seek(0)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        return f'bad zip structure: {exc}'
    with archive:
        for info in archive.infolist():
            if info.is_dir() or info.CRC == 0:
                continue
            try:
                with archive.open(info) as member:
                    while member.read(1 << 24):
                        pass
            except zipfile.BadZipFile as exc:
                if 'CRC' in str(exc):
                    return f'CRC mismatch in {info.filename}'
                return f'unreadable zip entry {info.filename}'
            except (zlib.error, EOFError, ValueError, NotImplementedError):
                # a damaged entry header: a bad name, size or method
                return f'unreadable zip entry {info.filename}'
    if not isinstance(source, str):
        source.seek(0)
    return None
