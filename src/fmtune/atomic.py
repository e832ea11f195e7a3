"""Folders that appear whole or not at all, and caches that several processes fill exactly once.

Everything fmtune writes for later readers (checkpoints, exports, converted models, tiny-random models) is
built in a hidden temp folder beside its final place, fsynced, then renamed into place: a crash, a full disk
or a file-size limit midway leaves the previous state, never a partial folder where a complete one is expected.
A cache folder that several processes may need at once (FSDP ranks, two `fmtune train` on a fresh machine) is
filled under a lock; a process that finds it complete after waiting simply uses it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock

LOCK_TIMEOUT_S = 3600.0  # a slow conversion (a big model) may hold the lock a long time; a dead holder frees it


@contextlib.contextmanager
def staged_dir(final: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temp folder beside `final`; when the block succeeds, fsync it and rename it to `final`.

    On any failure the temp folder is removed and `final` is untouched. `replace=True` swaps out an existing
    `final`; otherwise an existing non-empty `final` is an error (FileExistsError)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", suffix=".tmp", dir=final.parent))
    try:
        yield staging
        fsync_tree(staging)
        if final.exists() and replace:
            _remove_aside(final)
        try:
            staging.rename(final)  # atomic; fails when `final` is a non-empty folder
        except OSError as err:
            raise FileExistsError(f"{final} already exists") from err
        fsync(final.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fill_once(target: Path, build: Callable[[Path], None], is_complete: Callable[[Path], bool]) -> Path:
    """Make sure the cache folder `target` is complete, building it at most once across processes.

    `build(staging)` writes the folder's contents into `staging`; `is_complete(folder)` says whether a folder
    is usable as it is. Holders of the lock wait for each other; whoever finds `target` complete returns it.
    An incomplete or outdated `target` (left by a crash or an older fmtune) is replaced."""
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock"), timeout=LOCK_TIMEOUT_S):
        if is_complete(target):  # another process filled it while we waited
            return target
        with staged_dir(target, replace=True) as staging:
            build(staging)
    return target


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write `path` so that readers see the old file or the whole new one (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_tree(root: Path) -> None:
    """fsync every file and folder under `root` (files first, then their folders), so a rename after it
    publishes data that is on disk."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            fsync(Path(folder) / name)
        fsync(Path(folder))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_aside(path: Path) -> None:
    """Rename first (atomic), then delete: a reader never sees a half-deleted folder under the old name."""
    aside = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(aside, ignore_errors=True)
    path.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)
