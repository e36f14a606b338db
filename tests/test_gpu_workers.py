"""Multi-GPU sweeps on one machine, checked on CPU: which GPU each spawned worker sees (CUDA_VISIBLE_DEVICES), and
how many workers a sweep starts by default on a CUDA machine. CUDA is faked (device count) and the worker processes
are recorded instead of started: only the environment each worker would receive is checked."""
from __future__ import annotations

import os
import types

import pytest
import torch

from experiments import parent, workers


class FakePopen:
    """Records each worker's command and environment; the worker 'exits' at once with status 0."""

    started: list["FakePopen"] = []

    def __init__(self, cmd, cwd=None, env=None, **kw):
        self.cmd, self.env = list(cmd), env
        self.pid = 10_000 + len(FakePopen.started)
        FakePopen.started.append(self)

    def send_signal(self, signum):
        pass

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0

    @property
    def gpu(self):
        return None if self.env is None else self.env.get("CUDA_VISIBLE_DEVICES")

    @property
    def index(self):
        return int(self.cmd[self.cmd.index("--worker-index") + 1])


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: pretend this machine has n CUDA devices; workers are recorded, not started."""
    FakePopen.started = []
    monkeypatch.setattr(parent, "subprocess", types.SimpleNamespace(Popen=FakePopen))   # start_child's
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def fake(n):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        return FakePopen.started
    return fake


def test_worker_i_gets_gpu_i(gpus):
    started = gpus(3)
    assert workers.spawn_workers(["--trials", "6"], 3, None, torch.device("cuda")) == [0, 0, 0]   # exit statuses
    assert [p.index for p in started] == [0, 1, 2]
    assert [p.gpu for p in started] == ["0", "1", "2"]
    assert all("--workers" in p.cmd and p.cmd[p.cmd.index("--workers") + 1] == "1" for p in started)


def test_more_workers_than_gpus_share_them_round_robin(gpus, caplog):
    started = gpus(2)
    workers.spawn_workers([], 5, 1, torch.device("cuda"))
    assert [p.gpu for p in started] == ["0", "1", "0", "1", "0"]
    assert "5 workers on 2 GPU(s): round robin, up to 3 workers per GPU" in caplog.text


def test_the_parents_gpu_list_is_respected(gpus, monkeypatch):
    started = gpus(2)    # CUDA shows the process only the two GPUs it was given
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,GPU-8d2e")
    workers.spawn_workers([], 3, 1, torch.device("cuda"))
    assert [p.gpu for p in started] == ["5", "GPU-8d2e", "5"]
    assert workers.visible_gpus() == ["5", "GPU-8d2e"]


def test_pinned_gpu_and_cpu_workers_inherit_the_environment(gpus):
    started = gpus(4)
    workers.spawn_workers([], 2, 1, torch.device("cuda:3"))    # every worker on GPU 3, as asked
    workers.spawn_workers([], 2, 1, torch.device("cpu"))
    # this process's environment, plus only the pipe by which a worker notices that its parent is gone
    assert [{k: v for k, v in p.env.items() if k != parent.PARENT_PIPE_ENV} for p in started] == [dict(os.environ)] * 4


def test_default_worker_count_is_the_gpu_count_on_cuda(gpus, monkeypatch):
    gpus(4)
    assert workers.default_workers(torch.device("cuda")) == 4
    assert workers.default_workers(torch.device("cuda:1")) == 1
    assert workers.default_workers(torch.device("cpu")) == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,2")
    gpus(2)
    assert workers.default_workers(torch.device("cuda")) == 2
    gpus(0)
    assert workers.default_workers(torch.device("cpu")) == 1


def test_a_sweep_on_a_cuda_machine_starts_one_worker_per_gpu(gpus, tmp_path):
    """sweep.py without --workers on a (faked) 2-GPU machine: the study is created (with the CUDA default
    precision of munit.fastpath), then two workers start, worker i on GPU i; the real workers would train."""
    from experiments import sweep
    from munit.fastpath import cuda_default
    from test_sweep_helpers import journal_study, tiny_args

    started = gpus(2)
    root = tmp_path / "mlruns"
    args = tiny_args(root, trials=2, metrics="content")
    i = args.index("--workers")
    del args[i:i + 2]                  # the default worker count is what is tested
    assert sweep.main(args) == 0
    assert [(p.index, p.gpu) for p in started] == [(0, "0"), (1, "1")]
    assert all(p.cmd[p.cmd.index("--workers") + 1] == "1" for p in started)
    stored = journal_study(root).user_attrs
    assert stored["settings"]["precision"] == cuda_default().precision
    assert stored["options"]["precision"] == cuda_default().precision   # a CPU worker re-resolves it the same


def test_a_cpu_worker_refuses_cuda_only_settings_before_any_trial(tmp_path, capsys):
    from experiments import sweep
    from test_sweep_helpers import tiny_args

    root = tmp_path / "mlruns"
    assert sweep.main(tiny_args(root, fast_path="cl-graph", device="cpu")) == 2
    assert "--fast-path cl-graph captures CUDA graphs, which need a CUDA device" in capsys.readouterr().err
    assert sweep.main(tiny_args(root, precision="bf16", device="cpu")) == 2
    assert "trains in bf16 (autocast), which needs a CUDA device" in capsys.readouterr().err
    assert not (root / "trials").exists()
