"""Run folders and checkpoints: the layout of a training run's folder and the one reader of its files, atomic
``torch.load(weights_only=True)``-safe checkpoints, RNG capture for exact resume.

Everything stored in a checkpoint is a tensor or a plain Python container of numbers/strings, so it loads with
``weights_only=True`` (no pickled code runs when a user opens a file from someone else).

This module imports torch only where a checkpoint is read or written, so the run-folder layout can be used by
code that never trains (experiments' bookkeeping, analysis).
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not a munit-ablate checkpoint."""


FORMAT_VERSION = 1
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_MESSAGES = ("no space left on device", "database or disk is full", "disk quota exceeded")


class DiskFullError(OSError):
    """A write failed because its filesystem is full (or over quota). The message names the file; what was
    there before (a checkpoint, a config) is intact, because every such file is replaced atomically."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(errno.ENOSPC, f"no space left on device while writing {path}", str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return self.strerror


def disk_full(exc: BaseException, folder: str | os.PathLike | None = None) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means a full disk: ENOSPC/EDQUOT, SQLite's "database
    or disk is full", or -- for writers that hide the errno, like torch.save's "unexpected pos" -- ``folder``
    having less than 1 MiB free."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, DiskFullError) or (isinstance(e, OSError) and e.errno in _FULL_ERRNOS):
            return True
        if any(m in str(e).lower() for m in _FULL_MESSAGES):
            return True
        e = e.__cause__ or e.__context__
    if folder is not None:
        try:
            return shutil.disk_usage(folder).free < 2**20
        except OSError:
            return False
    return False


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn a full-disk failure while writing ``path`` into :class:`DiskFullError` (one clear line instead of,
    e.g., torch's "unexpected pos" traceback)."""
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError) as e:
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        # torch's writer hides the errno ("unexpected pos"): then a (nearly) full folder is the evidence
        if disk_full(e, folder if isinstance(e, RuntimeError) and folder.exists() else None):
            raise DiskFullError(getattr(e, "filename", None) or path) from e
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Replace ``path`` by ``text`` atomically (temp file + rename): a full disk or a crash never leaves it
    truncated."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


class RunFolder:
    """The files of one training run (``Trainer``'s ``out_dir``) -- the only place that knows their names:

    ``config.json`` (every config), ``log.jsonl`` (one JSON line per log interval: ``step`` + training scalars),
    ``metrics.jsonl`` (one line per evaluation), ``samples/{a2b,b2a}_<step>.png``, ``checkpoints/last.pt``, and
    the marker ``.munit-run`` that says the folder was made by a munit trainer (so tools may delete it; a folder
    without it is never deleted by this project).
    """

    MARKER = ".munit-run"
    CONFIG = "config.json"
    LOG = "log.jsonl"
    METRICS = "metrics.jsonl"
    SAMPLES = "samples"
    CHECKPOINT = "checkpoints/last.pt"
    RECORDS = (LOG, METRICS)

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    @property
    def config(self) -> Path:
        return self.root / self.CONFIG

    @property
    def log(self) -> Path:
        return self.root / self.LOG

    @property
    def metrics(self) -> Path:
        return self.root / self.METRICS

    @property
    def checkpoint(self) -> Path:
        return self.root / self.CHECKPOINT

    def sample(self, name: str, step: int) -> Path:
        return self.root / self.SAMPLES / f"{name}_{step:08d}.png"

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    def mark(self) -> None:
        """Write the marker file (see the class docstring)."""
        marker = self.root / self.MARKER
        if not marker.is_file():
            atomic_write_text(marker, "made by munit-ablate's trainer\n")

    def is_marked(self) -> bool:
        return (self.root / self.MARKER).is_file()

    def append(self, name: str, record: dict[str, Any]) -> None:
        """One JSON line to ``log.jsonl`` or ``metrics.jsonl``."""
        path = self.root / name
        with writing(path), open(path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def records(self, name: str, upto: int | None = None) -> list[dict[str, Any]]:
        """The JSON lines of ``log.jsonl`` / ``metrics.jsonl`` (``upto``: only steps <= it). A torn last line,
        as a crash or a full disk leaves it, is skipped with a warning; a bad line elsewhere is an error that
        names the file and line."""
        path = self.root / name
        if not path.is_file():
            return []
        lines = path.read_text().splitlines()
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or "step" not in rec:
                    raise ValueError("not a JSON object with a 'step'")
            except ValueError as e:
                if i == len(lines) - 1:
                    log.warning("%s: skipped a torn last line (%d characters: %s)", path, len(line), e)
                    continue
                raise CheckpointError(f"{path} line {i + 1} is not a log record ({e})") from None
            if upto is None or rec["step"] <= upto:
                out.append(rec)
        return out

    def truncate(self, upto: int) -> dict[str, list[dict[str, Any]]]:
        """Keep only the records with step <= ``upto`` (what a resumed run continues from); returns them."""
        kept = {}
        for name in self.RECORDS:
            path = self.root / name
            if not path.is_file():
                continue
            kept[name] = self.records(name, upto)
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept[name]))
        return kept

    def samples(self) -> Iterator[Path]:
        yield from sorted((self.root / self.SAMPLES).glob("*.png"))


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically: a temp file in the same folder, fsync, then rename. A process
    killed mid-write leaves the previous checkpoint intact."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with writing(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save({"format_version": FORMAT_VERSION, **state}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: "str | torch.device" = "cpu") -> dict[str, Any]:
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong file type, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""   # torch's own texts run to many lines
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {first}".rstrip(": ")) from e
    if not isinstance(state, dict) or "format_version" not in state or "gen_a" not in state:
        raise CheckpointError(f"{path} is not a munit-ablate checkpoint (no format_version/gen_a keys)")
    return state


def capture_rng() -> dict[str, Any]:
    """All RNG streams the training loop may touch, in weights_only-loadable form."""
    import numpy as np
    import torch

    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"key": np_state[0], "state": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def restore_rng(rng: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(rng["torch"].cpu())
    if rng.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    n = rng["numpy"]
    np.random.set_state((n["key"], n["state"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    v, internal, gauss = rng["python"]
    random.setstate((v, tuple(internal), gauss))


__all__ = ["RunFolder", "CheckpointError", "DiskFullError", "disk_full", "writing", "atomic_write_text",
           "save_checkpoint", "load_checkpoint", "capture_rng", "restore_rng"]
