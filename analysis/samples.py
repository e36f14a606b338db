"""Sample grids as MLflow stores them.

``mlflow.log_image(image, key="samples/a2b", step=s)`` (MLflow 3) writes the artifact
``images/samples~a2b+step+<s>+timestamp+<ms>+<uuid>.png`` plus a ``+compressed.webp`` thumbnail; older
MLflow versions used ``%`` as separator and ``#`` for the slash. The final grid of a run is the one with the
largest step (then the latest timestamp).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from PIL import Image

from experiments import contract
from munit.checkpoint import RunFolder

from .load import Study

_NAME = re.compile(r"^(?P<key>.+?)[+%]step[+%](?P<step>-?\d+)[+%]timestamp[+%](?P<ts>\d+)[+%](?P<uuid>[^+%.]+)"
                   r"(?P<compressed>[+%]compressed)?\.(?P<ext>png|webp|jpe?g)$")


@contextlib.contextmanager
def _quiet_downloads() -> Iterator[None]:
    """No tqdm bar per downloaded file (MLflow draws one by default)."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@dataclass(frozen=True)
class LoggedImage:
    key: str          # e.g. samples/a2b
    step: int
    timestamp: int
    path: str         # artifact path inside the run


def parse_image_artifact(path: str) -> LoggedImage | None:
    """The key/step of a ``log_image(key=...)`` artifact path, or None (thumbnails and other files)."""
    name = path.rsplit("/", 1)[-1]
    m = _NAME.match(name)
    if not m or m.group("compressed"):
        return None
    key = m.group("key").replace("~", "/").replace("#", "/")
    return LoggedImage(key=key, step=int(m.group("step")), timestamp=int(m.group("ts")), path=path)


def logged_images(study: Study, run_id: str, key: str) -> list[LoggedImage]:
    """All full-resolution images logged under ``key`` in a run, by step."""
    try:
        files = study.client.list_artifacts(run_id, "images")
    except Exception:  # no artifacts folder at all
        return []
    found = [p for f in files if not f.is_dir and (p := parse_image_artifact(f.path)) and p.key == key]
    return sorted(found, key=lambda x: (x.step, x.timestamp))


def final_image(study: Study, run_id: str, key: str) -> tuple[LoggedImage, Image.Image] | None:
    """The last step's image logged under ``key`` (downloaded and decoded), or None if the run has none."""
    imgs = logged_images(study, run_id, key)
    if not imgs:
        return None
    last = imgs[-1]
    with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
        local = study.client.download_artifacts(run_id, last.path, tmp)
        with Image.open(local) as im:
            return last, im.convert("RGB").copy()


@dataclass
class Panel:
    """One trial's sample grid in a side-by-side figure (``image`` None: ``missing`` says why)."""

    number: int
    label: str
    image: Image.Image | None
    step: int | None = None
    missing: str = ""


def final_panels(study: Study, numbers: list[int], direction: str,
                 missing: dict[int, str] | None = None) -> tuple[list[Panel], list[str]]:
    """The final ``samples/<direction>`` grid of each trial, as panels, plus notes on what is missing or not
    comparable (different seeds mean different fixed style codes and inputs)."""
    panels, notes = [], []
    for n in numbers:
        run_id = study.run_id(n)
        key = contract.SAMPLE_KEY.format(direction=direction)
        got = final_image(study, run_id, key) if run_id else None
        if got is None:
            status = study.trials.at[n, "status"] if n in study.trials.index else "absent"
            why = (missing or {}).get(n) or f"no {key} logged ({status})"
            panels.append(Panel(n, study.label(n), None, missing=why))
            notes.append(f"trial {study.label(n)}: {why}")
        else:
            img, im = got
            panels.append(Panel(n, study.label(n), im, step=img.step))
    col = f"params.{contract.PARAM_SEED}"
    seeds = {str(v) for n in numbers if n in study.runs.index and col in study.runs.columns
             and pd.notna(v := study.runs.at[n, col])}
    if len(seeds) > 1:
        notes.append(f"trials use different seeds ({', '.join(sorted(map(str, seeds)))}): their fixed style "
                     "codes and sample inputs differ, so columns are not directly comparable")
    return panels, notes


def image_size(study: Study, numbers: list[int]) -> int | None:
    """The runs' ``image_size`` param (tile size of the sample grids), if they agree."""
    col = f"params.{contract.PARAM_IMAGE_SIZE}"
    if col not in study.runs.columns:
        return None
    sizes = {int(float(v)) for n in numbers if n in study.runs.index and pd.notna(v := study.runs.at[n, col])}
    return sizes.pop() if len(sizes) == 1 else None


def run_config(study: Study, run_id: str) -> dict[str, Any] | None:
    """The run's ``config.json`` artifact (full model/train/loss/data config), or None."""
    try:
        with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
            return json.loads(Path(study.client.download_artifacts(run_id, RunFolder.CONFIG, tmp)).read_text())
    except Exception:
        return None


def direction_label(direction: str, config: dict[str, Any] | None) -> str:
    """'a2b (dog → cat)' from the run's data config; 'a2b (A → B)' when the domains have no names."""
    a, b = "A", "B"
    data = (config or {}).get("data") or {}
    domains = data.get("domains")
    if data.get("source") not in (None, "synthetic") and isinstance(domains, (list, tuple)) and len(domains) == 2:
        a, b = (Path(str(d)).name for d in domains)
    src, dst = (a, b) if direction == "a2b" else (b, a)
    return f"{direction} ({src} → {dst})"


def grid_shape(width: int, height: int, image_size: int | None) -> tuple[int, int, int, int] | None:
    """(rows, cols, header px, enlargement factor) of a grid written by ``munit.sampling.save_grid`` for tiles of ``image_size`` px,
    or None when the size does not fit that layout."""
    if not image_size:
        return None
    from munit.sampling import grid_layout
    return grid_layout(width, height, image_size)


__all__ = ["Panel", "final_panels", "image_size", "LoggedImage", "parse_image_artifact", "logged_images",
           "final_image", "run_config", "direction_label", "grid_shape"]
