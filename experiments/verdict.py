"""The answer to "did it work?", where the user looks: the end of the sweep's console summary, the best trial's and
the parent run's MLflow descriptions. Generic over whatever reference rows the study logged (experiments.baselines):
the best complete trial against the best of them on the objective, how many complete trials beat them all, where
the best trial's checkpoint is, the command that translates with it and the next commands.

A reference row that is a ceiling, not a bar (the paired oracle: the ground truth itself), is named in
``CEILINGS``; it is reported as the room left, never as a baseline to beat (``analysis.tables.baseline_verdicts``
reads the rows the same way).
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from munit.checkpoint import RunFolder

from . import contract

CEILINGS = ("oracle",)   # reference rows that are the best a translator can score: the room left, not a bar


def baseline_values(client: Any, experiment_id: str, study_name: str, key: str) -> dict[str, float]:
    """{baseline name: its value of ``key``} of every baseline run the study logged (the oldest of each name)."""
    runs = client.search_runs([experiment_id],
                              filter_string=f"tags.`{contract.TAG_ROLE}` = '{contract.ROLE_BASELINE}' and "
                                            f"tags.`{contract.TAG_STUDY}` = '{study_name}'",
                              order_by=["attributes.start_time ASC"], max_results=1000)
    out: dict[str, float] = {}
    for r in runs:
        name = r.data.tags.get(contract.TAG_BASELINE, "")
        v = r.data.metrics.get(key)
        if name and name not in out and v is not None and math.isfinite(v):
            out[name] = float(v)
    return out


def _beats(v: float, ref: float, minimize: bool) -> bool:
    return v < ref if minimize else v > ref


@dataclass
class Verdict:
    """The best complete trial against the study's reference rows (single objective)."""

    key: str
    minimize: bool
    best: float                                # the best trial's final value (what Optuna ranks)
    complete: list[float]                      # every complete trial's value
    baselines: dict[str, float] = field(default_factory=dict)

    @property
    def bars(self) -> dict[str, float]:
        return {k: v for k, v in self.baselines.items() if k not in CEILINGS}

    @property
    def bar(self) -> tuple[str, float] | None:
        """The best reference row that is a bar (not a ceiling): (name, value)."""
        if not self.bars:
            return None
        name = (min if self.minimize else max)(self.bars, key=self.bars.get)
        return name, self.bars[name]

    @property
    def beats_all(self) -> bool:
        return self.bar is not None and _beats(self.best, self.bar[1], self.minimize)

    @property
    def n_beating(self) -> int:
        return sum(_beats(v, self.bar[1], self.minimize) for v in self.complete) if self.bar else 0

    @property
    def rank_among_baselines(self) -> int:
        """1 + how many bars score better than the best trial."""
        return 1 + sum(_beats(v, self.best, self.minimize) for v in self.bars.values())

    def sentence(self) -> str:
        """'best 0.0746 beats every baseline (next: paint_own 0.076); 8 of 15 complete trials do'."""
        from .console import fmt
        if self.bar is None:
            return f"best {fmt(self.best)} ({self.key}); no baseline rows to compare with (--no-baselines)"
        name, value = self.bar
        n = len(self.complete)
        if self.beats_all:
            head = f"best {fmt(self.best)} beats every baseline (next: {name} {fmt(value)})"
        else:
            head = f"best {fmt(self.best)} does NOT beat every baseline (best: {name} {fmt(value)})"
        return f"{head}; {self.n_beating} of {n} complete trial{'s' if n != 1 else ''} do"

    def ceiling(self) -> str | None:
        refs = [(k, v) for k, v in self.baselines.items() if k in CEILINGS]
        return "; ".join(f"{k} scores {v:.4g}: the room left" for k, v in refs) or None


def best_evaluation(t: Any, minimize: bool) -> tuple[int, float] | None:
    """(iteration, value) of a trial's best reported evaluation, or None."""
    vals = {s: v for s, v in (t.intermediate_values or {}).items() if v is not None and math.isfinite(v)}
    if not vals:
        return None
    step = (min if minimize else max)(vals, key=vals.get)
    return step, vals[step]


def final_vs_best(t: Any, key: str, minimize: bool) -> str:
    """'final 0.0746 (what Optuna ranks); best evaluation 0.0710 at iteration 80'."""
    from .console import fmt
    text = f"{key} final {fmt(t.values[0])} (the last evaluation: what Optuna ranks)"
    be = best_evaluation(t, minimize)
    if be is not None and be[1] != t.values[0]:
        text += f"; best evaluation {fmt(be[1])} at iteration {be[0]} (its checkpoint is not kept)"
    return text


def best_checkpoint(trials_dir: Path, t: Any) -> Path:
    """The best trial's checkpoint: its folder's last.pt (several seeds: the first seed's)."""
    folder = Path(trials_dir) / str(t.number)
    seeds = t.user_attrs.get(contract.ATTR_SEEDS)
    if seeds:
        folder = folder / contract.SEED_FOLDER.format(seed=seeds[0])
    return RunFolder(folder).checkpoint


def next_commands(study_name: str, tracking_uri: str, storage: str, checkpoint: Path, synthetic: bool) -> list[str]:
    """The commands that come after a sweep, ready to paste (non-default stores spelled out)."""
    where = ["--experiment", study_name]
    if tracking_uri != contract.DEFAULT_TRACKING_URI:
        where += ["--tracking-uri", contract.mask_url(tracking_uri)]
    if storage != contract.DEFAULT_STORAGE:
        where += ["--storage", contract.mask_url(storage)]
    out = []
    if synthetic:
        out.append("python -m munit data export --n 8 --out examples/")
    src = "examples/A" if synthetic else "PATH/TO/A-IMAGES"
    out.append(shlex.join(["python", "-m", "munit", "translate", "--checkpoint", str(checkpoint), "--input", src,
                           "--out", "out/translate"]))
    out.append(shlex.join(["python", "-m", "analysis", "compare", *where, "--brief"]))
    out.append(shlex.join(["python", "-m", "analysis", "report", *where]))
    return out


def best_trial_note(t: Any, key: str, minimize: bool, rank: int, n_complete: int, v: Verdict | None,
                    checkpoint: Path) -> str:
    """The best trial's MLflow description (``mlflow.note.content``)."""
    lines = [f"**Best trial of the study** (rank {rank} of {n_complete} complete trials by `{key}`, "
             f"{'lower' if minimize else 'higher'} is better).", "",
             f"- {final_vs_best(t, key, minimize)}"]
    if v is not None:
        lines.append(f"- against the reference rows: {v.sentence()}"
                     + (f" (rank {v.rank_among_baselines} among the {len(v.bars)} baselines)" if v.bars else ""))
        if v.ceiling():
            lines.append(f"- {v.ceiling()}")
    params = ", ".join(f"`{k}` = {p:.3g}" if isinstance(p, float) else f"`{k}` = {p}" for k, p in t.params.items())
    lines += [f"- parameters: {params}", f"- checkpoint: `{checkpoint}`"]
    return "\n".join(lines) + "\n"


def parent_note(study_name: str, t: Any | None, key: str, v: Verdict | None, states: Mapping[str, int]) -> str:
    """The parent (study) run's MLflow description: which trial is best and how it compares."""
    counts = ", ".join(f"{n} {k.lower()}" for k, n in sorted(states.items())) or "none"
    lines = [f"**Optuna study `{study_name}`**: {sum(states.values())} trials ({counts}).", ""]
    if t is None:
        lines.append("No trial has completed yet.")
    else:
        lines.append(f"Best: **trial {t.number}** (MLflow run `{t.user_attrs.get(contract.ATTR_RUN_ID, '?')}`), "
                     f"`{key}` = {t.values[0]:.4g}.")
        if v is not None:
            lines.append(f"\n{v.sentence()}.")
    return "\n".join(lines) + "\n"


def describe_runs(client: Any, parent_run_id: str, best: Any | None, study_name: str, key: str, minimize: bool,
                  complete: Sequence[Any], v: Verdict | None, checkpoint: Path | None,
                  states: Mapping[str, int]) -> None:
    """Set the descriptions of the parent run and (single objective) the best trial's run."""
    from .mlflow_ui import TAG_NOTE
    client.set_tag(parent_run_id, TAG_NOTE, parent_note(study_name, best, key, v, states))
    run_id = best.user_attrs.get(contract.ATTR_RUN_ID) if best is not None else None
    if run_id and checkpoint is not None:
        ranked = sorted(t.values[0] for t in complete)
        rank = 1 + sum(_beats(x, best.values[0], minimize) for x in ranked)
        client.set_tag(run_id, TAG_NOTE, best_trial_note(best, key, minimize, rank, len(complete), v, checkpoint))


__all__ = ["CEILINGS", "Verdict", "baseline_values", "best_evaluation", "final_vs_best", "best_checkpoint",
           "next_commands", "best_trial_note", "parent_note", "describe_runs"]
