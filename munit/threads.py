"""CPU threads: the OpenMP wait policy, which must be chosen before torch is imported, and the number of cores
this process may really use (its CPU affinity and its cgroup's CPU quota, not the machine's core count).

Why the wait policy: by default an idle OpenMP thread spins for a while before it sleeps. When torch's pool has
as many threads as cores and anything else wants a core (evaluation, MLflow, another worker, another user), the
spinning threads and the busy core take turns and every parallel region waits for the slowest: the pool
collapses. With PASSIVE, threads = cores is safe again (the measurements: docs/sweeps.md, "CPU use").
"""
from __future__ import annotations

import math
import os
from pathlib import Path

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
CGROUP = Path("/sys/fs/cgroup")


def prefer_passive_wait() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set it. Effective only before torch is imported: every entry
    point that runs as a process of its own calls it first."""
    os.environ.setdefault(WAIT_POLICY_ENV, "PASSIVE")


def _quota(max_file: Path) -> float | None:
    """Cores allowed by a cgroup v2 ``cpu.max`` ("max 100000" or "<quota> <period>")."""
    try:
        quota, period = max_file.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _own_cgroups() -> list[str]:
    try:
        return Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []


def cgroup_cpu_limit(root: Path | None = None) -> float | None:
    """The CPU quota of this process's cgroup in cores (None: unlimited or unknown). cgroup v2: ``cpu.max`` of
    its own cgroup and every parent; v1: ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``."""
    root = CGROUP if root is None else root
    limits = []
    lines = _own_cgroups()
    own = next((ln.split(":", 2)[2] for ln in lines if ln.startswith("0::")), None)
    if own is not None:
        folder = root / own.lstrip("/")
        while True:
            q = _quota(folder / "cpu.max")
            if q is not None:
                limits.append(q)
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
    q = _quota(root / "cpu.max")
    if q is not None:
        limits.append(q)
    for ln in lines:   # v1: "4:cpu,cpuacct:/path"
        _, controllers, path = (ln.split(":", 2) + ["", ""])[:3]
        if "cpu" not in controllers.split(","):
            continue
        for mount in (root / "cpu", root / controllers):
            for folder in (mount / path.lstrip("/"), mount):
                try:
                    quota = int((folder / "cpu.cfs_quota_us").read_text())
                    period = int((folder / "cpu.cfs_period_us").read_text())
                except (OSError, ValueError):
                    continue
                if quota > 0 and period > 0:
                    limits.append(quota / period)
    return min(limits) if limits else None


def available_cores() -> int:
    """Cores this process may use: its CPU affinity (``os.sched_getaffinity``: taskset, a scheduler's cpuset),
    capped by its cgroup's CPU quota (a container's ``--cpus``), at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        n = min(n, max(1, math.ceil(limit)))
    return max(1, n)


__all__ = ["WAIT_POLICY_ENV", "prefer_passive_wait", "cgroup_cpu_limit", "available_cores"]
