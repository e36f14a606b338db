"""docs/figures/make_figures.py: the documentation's figures hold what their titles say (tile by tile), and the
committed domains.png is the current renderer's."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from munit.cli import main as munit_main
from munit.synthetic import render_batch, synthetic_domains

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "figures" / "make_figures.py"


def _load():
    spec = importlib.util.spec_from_file_location("make_figures", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod   # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


figures = _load()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 5-iteration tiny (32 px) run on 16 synthetic images per domain."""
    out = tmp_path_factory.mktemp("run")
    assert munit_main(["train", "--data", "synthetic", "--preset", "tiny", "--iters", "5", "--max-images", "16",
                       "--batch-size", "2", "--sample-every", "0", "--quiet", "--out", str(out)]) == 0
    return out / "checkpoints" / "last.pt"


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def _tile(img, grid, top, r, c):
    x0, y0, x1, y1 = grid.box(r, c)
    return img[top + y0:top + y1, x0:x1]


def _hwc(images):
    return [im.permute(1, 2, 0).numpy() for im in images]


def _check_domains(img, size, scale=2):
    # 6 contents x 2 domains as rows, 4 styles as columns, the rows in pairs
    grid = figures.Grid(rows=12, cols=4, tile=size * scale, group=2, left=112, heading=True)
    assert img.shape == (grid.height, grid.width, 3)
    for k in range(4):
        for d, domain in enumerate("AB"):
            rendered = _hwc(render_batch(range(6), domain, size, 0, "val", style=k)[0])
            for i in range(6):   # row pair i: content i in A, then in B; column k: style k
                assert np.array_equal(_tile(img, grid, 0, 2 * i + d, k), figures.enlarge(rendered[i], scale)), \
                    (domain, i, k)


def test_make_figures_writes_domains_and_translations(checkpoint, tmp_path, capsys):
    assert figures.main(["--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"domains", "translations", "fit"}
    _check_domains(_pixels(tmp_path / "domains.png"), size=64)

    img = _pixels(tmp_path / "translations.png")
    # 32 px tiles enlarged 3x; per direction: input, oracle, 2 checkpoint styles, 6 trivial baselines, 3 programs
    grid = figures.Grid(rows=6, cols=13, tile=96, heading=True, title_lines=3, left=44)
    width, height, tops = figures.stacked([grid, grid])
    assert img.shape == (height, width, 3) == (1322, 1334, 3)
    val_a, val_b = synthetic_domains(32, "val", 16)
    for (name, _, target), val, top in zip(figures.DIRECTIONS, (val_a, val_b), tops):
        inputs = _hwc(val.images[:6])
        for r in range(6):
            assert np.array_equal(_tile(img, grid, top, r, 0), figures.enlarge(inputs[r], 3))
            assert np.array_equal(_tile(img, grid, top, r, 4), figures.enlarge(inputs[r], 3))    # identity
        fit = printed["fit"][name]
        assert list(fit) == ["oracle", "checkpoint, style 1", "checkpoint, style 2", "identity", "negation",
                             "constant", "fixed_image", "random_init", "style_noise", *figures.FIGURE_PROGRAMS]
        assert fit["oracle"] < 0.005                       # a target rendering of the input's content
        assert min(fit[k] for k in list(fit)[3:9]) > 0.025  # no trivial generator comes close
        assert min(fit[k] for k in figures.FIGURE_PROGRAMS) > 0.01   # flattening comes closest (B -> A)
        assert all(np.isfinite(v) for v in fit.values())
        assert fit["checkpoint, style 1"] != fit["checkpoint, style 2"]


def test_committed_domains_figure_is_the_current_renderers():
    path = ROOT / "docs" / "figures" / "domains.png"
    assert path.stat().st_size < 300_000
    _check_domains(_pixels(path), size=64)   # after a renderer change: python docs/figures/make_figures.py


def test_make_figures_bad_checkpoint_is_one_line(tmp_path, capsys):
    assert figures.main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "missing.pt" in err
    assert not list(tmp_path.iterdir())   # nothing written
