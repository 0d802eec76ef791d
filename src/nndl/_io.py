"""Atomic file writes: a temporary file in the same folder, then os.replace.

A reader never sees a half-written file and an interrupted write leaves the
previous version (or nothing) at the final path.

The temporary file of ``model.json`` is ``.model.json.HOST.PID.RANDOM.tmp``:
the machine and the process that write it, then eight random characters. A
writer that is killed outright (SIGKILL, a power cut) cannot remove it; the
next write of the same file does, and ``nndl train`` removes those of its
output folder when it starts (:func:`remove_stale_temp_files`), once the
process that wrote it no longer exists. A temporary file of a live writer is
never removed; one written on another machine (a shared folder), whose writer
cannot be asked, is removed only when it has not changed for a day, and so is
one of an older nndl that put no process in the name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import time
from pathlib import Path

__all__ = [
    "STALE_SECONDS",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "remove_stale_temp_files",
]

#: A temporary file whose writer cannot be asked (another machine's, or one
#: named without its process) is stale when unchanged for this long.
STALE_SECONDS = 24 * 3600

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
# .NAME.HOST.PID.RANDOM.tmp, and .NAME.RANDOM.tmp of the writers before it.
_TEMP_NAME = re.compile(
    r"\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[a-z0-9_]+\.tmp", re.ASCII
)
_OLD_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp", re.ASCII)


def _writer_is_gone(host: str, pid: int) -> bool:
    """Whether the process ``pid`` of this machine, a temp file's writer, no longer exists."""
    if host != _HOST or pid == os.getpid() or os.name != "posix":
        # Another machine's process cannot be asked; this process may be
        # writing it in another thread; os.kill(pid, 0) would end a Windows process.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, under another user
        return False
    return False


def _is_stale(entry: os.DirEntry, name: str | None) -> bool:
    match = _TEMP_NAME.fullmatch(entry.name)
    if match is not None and name in (None, match["name"]):
        if _writer_is_gone(match["host"], int(match["pid"])):
            return True
        by_age = match["host"] != _HOST
    else:
        old = _OLD_TEMP_NAME.fullmatch(entry.name) if name is not None else None
        by_age = old is not None and old["name"] == name
    if not by_age:
        return False
    try:
        return time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
    except OSError:
        return False


def remove_stale_temp_files(folder, name: str | None = None) -> list[Path]:
    """Remove the temporary files in ``folder`` that killed writers left; return their paths.

    With ``name``, only those of that file (``.NAME.*.tmp``). A file is
    removed when the process of this machine that wrote it no longer
    exists, or when its writer cannot be asked and it has not changed for
    :data:`STALE_SECONDS`; nothing else is touched.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and _is_stale(entry, name):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file beside ``path``; move it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, path.name)
    prefix = f".{path.name}.{_HOST}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the permissions an
        # ordinary open() would have, so a shared cache stays readable.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj, *, indent: int | None = 2) -> None:
    """Write JSON atomically; NaN and Infinity are refused (they are not JSON)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")
