# Copyright (c) custom_pose contributors. All rights reserved.
"""All-or-nothing file writing.

A file is written under a temporary name in its target's folder, flushed
and ``fsync``-ed, and then renamed over the target (``os.replace``, atomic
on POSIX file systems); the folder is ``fsync``-ed so that the rename itself
survives a crash. Whatever happens in between (an exception, a full disk, a
``SIGKILL``, a power cut) the target is either the old file or the complete
new one, never a truncated mix; a failed write removes its temporary file.

Temporary files are named ``.<target name>.<random>.tmp`` (see
:data:`TEMP_SUFFIX`) and get the permissions of a file created normally
(``0666`` less the umask, so ``0644`` under the usual ``022``), not
``mkstemp``'s ``0600``.

- :func:`atomic_write`: a context manager yielding the open temporary file;
- :func:`write_text_atomic`, :func:`write_json_atomic`: a whole text or
  JSON file in one call;
- :func:`reserve_temp_path` + :func:`commit_temp_path`: for writers that
  need a file *name* (e.g. mmengine's checkpoint saving);
- :func:`new_file_mode`: the mode a newly created file gets.
"""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional

__all__ = [
    'TEMP_SUFFIX', 'new_file_mode', 'reserve_temp_path', 'commit_temp_path',
    'discard_temp_path', 'atomic_write', 'write_text_atomic',
    'write_json_atomic', 'named_os_error', 'fsync_dir'
]

#: Suffix of the temporary files (``.<name>.<random>.tmp``).
TEMP_SUFFIX = '.tmp'


def new_file_mode() -> int:
    """Permission bits a newly created file gets: ``0666`` less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_dir(path: str) -> None:
    """``fsync`` folder ``path`` so that a rename in it is durable (a no-op
    where folders cannot be opened, e.g. on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform without folder fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - e.g. some network file systems
        pass
    finally:
        os.close(fd)


def reserve_temp_path(path: str, suffix: str = TEMP_SUFFIX) -> str:
    """Create an empty temporary file beside ``path`` (its folder is created
    if needed) with :func:`new_file_mode` permissions.

    Args:
        path (str): The file the temporary file will replace.
        suffix (str): End of the temporary file's name (writers that
            choose their format by the extension need it there, e.g.
            ``'.tmp.pkg.slp'``). Defaults to :data:`TEMP_SUFFIX`.

    Returns:
        str: The temporary file; hand it to :func:`commit_temp_path` once it
        is written, or to :func:`discard_temp_path`.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix=suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, new_file_mode())
    return tmp


def commit_temp_path(tmp: str, path: str) -> str:
    """``fsync`` the written temporary file ``tmp`` and rename it over
    ``path`` (then ``fsync`` the folder).

    Returns:
        str: ``path``.
    """
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(osp.dirname(osp.abspath(path)))
    return path


def discard_temp_path(tmp: Optional[str]) -> None:
    """Remove a temporary file if it is still there."""
    if tmp and osp.lexists(tmp):
        try:
            os.remove(tmp)
        except OSError:  # pragma: no cover - already gone / unremovable
            pass


@contextmanager
def atomic_write(path: str,
                 mode: str = 'w',
                 encoding: Optional[str] = 'utf-8',
                 newline: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block ends
    without an error; on an error it is removed and ``path`` is untouched::

        with atomic_write('out/keypoints.json') as f:
            json.dump(data, f)

    Args:
        path (str): The target file.
        mode (str): ``'w'`` (text) or ``'wb'`` (bytes).
        encoding (str, optional): Text encoding (ignored for bytes).
        newline (str, optional): As :func:`open`.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got "
                         f'{mode!r}')
    tmp = reserve_temp_path(path)
    try:
        kwargs = {} if 'b' in mode else dict(encoding=encoding,
                                              newline=newline)
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
        commit_temp_path(tmp, path)
    except OSError as exc:
        discard_temp_path(tmp)
        raise named_os_error(exc, path) from exc
    except BaseException:
        discard_temp_path(tmp)
        raise


def named_os_error(exc: OSError, path: str) -> OSError:
    """``exc`` naming ``path`` when it names no file (a failed ``write``
    does not: e.g. ``EFBIG`` over the file-size limit, ``ENOSPC``), so that
    its message says which file could not be written."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno),
                     path)


def write_json_atomic(path: str, obj: Any, indent: Optional[int] = 1,
                      **kwargs: Any) -> str:
    """Write ``obj`` as JSON to ``path`` all-or-nothing (serialised first,
    so that an object that cannot be written leaves no file); ``kwargs``
    go to :func:`json.dumps` (e.g. ``default=float``).

    Returns:
        str: ``path``.
    """
    import json
    return write_text_atomic(path, json.dumps(obj, indent=indent, **kwargs))


def write_text_atomic(path: str, text: str, encoding: str = 'utf-8') -> str:
    """Write ``text`` to ``path`` all-or-nothing (see :func:`atomic_write`).

    Returns:
        str: ``path``.
    """
    with atomic_write(path, 'w', encoding=encoding) as f:
        f.write(text)
    return path
