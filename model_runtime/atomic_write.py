"""Output files written whole or not at all, and never through someone else's link.

Every file the runtime (and the batch runner) writes goes to a fresh temporary file in the
target's own folder, created exclusively (``tempfile.mkstemp``: O_EXCL, O_NOFOLLOW, mode
0600, a random name), is flushed to disk, and then renamed over the target with
``os.replace``. So:

* a crash or kill never leaves half an output behind, and readers see the old file or the new
  one, never a mix;
* two processes writing the same output each write their own temporary; the last rename wins
  and the file is whole;
* a symlink planted where a fixed temporary name would be (``out.json.partial``) is never
  followed: there is no fixed name, and the target itself is replaced, not written through;
* a failure removes only our own temporary and raises the first error, as an OutputError that
  names the path (read-only folder, disk full, a file where a folder should be).

Temporaries are named ``.<name>.<host>.<pid>.<random><suffix>``; one left by a killed process
(same host, that process gone, owned by us) is removed the next time the same output is
written. So is a scratch folder of the same name (``reserve_temporary_folder``: the spools of
a result written piece by piece). Only the standard library is used: the add-on's batch runner
imports this without PyTorch.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import OutputError

TEMP_SUFFIX = ".partial"
_NAME_CHARS = 80                  # of the target's name in a temporary's (names stay < 255)
_umask: int | None = None


def _host() -> str:
    try:
        name = socket.gethostname()
    except OSError:
        name = ""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name or "host")[:32]


def _prefix(path: Path) -> str:
    return f".{path.name[:_NAME_CHARS]}."


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _error(path: Path, exc: OSError) -> OutputError:
    where = f"{path}" if exc.filename in (None, str(path)) else f"{path} ({exc.filename})"
    return OutputError(f"cannot write {where}: {_reason(exc)}. Check that the folder exists, is "
                       "writable and has free space.")


def _default_mode() -> int:
    """What open() would give a new file: 0666 less the umask (read once, from /proc where it
    can be, since setting the umask to read it races with other threads)."""
    global _umask
    if _umask is None:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                _umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
        except (OSError, StopIteration, ValueError, IndexError):
            _umask = os.umask(0o022)
            os.umask(_umask)
    return 0o666 & ~_umask


def _final_mode(path: Path) -> int:
    """The replaced file's permissions if there is one, else a new file's."""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return _default_mode()


def _pid_gone(pid: int) -> bool:
    if os.name != "posix":
        return False        # no cheap, side-effect free check: leave it (a hidden leftover)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:         # EPERM: alive, someone else's
        return False
    return False


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left by killed processes on this machine; returns them.
    Never touches another host's, a live process's, another user's, or anything not a file or
    a folder (a link is left alone)."""
    path = Path(path)
    folder, prefix = path.parent, _prefix(path) + _host() + "."
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix) or TEMP_SUFFIX not in name:
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or not _pid_gone(int(pid)):
            continue
        stale = folder / name
        try:
            st = os.lstat(stale)
            if st.st_uid != os.getuid():
                continue
            if stat.S_ISREG(st.st_mode):
                os.unlink(stale)
                removed.append(stale)
            elif stat.S_ISDIR(st.st_mode):
                shutil.rmtree(stale)
                removed.append(stale)
        except OSError:
            pass
    return removed


def _make_folder(path: Path) -> None:
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise OutputError(f"cannot write {path}: {folder} is a file, not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: cannot create its folder {path.parent}: "
                          f"{_reason(exc)}") from exc


def reserve_temporary(path: str | os.PathLike, suffix: str = TEMP_SUFFIX) -> tuple[int, Path]:
    """(open descriptor, name) of a new private temporary beside ``path``; OutputError when the
    folder cannot take it. Also clears this output's stale temporaries."""
    path = Path(path)
    _make_folder(path)
    remove_stale_temporaries(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_prefix(path)}{_host()}.{os.getpid()}.", suffix=suffix,
                                   dir=path.parent)
    except OSError as exc:
        raise _error(path, exc) from exc
    return fd, Path(tmp)


def reserve_temporary_folder(path: str | os.PathLike) -> Path:
    """A new private folder (mode 0700) beside ``path`` for a writer's scratch files, named like
    its temporaries; OutputError when the folder cannot take it. The caller removes it."""
    path = Path(path)
    _make_folder(path)
    remove_stale_temporaries(path)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{_prefix(path)}{_host()}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                                     dir=path.parent))
    except OSError as exc:
        raise _error(path, exc) from exc


def _discard(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass                # never hide the error that brought us here


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _discarded_on_error(tmp: Path, path: Path):
    """On any error remove our temporary and raise the first error (an OSError as an
    OutputError naming the path)."""
    try:
        yield
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise _error(path, exc) from exc
        raise


def commit(tmp: Path, path: str | os.PathLike) -> Path:
    """Rename a finished temporary over ``path`` (OutputError on failure; tmp removed)."""
    path = Path(path)
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise _error(path, exc) from exc
        raise
    _sync_folder(path.parent)
    return path


def write_file(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write ``path`` atomically: ``write(f)`` fills a binary file object (a private temporary
    beside it), which then replaces ``path``. OutputError (naming the path) for any OSError;
    any other error of ``write`` is raised as it is. Either way no temporary is left."""
    path = Path(path)
    fd, tmp = reserve_temporary(path)
    with _discarded_on_error(tmp, path):
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), _final_mode(path))
            os.fsync(f.fileno())
    return commit(tmp, path)


def write_by_name(path: str | os.PathLike, write: Callable[[Path], None], extension: str = "") -> Path:
    """Like write_file, for writers that only take a file name (Blender's save): ``write(tmp)``
    writes the reserved temporary (replacing it is fine), which then replaces ``path``.
    ``extension`` ends the temporary's name, for writers that insist on one (``.blend``)."""
    path = Path(path)
    fd, tmp = reserve_temporary(path, TEMP_SUFFIX + extension)
    os.close(fd)
    with _discarded_on_error(tmp, path):
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))   # fails on a swapped-in link
        try:
            if os.name == "posix":
                os.fsync(fd)
        finally:
            os.close(fd)
    return commit(tmp, path)
