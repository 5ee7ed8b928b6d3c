"""One writer per index: an flock'ed `index.lock` beside the data, the holder's pid inside.

The kernel drops an flock when the process holding it dies, however it dies (SIGKILL,
OOM killer, a crash), so a lock file left behind by a killed run never blocks the
next one: it simply takes the lock and writes its own pid. The pid is only there
so that the message names the run to wait for.

Readers never take this lock; they probe it (`writer_pid`) to learn that a writer
is at work, and then hand the embedded engine over between operations (store.py).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from codesearch.errors import UserError

LOCK_NAME = "index.lock"
# Held by whichever process has the embedded engine open (store.py).
ENGINE_LOCK = "engine.lock"
# Readers probe the lock with a brief shared lock, which can make a writer's first
# non-blocking attempt fail; the writer retries this long before giving up.
ACQUIRE_GRACE = 2.0


def holder_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def writer_pid(folder: Path) -> int | None:
    """The pid of the index run holding `folder`'s lock (possibly this process), else None."""
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # no lock file: no writer has ever run here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return holder_pid(path) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """A descriptor holding an exclusive flock on `path`, or None while another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class IndexLock:
    """The exclusive right to write one index; a context manager."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.fd: int | None = None

    def acquire(self, wait: float = ACQUIRE_GRACE) -> IndexLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    pid = holder_pid(self.path)
                    who = f" (pid {pid})" if pid else ""
                    raise UserError(
                        f"another 'codesearch index'{who} is updating the index in {self.folder}; "
                        "wait for it to finish (or stop it) and run this again") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            # Unlocking closes the file; the file itself stays (removing it would race
            # with a run that has just opened it and is about to lock it).
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> IndexLock:
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc) -> None:
        self.release()
