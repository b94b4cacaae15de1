"""The reports folder: where a pack is built, and how it replaces the previous one.

    reports/
      index.html                     every pack with links, KPIs and trends
      2026-10 -> .packs/2026-10.20261202-101500.4242.3fa1     (a relative symbolic link)
      .packs/2026-10.20261202-101500.4242.3fa1/               one pack's files
      .packs/2026-10.20261202-101500.4242.3fa1.lock           held by the run building it
      _failed/2026-10-20261202-101500/                        partial output (--strict)
      .lock                                                   one change at a time

A run builds its pack in a folder of its own under ``.packs`` and holds that folder's
lock while it works. Installing points ``reports/<period>`` at the finished folder by
renaming a new link over the old one, which is atomic: a reader, or a crash at any
moment, finds either the old pack or the new one, never no pack. Installing, rebuilding
``index.html`` (written to a temporary file and renamed into place) and clearing away
stale folders happen under the folder's lock (``reports/.lock``), so runs of the same
period at the same time take turns to install, and the last to finish is the pack that
stays. A folder whose run is gone (its lock is free: a crash, ``kill -9``) is removed by
the next run. A ``reports/<period>`` folder written before packs were versioned is
swapped for a link the same way (atomically on Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import filelock

from analysis.report.failures import ReportError

PACKS = ".packs"
FAILED = "_failed"
LOCK = ".lock"
#: how long a run waits for another run's install (an install takes a few seconds)
LOCK_TIMEOUT = 600.0
#: folders the versions before this one left behind: ``.tmp-<period>-<pid>``, ``.old-...``
LEGACY = re.compile(r"^\.(?:tmp|old)-.+-(\d+)$")
LINK_TEMP = re.compile(r"^\..+\.link-(\d+)-[0-9a-f]+$")
RENAME_EXCHANGE = 2
AT_FDCWD = -100


@dataclasses.dataclass
class Build:
    """A pack being built: its folder under ``.packs`` and the lock that says it is alive."""

    period: str
    folder: Path
    lock: filelock.BaseFileLock

    def release(self) -> None:
        self.lock.release()
        Path(self.lock.lock_file).unlink(missing_ok=True)


class ReportsFolder:
    """A reports folder (created if missing); a clear error when it cannot be written."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()
        self.packs = self.root / PACKS
        try:
            self.packs.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise ReportError(unwritable(self.root, error)) from None

    @contextlib.contextmanager
    def locked(self):
        """The folder's lock: one install or clean-up at a time."""
        lock = filelock.FileLock(str(self.root / LOCK), timeout=LOCK_TIMEOUT)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ReportError(f"another report has held {lock.lock_file} for more than "
                              f"{LOCK_TIMEOUT:.0f} s; wait for it to finish (if no report "
                              "is running, delete that file)") from None
        try:
            yield
        finally:
            lock.release()

    def start(self, period: str) -> Build:
        """A new, empty folder for a pack of ``period``, locked by this process."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{period}.{stamp}.{os.getpid()}.{secrets.token_hex(2)}"
        with self.locked():
            self.clean()
            lock = filelock.FileLock(str(self.packs / f"{name}.lock"))
            lock.acquire(timeout=0)
            folder = self.packs / name
            folder.mkdir()
        return Build(period, folder, lock)

    def install(self, build: Build, after: Callable[[], object] | None = None) -> Path:
        """Point ``reports/<period>`` at the finished ``build``, remove the pack it replaces,
        then call ``after`` (the index), all under the folder's lock."""
        link = self.root / build.period
        with self.locked():
            previous = self.target(link)
            temporary = self.root / f".{build.period}.link-{os.getpid()}-{secrets.token_hex(2)}"
            os.symlink(f"{PACKS}/{build.folder.name}", temporary)
            if link.is_dir() and not link.is_symlink():
                replace_folder(temporary, link)
            else:
                os.replace(temporary, link)
            build.release()
            if previous is not None and previous != build.folder.name:
                shutil.rmtree(self.packs / previous, ignore_errors=True)
            if after is not None:
                after()
        return link

    def discard(self, build: Build) -> Path:
        """Move an unfinished pack to ``_failed/<period>-<time>`` (for a look at it)."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = self.root / FAILED / f"{build.period}-{stamp}"
        with self.locked():
            kept.parent.mkdir(exist_ok=True)
            if kept.exists():
                kept = kept.with_name(f"{kept.name}-{os.getpid()}")
            if build.folder.exists():
                os.replace(build.folder, kept)
            build.release()
        return kept

    def target(self, link: Path) -> str | None:
        """The ``.packs`` folder name ``link`` points at (None: no link, or not into .packs)."""
        if not link.is_symlink():
            return None
        path = Path(os.readlink(link))
        return path.name if path.parent.name == PACKS else None

    def clean(self) -> list[str]:
        """Remove the folders of runs that are gone (call with the folder's lock held)."""
        installed = {self.target(p) for p in self.root.iterdir()} - {None}
        removed = []
        for name in sorted({p.name.removesuffix(".lock") for p in self.packs.iterdir()}):
            if name in installed:
                continue
            lock = filelock.FileLock(str(self.packs / f"{name}.lock"))
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                continue   # its run is still working
            try:
                shutil.rmtree(self.packs / name, ignore_errors=True)
            finally:
                lock.release()
                Path(lock.lock_file).unlink(missing_ok=True)
            removed.append(name)
        for entry in self.root.iterdir():
            match = LEGACY.match(entry.name) or LINK_TEMP.match(entry.name)
            if match and not process_alive(int(match.group(1))):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed.append(entry.name)
        return removed


def replace_folder(link: Path, folder: Path) -> None:
    """Put the link ``link`` where the folder ``folder`` is, and remove the folder: with
    one atomic exchange where the system has it (Linux renameat2), else two renames."""
    if not exchange(link, folder):
        parked = folder.with_name(f".old-{folder.name}-{os.getpid()}")
        os.replace(folder, parked)
        os.replace(link, folder)
        link = parked
    shutil.rmtree(link, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    done = libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return done == 0


def process_alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid)


def unwritable(folder: Path, error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    return (f"the reports folder {folder} cannot be written ({reason}: "
            f"{error.filename or folder}). Make it writable for this user (chmod u+w), or "
            "choose another folder with --reports-dir")


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename:
    a reader sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(2)}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
