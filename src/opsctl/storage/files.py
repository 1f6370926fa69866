"""Safe edits of system files (fstab, mdadm.conf): temp file, fsync, rename, backup kept."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from opsctl.core.errors import OpsError
from opsctl.core.interrupt import critical

BACKUP_SUFFIX = ".opsctl-backup"


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise OpsError(f"cannot read {path}: {exc.strerror}") from None


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def atomic_write(path: Path, text: str, *, backup: bool = True) -> Path | None:
    """Replace ``path`` with ``text`` so a crash leaves either the old or the new file.

    The previous content is kept as ``<path>.opsctl-backup`` (also written atomically).
    Mode and ownership of an existing file are preserved.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OpsError(f"cannot write {path}: {exc.strerror or exc}") from None
    # Ctrl-C waits for the backup and the file: never one without the other.
    with critical():
        return _write_with_backup(path, text, st, backup)


def _write_with_backup(path: Path, text: str, st: os.stat_result | None,
                       backup: bool) -> Path | None:
    bak = None
    try:
        if backup and st is not None:
            bak = backup_path(path)
            _write(bak, path.read_text(), st)
        _write(path, text, st)
    except OSError as exc:
        raise OpsError(f"cannot write {path}: {exc.strerror or exc}") from None
    return bak


def _write(path: Path, text: str, st: os.stat_result | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if st is not None:
            os.chmod(tmp, st.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):
                os.chown(tmp, st.st_uid, st.st_gid)
        else:
            os.chmod(tmp, 0o644)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.EXDEV):
                raise
            # The file is a bind mount (containers, VMs): it cannot be renamed over, so
            # write it in place; the backup written before still holds the old content.
            _write_in_place(path, text)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(str(path.parent), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _write_in_place(path: Path, text: str) -> None:
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def restore_backup(path: Path) -> None:
    bak = backup_path(path)
    if bak.exists():
        shutil.copyfile(bak, str(path) + ".restoring")
        os.replace(str(path) + ".restoring", path)
