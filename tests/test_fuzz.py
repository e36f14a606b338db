"""Generated command lines and space files (hypothesis). The property of every command line: it parses, or ends
with one ``error:`` line and exit status 2 (no traceback); what it then does is a result, or one ``error:`` line
with exit status 2; and it writes nothing outside its --out / --root.

CI runs a few examples with a fixed seed; ``MUNIT_FUZZ=20 pytest tests/test_fuzz.py`` runs twenty times as many,
with fresh random examples."""
from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SCALE = int(os.environ.get("MUNIT_FUZZ", "1"))


def fuzz(n: int):
    return settings(max_examples=n * SCALE, derandomize=SCALE == 1, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


HOSTILE = st.one_of(
    st.sampled_from(["0", "-1", "1", "3", "1e309", "-0", "nan", "inf", "", " ", "x", "../..", "/", "1000000000",
                     "99999999999999999999", "0x10", "1.5", "\u00e9", "a,b", "fid/mean", "--", "-"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6))


def _flags(parser: argparse.ArgumentParser) -> list[tuple[str, int | str | None]]:
    """Every optional flag of ``parser`` (its subparsers' too, prefixed) with its nargs."""
    out = []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            continue
        for s in a.option_strings:
            if s.startswith("--") and s != "--help":
                out.append((s, 0 if a.nargs == 0 else a.nargs))
    return out


def _argv(draw, parser, head: list[str]) -> list[str]:
    flags = _flags(parser)
    argv = list(head)
    for flag, nargs in draw(st.lists(st.sampled_from(flags), max_size=5)):
        argv.append(flag)
        k = 0 if nargs == 0 else (2 if nargs == 2 else 1)
        argv += [draw(HOSTILE) for _ in range(k)]
    return argv


def _parses_or_one_error_line(parser, argv) -> argparse.Namespace | None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return parser.parse_args(argv)
        except SystemExit as e:
            assert e.code in (0, 2), (argv, e.code)
    lines = [line for line in err.getvalue().splitlines() if "error:" in line]
    assert len(lines) <= 1 and "Traceback" not in err.getvalue(), (argv, err.getvalue())
    return None


def _subparser(parser, *names):
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@fuzz(30)
@given(data=st.data(), cmd=st.sampled_from([("train",), ("translate",), ("sample",), ("evaluate",),
                                            ("data", "export")]))
def test_munit_option_parsing(data, cmd):
    from munit.cli import build_parser
    parser = build_parser()
    _parses_or_one_error_line(parser, _argv(data.draw, _subparser(parser, *cmd), list(cmd)))


@fuzz(30)
@given(data=st.data())
def test_sweep_option_parsing_and_settings(data):
    """Parsed sweep options resolve into a study's settings, or fail with a ConfigError/DataError (one line)."""
    import optuna

    from experiments.study import resolve_settings
    from experiments.sweep import build_parser, config_from_args
    from munit.cli import user_errors

    parser = build_parser()
    argv = _argv(data.draw, parser, [])
    args = _parses_or_one_error_line(parser, argv)
    if args is None:
        return
    cfg = config_from_args(args, argv)
    try:
        resolve_settings(cfg.settings, optuna.storages.InMemoryStorage(), "fuzz", False, cfg.weights,
                         cfg.allow_unverified_weights)
    except user_errors() as e:
        assert str(e) and "Traceback" not in str(e), (argv, e)


@fuzz(30)
@given(data=st.data())
def test_analysis_option_parsing(data):
    from analysis.cli import build_parser
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    cmd = data.draw(st.sampled_from(sorted(action.choices)))
    _parses_or_one_error_line(parser, _argv(data.draw, action.choices[cmd], [cmd]))


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@fuzz(12)
@given(n=st.one_of(st.integers(-3, 3), st.sampled_from([100_000_000, 2**40])),
       size=st.one_of(st.none(), st.sampled_from([-1, 0, 7, 8, 12, 100_000])),
       seed=st.one_of(st.integers(-2, 2), st.just(2**63)), split=st.sampled_from(["train", "val", "test"]))
def test_data_export_writes_only_into_out(tmp_path_factory, n, size, seed, split):
    from munit.cli import main

    tmp = tmp_path_factory.mktemp("export")
    argv = ["data", "export", "--out", str(tmp / "out"), "--n", str(n), "--seed", str(seed), "--split", split]
    argv += [] if size is None else ["--image-size", str(size)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    assert code == 0 or (code == 2 and len(err.getvalue().strip().splitlines()) == 1
                          and err.getvalue().startswith("error: ")), (argv, code, err.getvalue())
    assert all(p == tmp / "out" or (tmp / "out") in p.parents for p in _files(tmp)), argv


@fuzz(12)
@given(data=st.data())
def test_translate_inputs_write_only_into_out(tmp_path_factory, data):
    """translate with generated options and a missing, empty or foreign checkpoint and input."""
    from munit.cli import build_parser, main

    tmp = tmp_path_factory.mktemp("translate")
    (tmp / "empty.pt").write_bytes(b"")
    (tmp / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    ckpt = data.draw(st.sampled_from(["missing.pt", "empty.pt", "img.png"]))
    argv = ["translate", "--checkpoint", str(tmp / ckpt), "--input", str(tmp / "img.png"), "--out", str(tmp / "out")]
    argv += _argv(data.draw, _subparser(build_parser(), "translate"), [])[:4]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    assert code == 2 and "Traceback" not in err.getvalue(), (argv, code, err.getvalue())
    assert len([line for line in err.getvalue().splitlines() if "error:" in line]) == 1, (argv, err.getvalue())
    assert all(p.parent == tmp or tmp / "out" in p.parents or p == tmp / "out" for p in _files(tmp)), argv


KEYS = st.one_of(st.sampled_from(["lambda_x", "lambda_cyc", "lr", "lr_step", "new_one", "123", "a b", "", "x.y"]),
                 st.integers(-2, 200))
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=5), st.sampled_from(["weights.x", "train.lr", "train.iters", "model.dim", "x"]))
ENTRY = st.dictionaries(st.sampled_from(["low", "high", "log", "step", "sets", "unit", "choices", "??"]), VALUES,
                        max_size=5)


@fuzz(40)
@given(space=st.one_of(st.dictionaries(KEYS, st.one_of(ENTRY, VALUES), max_size=4), VALUES),
       fmt=st.sampled_from(["yaml", "json", "bytes"]), junk=st.binary(max_size=20))
def test_space_files_load_or_fail_in_one_line(tmp_path_factory, space, fmt, junk):
    import json

    import yaml

    from experiments.space import load_space
    from munit.config import ConfigError

    path = tmp_path_factory.mktemp("space") / f"s.{'json' if fmt == 'json' else 'yaml'}"
    if fmt == "bytes":
        path.write_bytes(junk)
    elif fmt == "json":
        path.write_text(json.dumps(space, allow_nan=True))
    else:
        path.write_text(yaml.safe_dump(space, allow_unicode=True))
    try:
        s = load_space(path)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e), str(e)
    else:
        assert all(isinstance(n, str) and n.isidentifier() for n in s.params)
