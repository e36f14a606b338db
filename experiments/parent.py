"""Worker processes that die with the sweep that started them (:func:`start_child` in the parent,
:func:`watch_parent` in the worker). Standard library only, so a worker arms its watch before its heavy imports."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from typing import Sequence

log = logging.getLogger(__name__)

PARENT_PIPE_ENV = "MUNIT_PARENT_PIPE"   # a worker's read end of a pipe whose write end only its parent holds


def _die_with_parent(parent: int) -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM this process when the process that started it dies (even by SIGKILL)."""
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)       # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return                                       # the pipe (watch_parent) still covers it
    if os.getppid() != parent:                       # it died before the prctl: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)


def start_child(cmd: Sequence[str], env: dict | None = None, pdeathsig: bool = True) -> subprocess.Popen:
    """A worker process in its own session (a terminal's Ctrl-C reaches only the parent, which forwards it) that
    dies with its parent: a parent-death signal on Linux, and everywhere a pipe it watches (:func:`watch_parent`),
    which reads end-of-file when the parent is gone however it ended. Either way the worker gets SIGTERM, which
    checkpoints and stops its trial as Ctrl-C does (the next sweep resumes it)."""
    read, write = os.pipe()
    env = dict(os.environ if env is None else env)
    env[PARENT_PIPE_ENV] = str(read)
    parent = os.getpid()
    pre = (lambda: _die_with_parent(parent)) if pdeathsig and sys.platform.startswith("linux") else None
    try:
        proc = subprocess.Popen(list(cmd), cwd=os.getcwd(), env=env, start_new_session=True, pass_fds=(read,),
                                preexec_fn=pre)
    finally:
        os.close(read)
    os.set_inheritable(write, False)
    proc._parent_pipe = write  # type: ignore[attr-defined] -- held open for the child's life; closed by the OS
    return proc


def watch_parent() -> None:
    """In a worker started by :func:`start_child`: SIGTERM this process once its parent is gone (the pipe from the
    parent reads end-of-file). No-op in a process started otherwise."""
    import threading

    fd = os.environ.pop(PARENT_PIPE_ENV, None)
    if fd is None:
        return
    try:
        fd_num = int(fd)
        os.set_inheritable(fd_num, False)   # not for the worker's own children
    except (ValueError, OSError):
        return

    def wait() -> None:
        try:
            while os.read(fd_num, 1):
                pass
        except OSError:
            pass
        log.warning("the sweep process that started this worker is gone; stopping (pid %d)", os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, name="watch-parent", daemon=True).start()


__all__ = ["PARENT_PIPE_ENV", "start_child", "watch_parent"]
