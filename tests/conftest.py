"""Shared test setup: CPU only, offline, deterministic, headless."""
import os

# before torch loads: OpenMP threads that sleep instead of spinning while they wait, so that a busy second core
# (another test process, a server) does not collapse torch's thread pool (measured 6 -> 100 forwards/s)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# one thread per test process (and the processes tests start): the test models are tiny, where a second thread
# costs more than it brings (the 200-iteration benchmark test: 67 s with two, 45 s with one), and the suite runs
# two test processes side by side (pytest-xdist, pyproject's addopts) on the 2-core CI machine
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("MUNIT_ALLOW_DOWNLOAD", "0")  # never touch the network
# console lines wrap to the terminal: tests read them at one width, whatever terminal runs pytest (tests about
# widths set their own with monkeypatch)
os.environ["COLUMNS"] = "120"
import tempfile  # noqa: E402

# never the user's cache, even when they have set MUNIT_CACHE: tests write only into temporary folders
os.environ["MUNIT_CACHE"] = tempfile.mkdtemp(prefix="munit-test-cache-")

import pytest
import torch

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def use_torch_home(monkeypatch, root) -> None:
    monkeypatch.setenv("TORCH_HOME", str(root))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # no earlier set_dir may shadow TORCH_HOME


@pytest.fixture(scope="session")
def stand_in_home(tmp_path_factory):
    """A torch hub dir holding random-weight Inception and AlexNet under the real file names (written once:
    ~5 s)."""
    from munit.metrics.weights import write_stand_ins
    root = tmp_path_factory.mktemp("torch_home")
    write_stand_ins(root / "hub")
    return root


@pytest.fixture
def stand_ins(monkeypatch, stand_in_home):
    """The stand-ins where production code looks for the real weights; returns their checkpoints dir."""
    use_torch_home(monkeypatch, stand_in_home)
    return stand_in_home / "hub" / "checkpoints"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def tiny_cfg():
    from munit.config import model_preset
    return model_preset("tiny")


@pytest.fixture
def small_disk(tmp_path):
    """``mount(path, size)``: a tiny tmpfs at ``path``, unmounted afterwards, to fill up and watch writes fail.
    Needs the right to mount (root); skipped with the reason elsewhere, e.g. CI as a normal user."""
    import subprocess

    mounted = []

    def mount(path, size="16m"):
        path.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                           text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a small tmpfs to fill up: {r.stderr.strip() or 'mount failed'}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_up(folder, leave: int = 0):
    """Fill ``folder``'s filesystem, then free ``leave`` bytes again; returns the filler file."""
    filler = folder / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (1 << 20, 1 << 12):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler
