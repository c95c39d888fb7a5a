# Copyright (c) custom_pose contributors. All rights reserved.
"""One training per work dir.

Two trainings writing into one work dir delete each other's checkpoints
(each keeps its own ``max_keep_ckpts`` and best checkpoint) and mix their
``last_checkpoint``. :class:`WorkDirLock` lets one training hold a work dir:

- the lock is an exclusive ``flock`` on ``<work_dir>/train.lock``, held for
  as long as the training runs; the kernel drops it when the process ends,
  however it ends, so a killed run never blocks the next one;
- the file records who holds it (pid, host, start time, command line), so a
  second training stops with :class:`WorkDirLockedError` naming that
  process;
- a holder that ended without releasing (killed) leaves its record behind:
  the next training takes the lock over and warns, naming the dead run;
- where the file system has no ``flock`` (some network file systems) the
  record alone decides: a holder on this host whose pid is gone is stale,
  one on another host is taken to be alive.

Evaluations (``tools/test.py``) do not take the lock: they may run in a
work dir while it trains.
"""
import errno
import json
import os
import os.path as osp
import socket
import sys
import time
import weakref
from typing import Any, Dict, Optional

from custom_pose.errors import CustomPoseError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ['WorkDirLock', 'WorkDirLockedError', 'LOCK_FILE_NAME',
           'describe_holder']

#: Name of the lock file in the work dir.
LOCK_FILE_NAME = 'train.lock'


class WorkDirLockedError(CustomPoseError, RuntimeError):
    """Another training holds the work dir."""


#: Locks held in this process; a forked child (a data-loader worker) closes
#: its copies of their files, so that the lock ends with the training
#: process and not with its last worker.
_HELD: 'weakref.WeakSet[WorkDirLock]' = weakref.WeakSet()


def _close_in_child() -> None:
    for lock in list(_HELD):
        fd, lock._fd = lock._fd, None
        if fd is not None:
            try:
                os.close(fd)  # the parent's descriptor keeps the flock
            except OSError:  # pragma: no cover
                pass


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_close_in_child)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def describe_holder(holder: Dict[str, Any]) -> str:
    """``'pid 123 on host h, started 2024-05-01 10:00:00 (train.py ...)'``."""
    started = holder.get('started')
    when = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started)) \
        if isinstance(started, (int, float)) else 'at an unknown time'
    text = (f"pid {holder.get('pid', '?')} on host "
            f"{holder.get('host', '?')}, started {when}")
    command = holder.get('command')
    if command:
        command = command if len(command) <= 120 else command[:117] + '...'
        text += f' ({command})'
    return text


class WorkDirLock:
    """The training lock of one work dir.

    Args:
        work_dir (str): The work dir (created if missing).

    Example::

        lock = WorkDirLock('work_dirs/x')
        stale = lock.acquire()      # WorkDirLockedError if held
        try:
            ...                     # train
        finally:
            lock.release()
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = str(work_dir)
        self.path = osp.join(self.work_dir, LOCK_FILE_NAME)
        self._fd: Optional[int] = None
        self._no_flock = False

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    # ------------------------------------------------------------------
    def _read(self, fd: int) -> Dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        data = b''
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        try:
            holder = json.loads(data.decode('utf-8')) if data.strip() else {}
        except (ValueError, UnicodeDecodeError):
            holder = {'pid': '?', 'host': '?'}  # a garbled record
        return holder if isinstance(holder, dict) else {}

    def _write(self, fd: int, record: Dict[str, Any]) -> None:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(record).encode('utf-8'))
        os.fsync(fd)

    def _lock_fd(self, fd: int) -> bool:
        """Take the ``flock``; False if another process holds it, True also
        where the file system has no ``flock`` (the record decides)."""
        if fcntl is None:  # pragma: no cover - Windows
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                self._no_flock = True
                return True
            raise
        return True

    def _is_stale(self, holder: Dict[str, Any]) -> bool:
        """Whether a record left by a holder that no longer runs (only asked
        where ``flock`` cannot tell)."""
        pid = holder.get('pid')
        if holder.get('host') == socket.gethostname() and isinstance(pid,
                                                                     int):
            return not _pid_alive(pid)
        return False

    # ------------------------------------------------------------------
    def acquire(self) -> Optional[Dict[str, Any]]:
        """Take the lock and record this process in it.

        Returns:
            dict | None: The record of a previous holder that ended without
            releasing the lock (a killed run), which this call took over;
            None if the lock was free.

        Raises:
            WorkDirLockedError: If a live training holds it, naming that
                process.
        """
        if self._fd is not None:
            return None
        os.makedirs(self.work_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        self._no_flock = False
        try:
            locked = self._lock_fd(fd)
            holder = self._read(fd)
            if not locked or (self._no_flock and holder
                              and holder.get('pid') != os.getpid()
                              and not self._is_stale(holder)):
                raise WorkDirLockedError(
                    f'work dir {self.work_dir} is in use by another training: '
                    f'{describe_holder(holder)}. Wait for it to finish or stop '
                    'it, or train in another --work-dir'
                    + (f' (if that run is gone, delete {self.path})'
                       if self._no_flock else ''))
            self._write(fd, dict(
                pid=os.getpid(), host=socket.gethostname(),
                started=time.time(), command=' '.join(
                    [osp.basename(sys.argv[0])] + sys.argv[1:])))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD.add(self)
        return holder or None

    def release(self) -> None:
        """Clear the record and drop the lock (a no-op if not held)."""
        fd, self._fd = self._fd, None
        _HELD.discard(self)
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:  # pragma: no cover - e.g. the disk went away
            pass
        finally:
            os.close(fd)  # drops the flock

    def holder(self) -> Optional[Dict[str, Any]]:
        """The record of the live training holding the lock, None if it is
        free (or held by this object)."""
        if self._fd is not None or not osp.isfile(self.path):
            return None
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return None
        try:
            self._no_flock = False
            if self._lock_fd(fd) and not self._no_flock:
                return None  # free: we could take it (closing drops it)
            holder = self._read(fd)
            if self._no_flock and (not holder or self._is_stale(holder)):
                return None
            return holder
        finally:
            os.close(fd)
