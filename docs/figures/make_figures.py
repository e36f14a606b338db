"""The documentation's figures, made from the code they illustrate (nothing here is drawn by hand):

* ``domains.png``: the embedded synthetic set (v2) -- the same content rendered by domain A and by domain B in
  several of each renderer's styles (:func:`munit.synthetic.render_batch`);
* ``translations.png`` (with ``--checkpoint``): val inputs of each domain, their paired oracle, a trained
  checkpoint's translations and the reference generators of :mod:`munit.baselines` (the ones
  ``python -m munit evaluate --baselines`` scores), each column titled with its mean fit error on these images
  (:func:`munit.synthetic_fit.fit_error`, the default objective).

    python docs/figures/make_figures.py                                         # domains.png
    python docs/figures/make_figures.py --checkpoint runs/demo/checkpoints/last.pt   # + translations.png

Tiles are the images' own pixels, enlarged by an integer factor (no resampling): ``Grid`` says where each one is.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
DPI = 100
FONT = 8                         # points (at DPI 100: ~11 px)
TEXT = (0.16, 0.16, 0.16)
DIRECTIONS = (("a2b", "A", "B"), ("b2a", "B", "A"))
CHECKPOINT_STYLES = 2            # translations of the checkpoint per input (random styles)
LABELS = {"fixed_image": "fixed image", "random_init": "random init", "style_noise": "style noise",
          "blur_recolour": "blur, recolour", "paint_target": "paint, target colours", "flatten": "flatten shapes"}
# the no-learning programs drawn beside the trivial baselines: one per family (munit.programs)
FIGURE_PROGRAMS = ("blur_recolour", "paint_target", "flatten")


# ------------------------------------------------------------------------------------------------ layout

@dataclass(frozen=True)
class Grid:
    """Pixel layout of one panel: an optional heading line, a strip of column titles, then ``rows`` x ``cols``
    tiles of ``tile`` px with row labels on the left. Rows come in groups of ``group`` (a wider gap between
    groups)."""

    rows: int
    cols: int
    tile: int
    heading: bool = False
    title_lines: int = 1
    group: int = 1
    left: int = 64
    gap: int = 3
    group_gap: int = 10
    margin: int = 6
    line: int = 12               # px per line of text

    @property
    def heading_h(self) -> int:
        return 2 * self.line if self.heading else 0

    @property
    def titles_h(self) -> int:
        return self.title_lines * self.line + 4

    @property
    def width(self) -> int:
        return self.left + self.cols * self.tile + (self.cols - 1) * self.gap + self.margin

    @property
    def height(self) -> int:
        return self.tile_y(self.rows - 1) + self.tile + self.margin

    def tile_x(self, c: int) -> int:
        return self.left + c * (self.tile + self.gap)

    def tile_y(self, r: int) -> int:
        groups = r // self.group if self.group > 1 else 0
        return self.heading_h + self.titles_h + r * (self.tile + self.gap) + groups * (self.group_gap - self.gap)

    def box(self, r: int, c: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of tile (r, c), in pixels of its panel (PIL's crop box)."""
        x, y = self.tile_x(c), self.tile_y(r)
        return x, y, x + self.tile, y + self.tile


def stacked(grids: Sequence[Grid]) -> tuple[int, int, list[int]]:
    """(width, height, top offset of each panel) of panels drawn one below the other."""
    tops, y = [], 0
    for g in grids:
        tops.append(y)
        y += g.height
    return max(g.width for g in grids), y, tops


def enlarge(img: np.ndarray, factor: int) -> np.ndarray:
    """uint8 [S, S, 3] -> [S * factor, S * factor, 3], every pixel repeated (nearest neighbour, exact)."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


@dataclass
class Panel:
    grid: Grid
    tiles: list[list[np.ndarray]]       # [row][col] uint8 HxWx3, already enlarged to grid.tile
    col_titles: list[str]
    row_labels: list[str]
    heading: str = ""


def draw(panels: Sequence[Panel], path: Path) -> Path:
    """Write the panels, stacked, as one PNG of exactly :func:`stacked` pixels (no metadata: deterministic)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height, tops = stacked([p.grid for p in panels])
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)

    def text(x: float, y: float, s: str, **kw) -> None:   # pixel coordinates from the top left
        fig.text(x / width, 1 - y / height, s, fontsize=FONT, color=TEXT, **kw)

    for p, top in zip(panels, tops):
        g = p.grid
        if p.heading:
            text(g.margin, top + g.heading_h / 2, p.heading, ha="left", va="center", fontweight="bold")
        for c, title in enumerate(p.col_titles):
            text(g.tile_x(c) + g.tile / 2, top + g.heading_h + g.titles_h - 3, title, ha="center", va="bottom",
                 linespacing=1.1)
        for r, label in enumerate(p.row_labels):
            text(g.left - 6, top + g.tile_y(r) + g.tile / 2, label, ha="right", va="center", linespacing=1.1)
        for r, row in enumerate(p.tiles):
            for c, tile in enumerate(row):
                if tile.shape != (g.tile, g.tile, 3):
                    raise ValueError(f"tile ({r}, {c}) is {tile.shape}, the grid's tiles are {g.tile} px")
                x0, y0, _, y1 = g.box(r, c)
                fig.figimage(tile, xo=x0, yo=height - (top + y1), origin="upper", resize=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white", metadata={"Software": None})
    return path


def _hwc(images: torch.Tensor) -> list[np.ndarray]:
    """uint8 [N, 3, S, S] -> N arrays [S, S, 3]."""
    return [im.permute(1, 2, 0).contiguous().numpy() for im in images]


# ------------------------------------------------------------------------------------------------ domains.png

def domains_panel(size: int = 64, contents: Sequence[int] = range(6), styles: Sequence[int] = range(4),
                  seed: int = 0, split: str = "val", scale: int = 2) -> Panel:
    """Rows in pairs: content i rendered by A, then by B; column k: renderer style k (0 = the data set's own)."""
    from munit.synthetic import VERSION, render_batch

    contents, styles = list(contents), list(styles)
    by = {(d, k): _hwc(render_batch(contents, d, size, seed, split, style=k)[0]) for d in "AB" for k in styles}
    tiles = [[enlarge(by[d, k][j], scale) for k in styles] for j in range(len(contents)) for d in "AB"]
    grid = Grid(rows=2 * len(contents), cols=len(styles), tile=size * scale, group=2, left=112, heading=True)
    return Panel(grid, tiles,
                 col_titles=[f"style {k}" + (" (data set)" if k == 0 else "") for k in styles],
                 row_labels=[f"content {i}, {d}\n{'solid + shadow' if d == 'A' else 'pattern'}"
                             for i in contents for d in "AB"],
                 heading=f"synthetic v{VERSION}, {size} px: content i in A and in B, renderer styles k")


def domains_figure(out: Path = HERE / "domains.png", **kw) -> Path:
    return draw([domains_panel(**kw)], Path(out))


# ------------------------------------------------------------------------------------------- translations.png

def translation_columns(checkpoint: str | Path, inputs: int = 6, seed: int = 0, device: str = "cpu"
                        ) -> dict[str, dict[str, object]]:
    """Per direction: the input images and, per column (oracle, the checkpoint's styles, every trivial baseline and
    three no-learning programs),
    the outputs (uint8 [N, 3, S, S]) and their mean fit error. The generators are those of ``evaluate
    --baselines``: :class:`munit.baselines.Baselines` on the checkpoint's own data config."""
    from munit.baselines import TRIVIAL, Baselines
    from munit.config import ConfigError
    from munit.data import DataConfig, load_domains, to_model_range, to_uint8
    from munit.synthetic import SyntheticDomain
    from munit.synthetic_fit import fit_error
    from munit.inference import load_generators

    device_t = torch.device(device)
    gen_a, gen_b, mcfg, meta = load_generators(checkpoint, device_t)
    dcfg = DataConfig.from_saved(dict(meta["config"]["data"]))
    if dcfg.source != "synthetic":
        raise ConfigError(f"translations.png needs a checkpoint trained on the synthetic data (the oracle and the "
                          f"fit error need its paired ground truth); {checkpoint} was trained on {dcfg.source}")
    size = mcfg.image_size
    train_a, train_b = load_domains(dcfg, "train", size)
    val_a, val_b = load_domains(dcfg, "val", size)
    assert isinstance(val_a, SyntheticDomain) and isinstance(val_b, SyntheticDomain)
    n = min(inputs, len(val_a))
    maker = Baselines(train_a, train_b, val_a, val_b, mcfg, seed)
    pairs = {"oracle": maker.pair("oracle"), "checkpoint": (gen_a, gen_b),
             **{name: maker.pair(name) for name in (*TRIVIAL, *FIGURE_PROGRAMS)}}
    out: dict[str, dict[str, object]] = {}
    with torch.no_grad():
        for index, (name, src_domain, dst_domain) in enumerate(DIRECTIONS):
            val = val_a if src_domain == "A" else val_b
            x = to_model_range(val.images[:n]).to(device_t)
            masks = val.masks[:n]
            # as the protocol draws them: N(0, I) codes from a generator seeded by (seed, direction)
            codes = torch.randn(n, CHECKPOINT_STYLES, mcfg.style_dim,
                                generator=torch.Generator().manual_seed(seed * 2 + index)).to(device_t)
            columns: dict[str, dict[str, object]] = {}
            for gen_name, (ga, gb) in pairs.items():
                src, dst = (ga, gb) if src_domain == "A" else (gb, ga)
                src, dst = src.to(device_t).eval(), dst.to(device_t).eval()
                content = src.content_encoder(x)
                styles = range(CHECKPOINT_STYLES) if gen_name == "checkpoint" else range(1)
                for k in styles:
                    y = dst.decode(content, codes[:, k]).float()
                    label = f"checkpoint, style {k + 1}" if gen_name == "checkpoint" else gen_name
                    columns[label] = {"images": to_uint8(y).cpu(),
                                      "fit": float(fit_error(y.cpu(), masks, dst_domain).mean())}
            out[name] = {"inputs": val.images[:n], "columns": columns, "step": meta["step"], "size": size}
    return out


def _title(column: str, fit: float) -> str:
    """'checkpoint, style 1' -> three lines (a tile of 96 px holds ~14 characters per line)."""
    return "\n".join([*LABELS.get(column, column).split(", "), f"fit {fit:.4f}"])


def translation_panels(columns: dict[str, dict[str, object]], scale: int | None = None) -> list[Panel]:
    panels = []
    for name, src_domain, dst_domain in DIRECTIONS:
        d = columns[name]
        size = int(d["size"])  # type: ignore[arg-type]
        f = scale or max(1, round(96 / size))
        cols = d["columns"]  # type: ignore[assignment]
        images = [_hwc(d["inputs"])] + [_hwc(c["images"]) for c in cols.values()]  # type: ignore[union-attr,index]
        n = len(images[0])
        tiles = [[enlarge(col[r], f) for col in images] for r in range(n)]
        titles = ["input"] + [_title(k, c["fit"]) for k, c in cols.items()]  # type: ignore[union-attr,index]
        heading = (f"{src_domain} \u2192 {dst_domain}: val inputs of {src_domain}; checkpoint at step {d['step']}; "
                   f"fit = mean fit error (munit.synthetic_fit.fit_error) of the column's {n} outputs, lower is better")
        grid = Grid(rows=n, cols=len(tiles[0]), tile=size * f, heading=True, title_lines=3, left=44)
        panels.append(Panel(grid, tiles, titles, [f"val {i}" for i in range(n)], heading))
    return panels


def translations_figure(checkpoint: str | Path, out: Path = HERE / "translations.png", inputs: int = 6,
                        seed: int = 0, device: str = "cpu", scale: int | None = None
                        ) -> tuple[Path, dict[str, dict[str, float]]]:
    """Write translations.png; returns its path and {direction: {column: mean fit error}}."""
    columns = translation_columns(checkpoint, inputs, seed, device)
    path = draw(translation_panels(columns, scale), Path(out))
    scores = {d: {k: c["fit"] for k, c in v["columns"].items()} for d, v in columns.items()}  # type: ignore
    return path, scores  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------ command line

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python docs/figures/make_figures.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE), help="output folder (default: docs/figures)")
    ap.add_argument("--checkpoint", default=None,
                    help="a checkpoint trained on the synthetic data: also write translations.png")
    ap.add_argument("--inputs", type=int, default=6, help="val inputs per direction in translations.png")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random style codes and baselines")
    ap.add_argument("--device", default="cpu", help="device of the translations (cpu, cuda, ...)")
    args = ap.parse_args(argv)
    from munit.cli import user_errors

    out = Path(args.out)
    try:
        written: dict[str, object] = {}
        if args.checkpoint:   # first: a bad checkpoint stops before anything is written
            path, scores = translations_figure(args.checkpoint, out / "translations.png", args.inputs, args.seed,
                                               args.device)
            written.update(translations=str(path), fit=scores)
        written["domains"] = str(domains_figure(out / "domains.png"))
    except user_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
