"""The installed torch and torchvision must be a pair: pip can install one without the other's matching version,
and the mismatch then surfaces deep inside a run (``operator torchvision::nms does not exist``). Checked once at
each command line's start, where it is one ``error:`` line that says what to install."""
from __future__ import annotations

import importlib
import re

from .config import ConfigError


def matching_torchvision(torch_version: str) -> str | None:
    """The torchvision release series that goes with ``torch_version`` (torch 2.N <-> torchvision 0.(N+15)), or
    None where no rule is known."""
    m = re.match(r"(\d+)\.(\d+)", torch_version)
    if not m or m[1] != "2":
        return None
    return f"0.{int(m[2]) + 15}"


def check_torchvision() -> None:
    """Import torchvision; a missing one, or one built for another torch, is a :class:`ConfigError` naming the
    version to install."""
    import torch

    want = matching_torchvision(torch.__version__)
    install = (f'pip install "torchvision=={want}.*"' if want else "pip install torchvision") + \
        " (from the same index as torch, e.g. its CUDA build)"
    try:
        tv = importlib.import_module("torchvision")
    except ImportError as e:
        raise ConfigError(f"torchvision cannot be imported ({e}); {install}") from None
    except RuntimeError as e:   # its C++ operators were built against another torch
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"torchvision does not match torch {torch.__version__} ({first}); {install}") from None
    have = re.match(r"(\d+\.\d+)", getattr(tv, "__version__", ""))
    if want and have and have[1] != want:
        raise ConfigError(f"torchvision {tv.__version__} does not match torch {torch.__version__} (it needs "
                          f"torchvision {want}); {install}")


__all__ = ["matching_torchvision", "check_torchvision"]
