"""What the terminal shows of a study while it runs: a header (the study, its data and model, the objective, where
results go), one study-level progress bar, and one line per finished trial in one number format::

      trial  17  complete   content/mean 0.3950 (best)   lambda_x 7.12  lambda_s 0.541 ...  16 s
      trial   8  pruned@80  content/mean 0.6122          lambda_x 8.83  ...                     11 s

Without a terminal (a log file, CI) there is no bar; with several workers the parent prints and the workers don't.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any, Sequence, TextIO

from munit.trainer import Callback

from . import contract


def fmt(v: Any) -> str:
    """The one number format: integers as they are, floats with 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return str(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if x != x:
        return "nan"
    return f"{x:.4g}"


def terminal_width() -> int:
    """The terminal's columns; 120 when the output is not a terminal ($COLUMNS wins where set)."""
    import shutil
    return max(40, shutil.get_terminal_size((120, 24)).columns)


def fit(line: str, width: int | None = None, indent: str = "      ", fields: bool = False) -> str:
    """``line`` wrapped at spaces to ``width`` columns (the terminal's), continuation lines indented; a word longer
    than the width (a URL, a path) is never broken. ``fields``: break only between fields (runs of 2+ spaces), so
    that ``lambda_x 7.12`` stays together."""
    import re
    import textwrap
    width = width or terminal_width()
    if len(line) <= width:
        return line
    glue = "\x00"
    text = re.sub(r"(?<=\S) (?=\S)", glue, line) if fields else line
    out = textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return "\n".join(out).replace(glue, " ") or line


def outcome(t) -> str:
    """'complete', 'pruned@80', 'failed', 'running', ..."""
    state = t.state.name.lower()
    if state == "pruned":
        steps = sorted(t.intermediate_values)
        return f"pruned@{steps[-1]}" if steps else "pruned"
    return {"fail": "failed"}.get(state, state)


def trial_line(t, objective: Sequence[str], best: int | None = None, width: int = 4) -> str:
    """One finished trial in one line (see the module docstring)."""
    if t.state.name == "COMPLETE":
        what = "  ".join(f"{k} {fmt(v)}" for k, v in zip(objective, t.values or []))
        if best == t.number:
            what += " (new best)"
    elif t.state.name == "PRUNED" and t.intermediate_values and len(objective) == 1:
        last = sorted(t.intermediate_values)[-1]
        what = f"{objective[0]} {fmt(t.intermediate_values[last])}"
    else:
        what = str(t.user_attrs.get(contract.ATTR_FAIL_REASON, ""))
        what = what if len(what) <= 60 else what[:57] + "..."
    params = "  ".join(f"{k} {fmt(v)}" for k, v in t.params.items())
    took = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start \
        else 0.0
    blog = f"  [blog trial {t.user_attrs[contract.ATTR_BLOG]}]" if t.user_attrs.get(contract.ATTR_BLOG) else ""
    return f"trial {t.number:>{width}}  {outcome(t):<10} {what:<32} {params}  {took:.0f} s{blog}"


def header(study_name: str, settings, states: dict[str, int], n_trials: int, tracking_uri: str, storage: str,
           directions: Sequence[str], ui_url: str | None) -> list[str]:
    from .storage import mask_url

    s = settings
    done = sum(states.values())
    counts = ", ".join(f"{n} {k.lower()}" for k, n in sorted(states.items())) or "none yet"
    better = ", ".join(f"{k} ({'lower' if d == 'minimize' else 'higher'} is better)"
                       for k, d in zip(s.objective_keys, directions))
    lines = [f"study {study_name!r}: {s.data} data, preset {s.preset} ({s.image_size} px), {s.iters} iterations "
             f"per trial, evaluated every {s.eval_every}",
             f"  objective {better}; search space: {', '.join(s.search_space.names)}",
             f"  trials {done}/{n_trials} done ({counts})",
             f"  stores: MLflow {tracking_uri} · Optuna {mask_url(storage)}"]
    if ui_url:
        lines.append(f"  runs:   {ui_url}")
    return lines


@dataclass(frozen=True)
class BudgetPrior:
    """What the ETA expects trials to reach before ended trials show the pruner's real rate. ``startup``: the
    pruner's start-up trials (the median pruner never stops the first 5), which run to the end; ``reached``: the
    iterations a prunable trial is expected to stop at, each equally likely, counted as that many pseudo-trials
    beside the ended prunable ones (the median pruner: one stopped at its first evaluation, one run to the end;
    no pruner: the full budget)."""
    startup: int = 0
    reached: tuple[int, ...] = ()


RECENT = 6   # the cost per iteration: the last 6 ended trials (start-up contention and warm caches fade)


def eta_seconds(ended: Sequence[tuple[float, int, int]], running: Sequence[tuple[int, int]], to_start: int,
                iters: int, workers: int = 1, prior: BudgetPrior | None = None) -> float | None:
    """Seconds until the study's last trial ends, or None before any trial has ended.

    ``ended``: (wall seconds, iterations reached, trial number) of each trial that trained and ended (complete,
    pruned, failed), in the order they ended; ``running``: (trial number, iteration) of each running trial;
    ``to_start``: trials not started yet; ``iters``: a trial's full budget; ``workers``: trials that run at a time.
    The cost per iteration is measured: the last :data:`RECENT` ended trials' seconds over their iterations
    (evaluation and start-up included). The expected budget of a prunable trial (one past the pruner's start-up)
    is what the ended prunable trials reached, pooled with the ``prior``'s pseudo-trials: a trial yet to start
    costs their mean, a running one at step s the mean of (n - s) over those that got past s (the whole rest if
    none did). Measured on a real 20-trial, 2-worker sweep in docs/sweeps.md."""
    done = [(s, n, k) for s, n, k in ended if s > 0 and n > 0]
    if not done:
        return None
    recent = done[-RECENT:]
    per_iter = sum(s for s, _, _ in recent) / sum(n for _, n, _ in recent)
    prior = prior or BudgetPrior()
    pool = [n for _, n, k in done if k >= prior.startup] + list(prior.reached) or [iters]

    def rest(number: int, step: int) -> float:
        if number < prior.startup:
            return max(iters - step, 0)
        past = [n - step for n in pool if n > step]
        return sum(past) / len(past) if past else max(iters - step, 0)

    running_rest = [rest(k, s) for k, s in running]
    if not to_start:   # the last trials: the study ends with the longest of them
        return max(running_rest, default=0.0) * per_iter
    first = max([k for _, _, k in done] + [k for k, _ in running]) + 1   # the numbers the next trials get
    unstarted = [rest(first + i, 0) for i in range(to_start)]
    left = sum(unstarted) + sum(running_rest)
    return left * per_iter / max(1, min(workers, to_start + len(running)))


def fmt_eta(seconds: float | None) -> str:
    """``eta 4:34`` / ``eta 1:02:03``; ``eta ?`` before a trial has ended."""
    if seconds is None:
        return "eta ?"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"eta {h}:{m:02d}:{s % 60:02d}" if h else f"eta {m}:{s % 60:02d}"


def trial_cost(t, iters: int) -> tuple[float, int, int] | None:
    """(wall seconds, iterations reached, number) of an ended trial that trained, from Optuna's record."""
    if t.user_attrs.get(contract.ATTR_SKIPPED) or t.datetime_start is None or t.datetime_complete is None:
        return None
    n = iters if t.state.name == "COMPLETE" else max(t.intermediate_values, default=0)
    return (t.datetime_complete - t.datetime_start).total_seconds(), int(n), t.number


class StudyConsole:
    """The study-level bar and the per-trial lines (a no-op where ``enabled`` is False)."""

    def __init__(self, n_trials: int, done: int, objective: Sequence[str], directions: Sequence[str],
                 enabled: bool = True, stream: TextIO | None = None, bar: bool | None = None,
                 iters: int | None = None, workers: int = 1, prior: BudgetPrior | None = None):
        self.objective, self.directions = list(objective), list(directions)
        self.prior = prior or BudgetPrior()
        self.n_trials, self.done, self.iters, self.workers = n_trials, done, iters, workers
        self.ended: list[tuple[float, int, int]] = []   # (seconds, iterations, number) of trials ended while shown
        self.running: dict[int, int] = {}           # trial number -> its iteration
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.best: tuple[float, int] | None = None
        self.shown: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._current = ""
        self.bar = None
        if enabled and (bar if bar is not None else self.stream.isatty()):
            from tqdm.auto import tqdm
            self.bar = tqdm(total=n_trials, initial=done, unit="trial", desc="study", dynamic_ncols=True,
                            file=self.stream, bar_format="{desc}: {n_fmt}/{total_fmt} trials |{bar}| "
                            "{elapsed}{postfix}")

    def print(self, line: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def _better(self, v: float) -> bool:
        if self.best is None:
            return True
        return v < self.best[0] if self.directions[0] == "minimize" else v > self.best[0]

    def on_trial(self, study, t) -> None:
        """A study callback: one line for a finished trial (skipped ones, which never ran, are not shown)."""
        with self._lock:
            if (t.number in self.shown or t.user_attrs.get(contract.ATTR_SKIPPED)
                    or t.state.name in ("RUNNING", "WAITING")):
                return
            self.shown.add(t.number)
            self.running.pop(t.number, None)
            cost = trial_cost(t, self.iters) if self.iters else None
            if cost is not None:
                self.ended.append(cost)
                self.done += 1
            if t.state.name == "COMPLETE" and len(self.objective) == 1 and t.values and self._better(t.values[0]):
                self.best = (t.values[0], t.number)
            self.print(fit(trial_line(t, self.objective, self.best[1] if self.best else None), indent=" " * 17,
                           fields=True))
            if self.bar is not None:
                self.bar.update(1)
                self._postfix()

    def on_iteration(self, number: int, step: int, total: int) -> None:
        self._current = f"trial {number}: it {step}/{total}"
        self.running[number] = step
        self._postfix()

    def eta(self) -> float | None:
        """:func:`eta_seconds` of what this console has seen (None without ``iters``)."""
        if not self.iters:
            return None
        to_start = max(self.n_trials - self.done - len(self.running), 0)
        return eta_seconds(self.ended, list(self.running.items()), to_start, self.iters, self.workers, self.prior)

    def _postfix(self) -> None:
        if self.bar is None:
            return
        parts = [self._current] if self._current else []
        if self.best is not None:
            parts.append(f"best {fmt(self.best[0])} (trial {self.best[1]})")
        if self.iters:
            parts.append(fmt_eta(self.eta()))
        self.bar.set_postfix_str(" · ".join(parts), refresh=True)

    def follow(self, study, interval: float = 2.0) -> None:
        """Follow a study that other processes run: print its trials as they finish, until :meth:`close`."""
        def loop() -> None:
            while not self._stop.wait(interval):
                self.catch_up(study)

        self._thread = threading.Thread(target=loop, name="study-console", daemon=True)
        self._thread.start()

    def catch_up(self, study) -> None:
        try:
            trials = study.get_trials(deepcopy=False)
        except Exception:  # noqa: BLE001 -- a storage hiccup must not end the sweep; the next poll retries
            return
        running = [t.number for t in trials if t.state.name == "RUNNING"]
        self.running = {t.number: max(t.intermediate_values, default=0) for t in trials if t.state.name == "RUNNING"}
        self._current = f"running: trial {', '.join(map(str, running))}" if running else ""
        for t in trials:
            self.on_trial(study, t)
        self.done = sum(t.state.name not in ("RUNNING", "WAITING") and not t.user_attrs.get(contract.ATTR_SKIPPED)
                        for t in trials)
        self._postfix()

    def close(self, study=None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            if study is not None:
                self.catch_up(study)
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TrialProgress(Callback):
    """A trainer callback that shows the running trial's iteration on the study bar."""

    def __init__(self, console: StudyConsole, number: int, total: int):
        self.console, self.number, self.total = console, number, total

    def on_train_start(self, trainer) -> None:
        self.console.on_iteration(self.number, trainer.step, self.total)

    def on_log(self, step: int, scalars: dict[str, float]) -> None:
        self.console.on_iteration(self.number, step, self.total)


__all__ = ["fmt", "fit", "terminal_width", "outcome", "trial_line", "header", "StudyConsole", "TrialProgress",
           "eta_seconds", "fmt_eta", "trial_cost", "BudgetPrior"]
