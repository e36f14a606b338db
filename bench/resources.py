"""What following the README costs: memory of a process tree (RSS and PSS, summed over every descendant), wall and
CPU seconds, and -- for a sweep -- how far the ETA on its bar was from the truth after each trial ended.

    # the main job as a user runs it (in a terminal: a pseudo-terminal here, so the bar and its ETA are drawn)
    python bench/resources.py sweep --log sweep.log -- python experiments/sweep.py --trials 20
    python bench/resources.py sweep --after '==> .*sweep.py' -- make sweep      # memory of the sweep phase only
    # the MLflow UI as the README starts it, and without MLflow's GenAI job runner
    python bench/resources.py ui --backend-store-uri sqlite:///mlruns/mlflow.db
    python bench/resources.py ui --backend-store-uri sqlite:///mlruns/mlflow.db --lean

Linux only (reads /proc). PSS shares each page among the processes that map it, so the PSS sum is what the tree
really takes; the RSS sum counts shared pages (torch's libraries, forked workers) once per process.
Prints one JSON line per result and a short table.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ETA = re.compile(r"eta (?:(\d+):)?(\d+):(\d\d)")
TRIAL_LINE = re.compile(r"^trial +\d+ ", re.M)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc/*/stat's parent field)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory(pids: list[int]) -> tuple[int, int, int]:
    """(processes, RSS bytes, PSS bytes) summed over ``pids`` (those that still exist)."""
    n = rss = pss = 0
    for p in pids:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = dict(ln.split(":", 1) for ln in text.splitlines()[1:] if ":" in ln)
        n += 1
        rss += int(fields.get("Rss", "0 kB").split()[0]) * 1024
        pss += int(fields.get("Pss", "0 kB").split()[0]) * 1024
    return n, rss, pss


class Sampler(threading.Thread):
    """Peak memory of a process tree, sampled every ``interval`` seconds while ``active()``."""

    def __init__(self, root: int, interval: float = 0.5, active=lambda: True):
        super().__init__(daemon=True)
        self.root, self.interval, self.active = root, interval, active
        self.peak = {"processes": 0, "rss": 0, "pss": 0}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            if not self.active():
                continue
            n, rss, pss = memory(descendants(self.root))
            self.peak = {"processes": max(self.peak["processes"], n), "rss": max(self.peak["rss"], rss),
                         "pss": max(self.peak["pss"], pss)}


def gb(b: int) -> float:
    return round(b / 1e9, 2)


def eta_errors(chunks: list[tuple[float, str]]) -> list[dict]:
    """For each trial line: the ETA the bar showed next (after that trial ended) against the time the last trial
    line really came. ``chunks``: (seconds since start, text) as read from the terminal."""
    ends, etas = [], []
    for t, text in chunks:
        clean = ANSI.sub("", text)
        ends += [t] * len(TRIAL_LINE.findall(clean.replace("\r", "\n")))
        etas += [(t, int(h or 0) * 3600 + int(m) * 60 + int(s)) for h, m, s in ETA.findall(clean)]
    if not ends:
        return []
    finish = ends[-1]
    rows = []
    for k, t in enumerate(ends[:-1], 1):
        shown = next((e for te, e in etas if te >= t), None)
        if shown is None:
            continue
        true = finish - t
        rows.append({"trials_ended": k, "at_s": round(t, 1), "eta_s": shown, "true_s": round(true, 1),
                     "error": round((shown - true) / true, 3) if true > 0 else None})
    return rows


def cmd_sweep(args) -> int:
    import pty

    master, slave = pty.openpty()
    # the terminal the user has: 120 columns
    import fcntl
    import struct
    import termios
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "COLUMNS": "120", "TERM": os.environ.get("TERM", "xterm")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(args.command, stdin=slave, stdout=slave, stderr=slave, env=env,
                                start_new_session=True)
    except OSError as e:
        print(f"error: cannot run {args.command[0]!r}: {e.strerror or e}", file=sys.stderr)
        return 2
    os.close(slave)
    phase = {"on": args.after is None, "t": 0.0 if args.after is None else None}
    sampler = Sampler(proc.pid, active=lambda: phase["on"])
    sampler.start()
    chunks: list[tuple[float, str]] = []
    seen = ""
    log = open(args.log, "w") if args.log else None
    while True:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            try:
                data = os.read(master, 65536).decode("utf-8", "replace")
            except OSError:
                data = ""
            if not data:
                if proc.poll() is not None:
                    break
                continue
            t = time.perf_counter() - t0
            chunks.append((t, data))
            if log:
                log.write(f"[{t:8.1f}] {data!r}\n")
            if not phase["on"]:
                seen = (seen + ANSI.sub("", data))[-4000:]
                if re.search(args.after, seen):
                    phase.update(on=True, t=t)
        elif proc.poll() is not None:
            break
    rc = proc.wait()
    wall = time.perf_counter() - t0
    sampler.stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if log:
        log.close()
    if phase["t"] is not None:
        chunks = [(t, c) for t, c in chunks if t >= phase["t"]]
    rows = eta_errors(chunks)
    out = {"command": " ".join(args.command), "rc": rc, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "phase_from_s": phase["t"], "peak_processes": sampler.peak["processes"],
           "peak_rss_gb": gb(sampler.peak["rss"]), "peak_pss_gb": gb(sampler.peak["pss"]), "eta": rows}
    print(json.dumps(out))
    print(f"\nwall {wall:.0f} s, CPU {cpu:.0f} s (children), rc {rc}; peak {sampler.peak['processes']} processes, "
          f"RSS {gb(sampler.peak['rss'])} GB, PSS {gb(sampler.peak['pss'])} GB"
          + (f" (from {phase['t']:.0f} s on)" if args.after else ""))
    if rows:
        print(f"{'ended':>5} {'at s':>7} {'eta s':>6} {'true s':>7} {'error':>7}")
        for r in rows:
            err = f"{100 * r['error']:+.0f}%" if r["error"] is not None else "-"
            print(f"{r['trials_ended']:>5} {r['at_s']:>7} {r['eta_s']:>6} {r['true_s']:>7} {err:>7}")
    return rc


def cmd_ui(args) -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    if args.lean:
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    else:
        env.pop("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", None)
    mlflow = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow), "ui", "--backend-store-uri", args.backend_store_uri, "--port", str(port)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not mlflow.exists():
        print(f"error: no mlflow next to {sys.executable} (pip install mlflow, or run this with the venv's python)",
              file=sys.stderr)
        return 2
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    t0 = time.perf_counter()
    base = f"http://127.0.0.1:{port}"
    ready = None
    try:
        while time.perf_counter() - t0 < 120 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    ready = time.perf_counter() - t0
                    break
            except OSError:
                time.sleep(0.3)
        if ready is None:
            print(json.dumps({"lean": args.lean, "error": "the UI did not answer /health", "rc": proc.poll()}))
            return 1
        # what a browser asks for on the runs page: the app, then the experiments and the runs
        for path in ("/", "/ajax-api/2.0/mlflow/experiments/search?max_results=100"):
            urllib.request.urlopen(base + path, timeout=30).read()
        req = urllib.request.Request(base + "/ajax-api/2.0/mlflow/runs/search", method="POST",
                                     data=json.dumps({"experiment_ids": ["0", "1"], "max_results": 100}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        time.sleep(args.settle)
        n, rss, pss = memory(descendants(proc.pid))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        sampler.stop.set()
        sampler.join()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lean = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false " if args.lean else ""
    out = {"command": lean + "mlflow " + " ".join(cmd[1:4]),
           "lean": args.lean, "ready_s": round(ready, 1), "processes": n, "rss_gb": gb(rss), "pss_gb": gb(pss),
           "peak_processes": sampler.peak["processes"], "peak_rss_gb": gb(sampler.peak["rss"]),
           "peak_pss_gb": gb(sampler.peak["pss"]),
           "cpu_s": round(cpu_after.ru_utime - before.ru_utime + cpu_after.ru_stime - before.ru_stime, 1)}
    print(json.dumps(out))
    print(f"{'lean' if args.lean else 'as is'}: answers in {ready:.1f} s; {n} processes, RSS {gb(rss)} GB, "
          f"PSS {gb(pss)} GB after {args.settle:.0f} s (peak {sampler.peak['processes']} processes, "
          f"PSS {gb(sampler.peak['pss'])} GB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    sw = sub.add_parser("sweep", help="run a command in a pseudo-terminal; memory, CPU, ETA error")
    sw.add_argument("--log", help="write the terminal output (timestamped) here")
    sw.add_argument("--after", help="measure from the first output matching this regex on (e.g. the sweep phase "
                    "of `make sweep`)")
    sw.add_argument("command", nargs="+")
    ui = sub.add_parser("ui", help="start `mlflow ui`, ask for the runs page's data, measure the tree")
    ui.add_argument("--backend-store-uri", required=True)
    ui.add_argument("--lean", action="store_true", help="MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false")
    ui.add_argument("--settle", type=float, default=20.0, help="seconds to wait before the reading")
    args = ap.parse_args(argv)
    return cmd_sweep(args) if args.what == "sweep" else cmd_ui(args)


if __name__ == "__main__":
    sys.exit(main())
