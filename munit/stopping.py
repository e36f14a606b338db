"""Stopping on request. The first SIGINT (Ctrl-C) or SIGTERM (``kill``, ``docker stop``, a batch scheduler's
time limit) asks a run to finish its iteration, write a checkpoint and stop; a second one stops at once.

Both signals end up as one exception type, :class:`Interrupted` (a ``KeyboardInterrupt`` that knows which signal
asked), so every cleanup path written for Ctrl-C also runs for SIGTERM: :func:`terminate_like_interrupt` makes
SIGTERM raise it like Ctrl-C does (command lines call it first), and :class:`StopRequest` defers both until the
trainer reaches the end of an iteration.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def exit_status(signum: int) -> int:
    """The shell's status for a program stopped by ``signum`` (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + int(signum)


class Interrupted(KeyboardInterrupt):
    """Stopped by a signal. ``signum`` says which (SIGINT for a plain KeyboardInterrupt)."""

    def __init__(self, message: str = "", signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = signum


def signum_of(exc: BaseException) -> int:
    return getattr(exc, "signum", signal.SIGINT)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum=signum)


def terminate_like_interrupt() -> None:
    """SIGTERM raises :class:`Interrupted` in the main thread, as Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


class StopRequest:
    """A context in which the first SIGINT/SIGTERM only sets ``signum`` (the caller checks :attr:`requested` at a
    safe point) and a second one raises :class:`Interrupted` at once. In another thread it installs nothing and sees the main thread's requests.

    Contexts nest: an inner one starts with a request its enclosing one already holds, and a request it receives
    is also recorded by the enclosing ones -- so a sweep's trial (outer) learns of a Ctrl-C its trainer (inner)
    handled, and a trainer started after a Ctrl-C during the trial's setup stops at its first iteration."""

    _active: list["StopRequest"] = []

    def __init__(self) -> None:
        self._signum: int | None = None
        self._main = False
        self._old: dict[int, object] = {}

    @property
    def signum(self) -> int | None:
        """The signal asked for. A context in another thread (a seed trained beside others) has no handler of its
        own: it sees the requests of the main thread's active contexts."""
        if self._signum is None and not self._main:
            return next((r._signum for r in StopRequest._active if r._signum is not None), None)
        return self._signum

    @signum.setter
    def signum(self, value: int | None) -> None:
        self._signum = value

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal_name(self.signum) if self.signum is not None else ""

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise Interrupted(f"{signal_name(signum)} again: stopped at once", signum)
        for request in (*StopRequest._active, self):
            if request._signum is None:
                request._signum = signum

    def __enter__(self) -> "StopRequest":
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            outer = StopRequest._active[-1] if StopRequest._active else None
            if outer is not None and outer._signum is not None:
                self._signum = outer._signum
            self._old = {s: signal.signal(s, self._handler) for s in SIGNALS}
            StopRequest._active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)  # type: ignore[arg-type]
        self._old = {}
        if self in StopRequest._active:
            StopRequest._active.remove(self)


__all__ = ["SIGNALS", "signal_name", "exit_status", "Interrupted", "signum_of", "terminate_like_interrupt",
           "StopRequest"]
