"""``munit evaluate --translations DIR``: a folder of another program's translations is scored on the project's
protocol. The oracle's outputs must score like the oracle, the inputs themselves like identity, and a bad folder
gets one error line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from munit.synthetic import render_batch, synthetic_domains

N, K, SIZE = 6, 2, 32


def _write(folder: Path, direction: str, i: int, k: int, img) -> None:
    (folder / direction).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(img.permute(1, 2, 0))).save(folder / direction / f"val_{i:04d}_s{k}.png")


def _oracle(folder: Path) -> Path:
    for direction, target in (("a2b", "B"), ("b2a", "A")):
        for k in range(K):
            imgs, _ = render_batch(list(range(N)), target, SIZE, 0, "val", k + 1)
            for i in range(N):
                _write(folder, direction, i, k, imgs[i])
    return folder


def _identity(folder: Path) -> Path:
    va, vb = synthetic_domains(SIZE, "val", N, 0)
    for direction, src in (("a2b", va), ("b2a", vb)):
        for i in range(N):
            for k in range(K):
                _write(folder, direction, i, k, src[i])
    return folder


def _evaluate(folder: Path, *extra: str, cache: Path, capsys) -> tuple[int, list[dict], str]:
    from munit.cli import main
    code = main(["evaluate", "--translations", str(folder), "--metrics", "fit,fitn", "--cache-dir", str(cache),
                 "--device", "cpu", *extra])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def test_oracle_and_identity_folders_score_like_their_generators(tmp_path, capsys):
    code, rows, err = _evaluate(_oracle(tmp_path / "oracle"), "--baselines", "--metrics", "fit,fitn,content",
                                cache=tmp_path / "cache", capsys=capsys)
    assert code == 0, err
    by = {r["generator"]: r for r in rows}
    assert "random_init" not in by and {"oracle", "identity", "flatten", "translations"} <= set(by)
    got = by["translations"]
    assert got["translations"] == {"path": str(tmp_path / "oracle"), "inputs": N, "styles": K, "image_size": SIZE,
                                   "data_seed": 0}
    for d in ("a2b", "b2a"):   # the oracle's renderings, whatever their style, fit like the oracle row
        assert got[f"fit/{d}"] < 0.005 and abs(got[f"fit/{d}"] - by["oracle"][f"fit/{d}"]) < 0.002
        assert got[f"fitn/{d}"] < 0.1 and got[f"content/{d}"] < 0.05
    assert any((tmp_path / "cache").rglob("*fitn*"))   # --cache-dir reaches the metrics
    identity = {d: by["identity"][f"fit/{d}"] for d in ("a2b", "b2a")}
    code, rows, err = _evaluate(_identity(tmp_path / "identity"), cache=tmp_path / "cache", capsys=capsys)
    assert code == 0, err
    (got,) = rows
    assert got["meta"]["fitn"]["references_source"] in ("memory", "disk cache")   # scored once per data set
    for d in ("a2b", "b2a"):
        assert got[f"fit/{d}"] == pytest.approx(identity[d], rel=1e-6)
        assert got[f"fit/{d}"] == pytest.approx(got["meta"]["fitn"]["references"][d]["identity"], rel=1e-6)
    assert got["fitn/worst"] > 1     # the inputs beat no reference


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "a2b" / "val_0003_s1.png").unlink(), "val_0003_s1.png: missing"),
    (lambda f: (f / "b2a" / "notes.txt").write_text("x"), "notes.txt: unexpected file"),
    (lambda f: Image.new("RGB", (16, 16)).save(f / "b2a" / "val_0002_s0.png"), "16x16 px"),
    (lambda f: (f / "a2b" / "val_0001_s0.png").write_bytes(b"\x89PNG torn"), "not a readable PNG"),
    (lambda f: (f / "extra").mkdir(), "extra: unexpected entry"),
    (lambda f: [p.unlink() for p in (f / "b2a").iterdir()], "b2a/val_0000_s0.png: missing"),
])
def test_bad_folders_get_one_error_line(tmp_path, capsys, damage, message):
    folder = _identity(tmp_path / "t")
    damage(folder)
    code, rows, err = _evaluate(folder, cache=tmp_path / "cache", capsys=capsys)
    assert code == 2 and err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err


def test_missing_folder_and_wrong_options(tmp_path, capsys):
    code, _, err = _evaluate(tmp_path / "nope", cache=tmp_path / "cache", capsys=capsys)
    assert code == 2 and "no such folder" in err
    code, _, err = _evaluate(_identity(tmp_path / "t"), "--n-val", "3", cache=tmp_path / "cache", capsys=capsys)
    assert code == 2 and "--n-val does not apply" in err
