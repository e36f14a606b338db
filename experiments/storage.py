"""Optuna storages for a study, chosen by the ``--storage`` string.

* a file path (default ``mlruns/optuna.journal``): ``JournalStorage(JournalFileBackend(path))``. Appends under a
  file lock, so any number of worker processes on one machine share it without "database is locked" errors.
* ``postgresql://user:pass@host/db`` (or any SQLAlchemy URL): ``RDBStorage`` with a heartbeat, for workers on
  several machines; a trial whose worker stops beating is failed and retried by the next worker that starts a
  trial (``RetryHeartbeatStaleTrialCallback``).
* ``sqlite:///file.db``: accepted, with a warning -- SQLite serialises writers and parallel workers hit
  "database is locked".
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage

from munit.config import ConfigError

from .contract import is_url, mask_url

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432, "mysql": 3306, "mssql": 1433}
PROBE_TIMEOUT_S = 10.0


class StoreUnreachable(ConfigError):
    """A storage or tracking server that cannot be reached: one line, ``cannot reach <masked url>: <reason>``."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot reach {mask_url(url)}: {mask_url(reason)}")


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Open and close a TCP connection to the server of ``url`` (a database or tracking server), so that one that
    is down or unreachable ends the sweep at once with one line, instead of after the client libraries' retries
    with their traceback (which would print the URL, password and all). No-op for files, SQLite and unix
    sockets."""
    import socket
    from urllib.parse import urlsplit

    if not is_url(url) or url.startswith(("sqlite:", "file:")):
        return
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as e:
        raise StoreUnreachable(url, f"not a valid URL ({e})") from None
    scheme = parts.scheme.split("+")[0].lower()
    if not host:   # a unix socket (postgresql:///db?host=/run/postgresql): the driver will say
        return
    if scheme in ("http", "https"):
        import urllib.request
        if urllib.request.getproxies().get(scheme) and not urllib.request.proxy_bypass(host):
            return     # reached through a proxy: a direct connection says nothing
    try:
        socket.create_connection((host, port or DEFAULT_PORTS.get(scheme, 80)), timeout=timeout).close()
    except OSError as e:
        raise StoreUnreachable(url, e.strerror or str(e) or type(e).__name__) from None

@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes on one machine (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 means psycopg 3 by it, while the
    ``experiments`` extra installs psycopg2-binary."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres") or not sep:
        return url
    import importlib.util
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return f"postgresql://{rest}"


def open_journal(path: str | Path) -> JournalStorage:
    """The journal-file storage at ``path`` (the file is created on first write), checked first
    (:func:`check_journal`)."""
    path = Path(path).expanduser()
    check_journal(path)
    return JournalStorage(JournalFileBackend(str(path)))


def check_journal(path: Path) -> Path | None:
    """Make sure no append lands on a torn record. A journal whose last record is incomplete (a crash, power loss
    or full disk mid-append) has that partial tail moved to a file beside it, with a warning -- Optuna would append
    the next record straight onto it and make the journal unreadable for good. A bad record before the last one
    is a :class:`ConfigError` naming the file, line and byte offset. Under Optuna's own journal lock, so a record
    being written by another worker is never taken for a torn one. Returns the file the tail went to, if any."""
    import json

    from optuna.storages.journal import JournalFileSymlinkLock
    from optuna.storages.journal._file import get_lock_file

    if not path.is_file() or path.stat().st_size == 0:
        return None
    with get_lock_file(JournalFileSymlinkLock(str(path))):
        data = path.read_bytes()
        offset, bad = 0, None
        lines = data.split(b"\n")
        complete = lines[:-1]          # each followed by a newline; lines[-1]: bytes after the last newline
        for i, line in enumerate(complete):
            try:
                json.loads(line)
            except ValueError as e:
                if i < len(complete) - 1 or lines[-1]:
                    raise ConfigError(f"{path} line {i + 1} (byte {offset}) is not an Optuna journal record "
                                      f"({type(e).__name__}: {e}); the journal is damaged before its end, which no "
                                      "crash leaves: restore it from a backup") from None
                bad = offset                   # the last record, newline and all, yet not JSON: torn
            offset += len(line) + 1
        if bad is None and not lines[-1]:
            return None
        cut = bad if bad is not None else offset
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.torn-{stamp}-{cut}")
        aside.write_bytes(data[cut:])
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
    log.warning("%s: its last record was incomplete (%d bytes from byte %d: a crash or full disk mid-write); moved "
                "to %s so that new records are not appended to it", path, len(data) - cut, cut, aside)
    return aside


def open_storage(storage: str, heartbeat_interval: int = 60, grace_period: int | None = None,
                 on_stale: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None) -> BaseStorage:
    """The Optuna storage named by ``storage`` (see the module docstring). ``on_stale`` runs for each trial the
    heartbeat declares dead (RDB storages; journal files recover dead local workers by process id instead,
    see :mod:`experiments.recovery`)."""
    if not is_url(storage):
        path = Path(storage).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return open_journal(path)
    if storage.startswith("sqlite:"):
        warnings.warn("SQLite as Optuna storage: parallel workers may fail with 'database is locked'; the default "
                      "journal file (a path, e.g. mlruns/optuna.journal) is safe for several processes on one "
                      "machine, PostgreSQL for several machines", stacklevel=2)
        path = storage.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine_kwargs = {"connect_args": {"timeout": 60}} if storage.startswith("sqlite:") else {"pool_pre_ping": True}
    from sqlalchemy.exc import DBAPIError, OperationalError
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(sqlalchemy_url(storage), engine_kwargs=engine_kwargs,
                                  heartbeat_interval=heartbeat_interval,
                                  grace_period=grace_period or 2 * heartbeat_interval,
                                  heartbeat_stale_trial_callback=on_stale)
        except DBAPIError as e:
            # workers starting together on a fresh database race to create Optuna's tables ("duplicate key ...
            # pg_type"); the loser finds them made when it tries again
            if attempt == 5 or isinstance(e, OperationalError):   # a server that refuses us: say so at once
                reason = str(e.orig).strip().splitlines()[0] if str(e.orig).strip() else type(e.orig).__name__
                raise StoreUnreachable(storage, reason) from None
            log.info("creating the Optuna tables raced another worker (%s); retrying", type(e.orig).__name__)
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


__all__ = ["StoreUnreachable", "probe", "check_journal", "file_lock", "mask_url", "sqlalchemy_url", "open_journal", "open_storage"]
