"""The journal file storage, with a lock that a killed worker does not leave held.

Every write to an Optuna journal file happens under the lock file
``PATH.lock``, created exclusively and removed on release. Optuna's own lock
left behind by a process killed while writing holds up every other process
for its grace period (30 s) before one of them removes it. :class:`JournalLock`
is the same file, so nndl's workers and other Optuna processes on a journal
still exclude one another, but its holder also keeps an ``flock`` on it: the
kernel drops that when the holder dies, and a waiter that can take it knows
the file was left over and removes it at once.
"""

from __future__ import annotations

import os
import stat
import time
import uuid
from pathlib import Path

from .objective import worker_name

try:
    import fcntl
except ImportError:  # Windows: Optuna's own lock
    fcntl = None


class JournalLock:
    """The lock of a journal file: ``PATH.lock``, freed at once when its holder dies.

    The holder creates the file exclusively, takes an ``flock`` on it and
    only then writes its name into it (``host:pid``), so a non-empty lock
    file whose ``flock`` can be taken belongs to a dead process. Lock files
    of other kinds (Optuna's symlinks, an empty file) are removed after
    ``grace_period`` seconds without change, as Optuna does.
    """

    def __init__(self, path, grace_period: float = 30.0):
        self.lock_file = os.fspath(path) + ".lock"
        self.grace_period = float(grace_period)
        self._fd: int | None = None

    def acquire(self) -> bool:
        delay, seen, seen_since = 0.001, None, time.monotonic()
        while True:
            if self._create():
                return True
            try:
                info = os.lstat(self.lock_file)
            except FileNotFoundError:
                continue  # released meanwhile
            if (info.st_ino, info.st_mtime_ns) != seen:
                seen, seen_since = (info.st_ino, info.st_mtime_ns), time.monotonic()
            if self._remove_if_holder_died(info):
                continue
            if time.monotonic() - seen_since > self.grace_period:
                self._remove(info.st_ino)
                continue
            time.sleep(delay)
            delay = min(2 * delay, 0.05)

    def release(self) -> None:
        # The name goes before the flock, so a waiter never finds this file unlocked.
        if self._fd is None:
            return
        try:
            fstat = os.fstat(self._fd)
            self._remove(fstat.st_ino)
        finally:
            os.close(self._fd)
            self._fd = None

    def _create(self) -> bool:
        try:
            fd = os.open(self.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, f"{worker_name()}\n".encode())
        except BaseException:
            os.close(fd)
            self._remove(None)
            raise
        self._fd = fd
        return True

    def _remove_if_holder_died(self, info) -> bool:
        """Remove the lock file if it is one of these locks whose holder's process is gone."""
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        try:
            fd = os.open(self.lock_file, os.O_RDONLY)
        except FileNotFoundError:
            return True  # released meanwhile: try again at once
        try:
            if os.fstat(fd).st_ino != info.st_ino:
                return True  # another lock now: look again
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # held by a live process
            # Holding the flock of the dead holder's file, no other waiter can
            # decide to remove it too: remove it if the name still points to it.
            self._remove(info.st_ino)
            return True
        finally:
            os.close(fd)

    def _remove(self, inode: int | None) -> None:
        """Rename the lock file away and delete it, if it is still the file ``inode``."""
        try:
            if inode is not None and os.lstat(self.lock_file).st_ino != inode:
                return
            moved = f"{self.lock_file}.{uuid.uuid4().hex}.removed"
            os.rename(self.lock_file, moved)
            os.unlink(moved)
        except FileNotFoundError:
            pass


def make_folder(folder) -> None:
    """Create ``folder`` and its parents; a one-line OSError naming the part that is a file."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        part = next((p for p in (Path(folder), *Path(folder).parents) if p.is_file()), None)
        if part is None:
            raise
        raise OSError(f"{part} is a file, not a folder") from None


def journal_storage(path: str):
    """An Optuna journal storage on ``path``, its folder and file created.

    A one-line OSError if the file cannot be written.
    """
    import optuna

    try:
        from optuna.storages.journal import JournalFileBackend as _Backend
    except ImportError:  # Optuna < 4.0
        from optuna.storages import JournalFileStorage as _Backend
    try:
        make_folder(Path(path).parent)
        lock = JournalLock(path) if fcntl is not None else None
        backend = _Backend(path, lock_obj=lock)  # creates the file when it is missing
        with open(path, "ab"):  # an existing file must be writable too
            pass
        if lock is not None:  # and the lock file creatable beside it
            lock.acquire()
            lock.release()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and os.fspath(exc.filename) != path else ""
        raise OSError(f"cannot write the journal file {path}: {reason}{where}") from None
    return optuna.storages.JournalStorage(backend)
