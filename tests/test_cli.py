"""CLI: train -> translate -> sample on synthetic data; help text; one-line errors."""
import json

import numpy as np
import pytest
from PIL import Image

from munit.cli import main
from munit.sampling import GRID_PADDING, LABEL_HEIGHT, grid_layout, grid_scale, grid_size, save_grid

TRAIN = ["train", "--data", "synthetic", "--preset", "tiny", "--max-images", "16", "--batch-size", "2", "--quiet",
         "--log-every", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main([*TRAIN, "--iters", "4", "--sample-every", "2", "--checkpoint-every", "2", "--out", str(out)]) == 0
    return out


def test_train_writes_run_folder_and_grids(trained, capsys):
    assert (trained / "checkpoints" / "last.pt").is_file()
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["model"]["image_size"] == 32 and cfg["train"]["iters"] == 4
    grids = sorted((trained / "samples").glob("a2b_*.png"))
    assert [g.name for g in grids] == ["a2b_00000002.png", "a2b_00000004.png"]
    # 4 inputs x (input, recon, 4 fixed styles, 1 random)
    assert Image.open(grids[-1]).size == grid_size(4, 7, 32, labelled=True)
    k = grid_scale(7, 32)
    header = np.asarray(Image.open(grids[-1]).convert("L"))[:LABEL_HEIGHT * k]
    assert (header < 128).sum() > 20 and (header < 128).any(axis=0)[:34 * k].any()   # column names drawn above
    logged = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [2, 4]


def test_translate_file_and_folder_with_random_and_reference_styles(trained, tmp_path, capsys):
    from munit.synthetic import render

    src = tmp_path / "in"
    src.mkdir()
    for i in range(2):
        Image.fromarray(render(i, "A", 48, split="val")[0]).save(src / f"a{i}.png")  # resized to 32 on load
    ref = tmp_path / "ref.png"
    Image.fromarray(render(5, "B", 32, split="val")[0]).save(ref)
    ckpt = str(trained / "checkpoints" / "last.pt")
    capsys.readouterr()
    assert main(["translate", "--checkpoint", ckpt, "--input", str(src), "--styles", "3", "--out",
                 str(tmp_path / "o1")]) == 0
    res = json.loads(capsys.readouterr().out.strip())
    assert res == {"inputs": 2, "styles": 3, "translations": 6, "grids": 2, "written": 8, "out": str(tmp_path / "o1")}
    files = [p for p in (tmp_path / "o1").rglob("*") if p.is_file()]
    assert len(files) == res["written"]                                      # the count is every file written
    assert Image.open(tmp_path / "o1" / "a0_a2b_2.png").size == (32, 32)
    assert Image.open(tmp_path / "o1" / "grids" / "a1_a2b.png").size == grid_size(1, 4, 32, labelled=True)
    assert main(["translate", "--checkpoint", ckpt, "--input", str(src / "a0.png"), "--reference", str(ref),
                 "--direction", "b2a", "--out", str(tmp_path / "o2")]) == 0
    assert json.loads(capsys.readouterr().out.strip())["styles"] == 1


def test_sample_uses_the_runs_fixed_styles(trained, tmp_path, capsys):
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(trained / "checkpoints" / "last.pt"), "--out", str(tmp_path),
                 "--inputs", "3"]) == 0
    res = json.loads(capsys.readouterr().out.strip())
    assert res["step"] == 4
    assert Image.open(res["a2b"]).size == grid_size(3, 7, 32, labelled=True)


def test_help_is_readable(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--data", "--domains", "--iters", "--out", "--resume", "--preset", "--lambda-cyc", "--lr-step"):
        assert flag in out


@pytest.mark.parametrize("argv, needle", [
    (["train", "--data", "/nonexistent/afhq", "--out", "X", "--quiet"], "/nonexistent/afhq"),
    (["train", "--data", "a_file", "--out", "X", "--quiet"], "a_file is a file, not a folder"),
    (["train", "--preset", "tiny", "--image-size", "8", "--out", "X"], "too small"),
    (["train", "--preset", "tiny", "--lr-step", "0", "--out", "X"], "lr_step"),
    (["train", "--preset", "tiny", "--lr", "nan", "--out", "X"], "lr must be a finite number > 0, got nan"),
    (["train", "--preset", "tiny", "--lr", "-1", "--out", "X"], "lr must be a finite number > 0, got -1"),
    (["train", "--preset", "tiny", "--lambda-x", "inf", "--out", "X"], "LossWeights.x must be a finite number"),
    (["train", "--preset", "tiny", "--device", "tpu", "--out", "X"], "device 'tpu'"),
    (["translate", "--checkpoint", "/nope.pt", "--input", "a_file", "--out", "X"], "checkpoint not found"),
    (["translate", "--checkpoint", "/nope.pt", "--input", "x.png", "--out", "X"], "input not found: x.png"),
    (["evaluate", "--metrics", "fit"], "give --checkpoint C, --translations DIR, --baselines"),
    (["evaluate", "--baselines", "--data", "missing_dir", "--metrics", "fit"], "missing_dir"),
])
def test_bad_input_gives_one_line_errors(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a data folder")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "Traceback" not in err and len(err.splitlines()) <= 3


def test_evaluate_baselines_then_the_checkpoint(trained, capsys):
    """One JSON line per reference generator, then the checkpoint's, same metrics and style codes; the paired
    oracle wins the fit and the trivial generators do not."""
    assert main(["evaluate", "--baselines", "--checkpoint", str(trained / "checkpoints" / "last.pt"),
                 "--metrics", "fit,content", "--max-images", "24", "--n-styles", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = [r["generator"] for r in lines]
    from munit.programs import PROGRAMS
    assert names == ["oracle", "identity", "negation", "constant", "fixed_image", "random_init", "style_noise",
                     *PROGRAMS, "checkpoint"]
    fit = {r["generator"]: r["fit/mean"] for r in lines}
    from munit.baselines import TRIVIAL
    assert fit["oracle"] < 0.01 < 0.05 < min(fit[k] for k in TRIVIAL)
    assert fit["oracle"] < 0.01 < min(fit[k] for k in PROGRAMS)
    assert lines[-1]["checkpoint"]["step"] == 4 and lines[-1]["meta"]["fit"]["protocol"]["n_styles"] == 2


def test_unknown_argument_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--out", "x", "--lamda-x", "3"])
    assert e.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_data_export_gives_example_inputs_for_translate(trained, tmp_path, capsys):
    capsys.readouterr()
    assert main(["data", "export", "--n", "3", "--out", str(tmp_path / "ex")]) == 0
    printed = capsys.readouterr()
    res = json.loads(printed.out.strip())                                   # stdout: one JSON line
    ex = tmp_path / "ex"
    assert printed.err.splitlines() == [                                     # stderr: what, where, what next
        f"wrote 6 PNGs (3 per domain, 32 px, val split): {ex / 'A'}/val_0000.png..val_0002.png, "
        f"{ex / 'B'}/val_0000.png..val_0002.png",
        f"translate them: python -m munit translate --checkpoint CHECKPOINT --input {ex / 'A'} --out out/translate"]
    assert res["domains"] == {"A": 3, "B": 3} and res["image_size"] == 32
    a = sorted((tmp_path / "ex" / "A").glob("*.png"))
    assert len(a) == 3 and Image.open(a[0]).size == (32, 32)
    assert main(["translate", "--checkpoint", str(trained / "checkpoints" / "last.pt"), "--input",
                 str(tmp_path / "ex" / "A"), "--styles", "2", "--out", str(tmp_path / "t")]) == 0
    assert json.loads(capsys.readouterr().out.strip())["written"] == 3 * 2 + 3


def test_grid_layout_reads_labelled_and_plain_grids():
    k = grid_scale(7, 32)
    assert k == 3
    assert grid_layout(*grid_size(3, 7, 32, labelled=True), 32) == (3, 7, LABEL_HEIGHT * k, k)
    assert grid_layout(*grid_size(3, 7, 32), 32) == (3, 7, 0, k)
    assert grid_layout(*grid_size(3, 7, 32, labelled=True, min_width=0), 32) == (3, 7, LABEL_HEIGHT, 1)  # older
    assert grid_layout(100, 100, 32) is None


def test_a_written_grid_is_at_least_512_px_wide_and_tiles_are_nearest_neighbour_enlargements(tmp_path):
    """The MLflow sample grid (240 px as generated) and translate's 1 x 4 grid (172 px): written >= 512 px wide,
    each tile exactly the generated image with every pixel a k x k block, the column names in a k-times header."""
    import torch

    g = torch.Generator().manual_seed(0)
    for rows, cols in ((4, 7), (1, 4)):
        images = torch.rand(rows * cols, 3, 32, 32, generator=g) * 2 - 1
        path = save_grid(images, cols, tmp_path / f"g{cols}.png", [f"c{c}" for c in range(cols)])
        img = np.asarray(Image.open(path).convert("RGB"))
        k = grid_scale(cols, 32)
        assert img.shape[1] >= 512 and (img.shape[1], img.shape[0]) == grid_size(rows, cols, 32, labelled=True)
        assert grid_layout(img.shape[1], img.shape[0], 32) == (rows, cols, LABEL_HEIGHT * k, k)
        assert (img[:LABEL_HEIGHT * k] < 128).any()                          # the labels
        generated = (images.clamp(-1, 1) * 0.5 + 0.5).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
        for i in (0, rows * cols - 1):
            r, c = divmod(i, cols)
            y0 = LABEL_HEIGHT * k + GRID_PADDING * k + r * (32 + GRID_PADDING) * k
            x0 = GRID_PADDING * k + c * (32 + GRID_PADDING) * k
            tile = img[y0:y0 + 32 * k, x0:x0 + 32 * k]
            expected = generated[i].permute(1, 2, 0).numpy().repeat(k, axis=0).repeat(k, axis=1)
            assert np.array_equal(tile, expected), (rows, cols, i)


def test_a_full_disk_is_one_line_and_keeps_the_checkpoint(small_disk, tmp_path, capsys):
    """The checkpoint write (torch's "unexpected pos") on a full disk: one line naming the file, exit status 2,
    and the last checkpoint still loads."""
    from conftest import fill_up
    from munit.checkpoint import load_checkpoint

    out = small_disk(tmp_path / "disk") / "run"
    args = [*TRAIN, "--sample-every", "0", "--checkpoint-every", "2", "--out", str(out)]
    assert main([*args, "--iters", "2"]) == 0
    fill_up(out.parent, leave=256 << 10)   # room for the logs, not for a 3 MB checkpoint
    capsys.readouterr()
    assert main([*args, "--iters", "4", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"error: no space left on device while writing {out / 'checkpoints/last.pt'}"
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2


def test_resume_keeps_the_checkpoints_settings_and_refuses_others(tmp_path, capsys):
    """--resume: options left out come from the checkpoint; another lr, StepLR step or data is refused, naming
    the differences (the checkpoint's optimiser and schedule would silently win over them). A torn last log line,
    as a crash or a full disk leaves it, is dropped."""
    from munit.checkpoint import RunFolder

    out = tmp_path / "run"
    assert main([*TRAIN, "--iters", "2", "--lr", "3e-4", "--lr-step", "5", "--sample-every", "0", "--out",
                 str(out)]) == 0
    capsys.readouterr()
    for extra, diff in ((["--lr", "1e-3"], "train.lr 0.0003 -> 0.001"), (["--lr-step", "7"], "train.lr_step 5 -> 7"),
                        (["--max-images", "8"], "data.max_images 16 -> 8")):
        assert main(["train", "--out", str(out), "--resume", "--quiet", "--preset", "tiny", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and diff in err[0] and "Leave these options out" in err[0], err
    with open(out / "log.jsonl", "a") as f:
        f.write('{"step": 3, "loss/d": 0.')   # torn
    assert main(["train", "--out", str(out), "--resume", "--iters", "4", "--quiet"]) == 0
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["lr"], train["lr_step"], train["iters"]) == (3e-4, 5, 4)
    assert [r["step"] for r in RunFolder(out).records(RunFolder.LOG)] == [2, 4]


def test_one_rule_picks_the_preset_and_the_run_defaults():
    """Which preset and recipe a machine trains when nobody says (munit train, munit.bench, the sweep): the paper's
    on CUDA with real data, tiny on the synthetic set on any device, small on a CPU with real data."""
    from munit.config import CPU_DEFAULTS, PAPER_DEFAULTS, SYNTHETIC, default_preset, default_run

    assert {(cuda, src): default_preset(cuda, src) for cuda in (True, False) for src in (SYNTHETIC, "/data/afhq")} == {
        (True, SYNTHETIC): "tiny", (False, SYNTHETIC): "tiny", (True, "/data/afhq"): "paper",
        (False, "/data/afhq"): "small"}
    assert default_run(True, "/data/afhq") == PAPER_DEFAULTS and default_run(False, SYNTHETIC) == CPU_DEFAULTS
    small = default_run(False, "/data/afhq")
    assert small.preset == "small" and (small.batch_size, small.lr, small.weights) == (
        CPU_DEFAULTS.batch_size, CPU_DEFAULTS.lr, CPU_DEFAULTS.weights)


def test_default_objective_and_metrics_follow_the_data():
    """A study's default objective and side metrics: paired ones only where there is ground truth."""
    from munit.metrics import DEFAULT_METRICS, default_metrics, default_objective, registry

    assert default_objective("synthetic") == "fitn/worst" and default_objective("/data/afhq") == "fid/mean"
    assert default_metrics("synthetic") == ("fit", "content", "acc", "fcd") and default_metrics("/data/afhq") == ("acc", "fcd")
    assert DEFAULT_METRICS == ("fid", "lpips", "acc")
    known = registry()
    for src in ("synthetic", "/data/afhq"):
        names = [default_objective(src).split("/")[0], *default_metrics(src)]
        assert all(n in known for n in names)
        assert src == "synthetic" or not any(known[n].synthetic_only for n in names)


def test_a_fresh_run_refuses_a_used_run_folder(trained, capsys):
    """Without --resume, `munit train --out` on another run's folder is one error line, and the folder is left as
    it was (a second run there used to replace the checkpoint and interleave both runs' log lines)."""
    ckpt, log = trained / "checkpoints" / "last.pt", trained / "log.jsonl"
    before = (ckpt.read_bytes(), log.read_bytes())
    capsys.readouterr()
    assert main([*TRAIN, "--iters", "2", "--out", str(trained)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out") and "pass --resume" in err and len(err.splitlines()) == 1
    assert (ckpt.read_bytes(), log.read_bytes()) == before


def test_translate_never_overwrites_and_counts_what_it_wrote(trained, tmp_path, capsys):
    """cat.png and cat.jpg in one folder get outputs of their own; a second run into the same --out is refused
    unless --overwrite."""
    from munit.synthetic import render

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(render(0, "A", 32, split="val")[0]).save(src / "cat.png")
    Image.fromarray(render(1, "A", 32, split="val")[0]).save(src / "cat.jpg")
    argv = ["translate", "--checkpoint", str(trained / "checkpoints" / "last.pt"), "--input", str(src), "--styles",
            "2", "--out", str(tmp_path / "o")]
    capsys.readouterr()
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out.strip())
    files = sorted(p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").rglob("*") if p.is_file())
    assert res["written"] == len(files) == 6, files
    assert {"cat-jpg_a2b_0.png", "cat-png_a2b_0.png", "grids/cat-jpg_a2b.png", "grids/cat-png_a2b.png"} <= set(files)
    before = {f: (tmp_path / "o" / f).stat().st_mtime_ns for f in files}
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: 6 output file(s) exist already") and "--overwrite" in err and "\n" not in err
    assert {f: (tmp_path / "o" / f).stat().st_mtime_ns for f in files} == before
    assert main([*argv, "--overwrite"]) == 0


def _bomb(path):
    """A PNG header claiming 20000 x 20000 pixels (over twice PIL's limit: refused before decoding)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("case", ["empty", "text", "truncated", "bomb", "symlink", "empty_reference", "styles",
                                  "out_is_file", "out_under_file"])
def test_translate_bad_inputs_give_one_line_errors(case, trained, tmp_path, capsys):
    from munit.synthetic import render

    good = tmp_path / "good.png"
    Image.fromarray(render(0, "A", 32, split="val")[0]).save(good)
    bad = tmp_path / "bad.png"
    inp, out, extra = bad, tmp_path / "o", []
    if case == "empty":
        bad.write_bytes(b"")
    elif case == "text":
        bad.write_text("not an image\n")
    elif case == "truncated":
        bad.write_bytes(good.read_bytes()[:200])
    elif case == "bomb":
        _bomb(bad)
    elif case == "symlink":
        (tmp_path / "notes.txt").write_text("hello")
        bad.symlink_to(tmp_path / "notes.txt")
    elif case == "empty_reference":
        inp, extra = good, ["--reference", ""]
    elif case == "styles":
        inp, extra = good, ["--styles", "1000000000"]
    elif case in ("out_is_file", "out_under_file"):
        inp = good
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" if case == "out_is_file" else tmp_path / "f" / "sub"
    capsys.readouterr()
    assert main(["translate", "--checkpoint", str(trained / "checkpoints" / "last.pt"), "--input", str(inp),
                 "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("extra, needle", [(["--seed", "-1"], "--seed must be >= 0"),
                                           (["--image-size", "100000"], "--image-size must be in"),
                                           (["--n", "100000000"], "GiB of memory")])
def test_data_export_checks_sizes_before_allocating(extra, needle, tmp_path, capsys):
    assert main(["data", "export", "--out", str(tmp_path / "ex"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ex").exists()


@pytest.mark.parametrize("fault", ["operator", "version"])
def test_a_mismatched_torchvision_is_one_line_that_says_what_to_install(fault, monkeypatch, tmp_path, capsys):
    import importlib
    import types

    import torch

    from experiments import sweep
    from munit.compat import matching_torchvision

    real = importlib.import_module

    def fake(name, *a, **kw):
        if name != "torchvision":
            return real(name, *a, **kw)
        if fault == "operator":
            raise RuntimeError("operator torchvision::nms does not exist")
        return types.SimpleNamespace(__version__="0.16.0")
    monkeypatch.setattr(importlib, "import_module", fake)
    want = matching_torchvision(torch.__version__)
    for run in (lambda: main(["data", "export", "--n", "1", "--out", str(tmp_path / "x")]),
                lambda: sweep.main(["--root", str(tmp_path / "r"), "--trials", "0"])):
        assert run() == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: torchvision") and f'pip install "torchvision=={want}.*"' in err, err
        assert len(err.splitlines()) == 1
    assert matching_torchvision("2.14.1+cu130") == "0.29" and matching_torchvision("2.5.0") == "0.20"
