"""GPU-only checks (skipped without CUDA), run by bench/gpu_check.sh on the GPU machine.

The correctness guard: from the same seed, every fast-path setting of munit.fastpath (bf16 autocast, channels_last
+ cuDNN autotuning, the whole-step CUDA graph, torch.compile) trains the same 8 iterations as the exact fp32 eager
path, within a stated tolerance. The sweep's default on CUDA (munit.fastpath.CUDA_DEFAULT) must be a setting that
passes it. Also: a step makes no host synchronisation, and a CUDA-graph step is the same iteration as an eager one.
"""
import pytest
import torch

from munit.config import LossWeights, TrainConfig, model_preset
from munit.data import DataConfig
from munit.fastpath import CHECK_SETTINGS, CUDA_DEFAULT, parse_setting
from munit.graph import StepGraph
from munit.trainer import Trainer
from test_fastpath import _names, cancelled_bias

pytestmark = pytest.mark.gpu

STEPS = 8          # > StepGraph.WARMUP + 1: eager warm-up steps, the capture, and several replays
LR_STEP = 5        # a StepLR boundary inside those steps: the graph must pick up the new learning rate
# every loss at every step within 5 % (relative) + 0.02 (absolute) of fp32 eager's
RTOL, ATOL = 0.05, 0.02
GUARDED = tuple(s for s in CHECK_SETTINGS if s != "fp32") + ("fp16-cl",)


@pytest.fixture(autouse=True)
def cudnn_flags():
    """cudnn.benchmark is process-wide once a trainer turns it on: restore it after each test."""
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = flags


def _trainer(tmp_path, name, setting="fp32", lr=1e-4, train=16) -> Trainer:
    torch.manual_seed(0)
    cfg = parse_setting(setting).apply(TrainConfig(
        iters=STEPS, batch_size=2, lr=lr, lr_step=LR_STEP, lr_gamma=0.1, device="cuda", progress=False,
        sample_every=0, checkpoint_every=0))
    return Trainer(model_preset("small"), cfg, LossWeights(x=7, s=3, c=3, cyc=10),
                   DataConfig(synthetic_train=train, synthetic_val=4), tmp_path / name)


def _losses(tr: Trainer, steps=STEPS) -> torch.Tensor:
    return torch.stack([tr.train_step(next(tr.stream_a), next(tr.stream_b)) for _ in range(steps)]).cpu()


def test_fp32_cuda_is_deterministic_enough(tmp_path):
    a, b = _losses(_trainer(tmp_path, "a")), _losses(_trainer(tmp_path, "b"))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("setting", GUARDED)
def test_fast_paths_track_fp32_losses(tmp_path, setting):
    """The guard: every loss of every one of the 8 iterations within RTOL/ATOL of fp32 eager's."""
    ref = _losses(_trainer(tmp_path, "ref"))
    fast = _losses(_trainer(tmp_path, "fast", setting))
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, ref, rtol=RTOL, atol=ATOL)


def test_the_cuda_default_is_guarded():
    assert CUDA_DEFAULT in GUARDED


def test_a_graph_step_is_the_same_iteration_as_an_eager_step(tmp_path):
    """fp32 without TF32, lr 1e-3 cut tenfold after 5 steps: the replayed graph must make the eager path's updates
    (a stale learning rate after the StepLR boundary, a skipped or doubled step would change them by far more).
    tests/test_fastpath.py checks the same bookkeeping on the CPU with the graph API simulated."""
    torch.backends.cudnn.allow_tf32 = False
    # each trainer draws its style codes from its own generator, seeded when it is built
    eager = _trainer(tmp_path, "eager", "fp32", lr=1e-3)
    init = [p.detach().clone() for p in eager.gen_params + eager.dis_params]
    le = _losses(eager)
    graph = _trainer(tmp_path, "graph", "fp32-graph", lr=1e-3)
    assert graph._graph is not None and not graph._graph.captured
    lg = _losses(graph)
    assert graph._graph.captured and eager.step == graph.step == 0   # train_step leaves the counter to fit()
    torch.testing.assert_close(lg, le, rtol=1e-3, atol=1e-4)
    keep = [not cancelled_bias(n) for n in _names(eager)]   # biases an instance norm cancels: rounding noise

    def update(tr):
        return torch.cat([(p.detach() - p0).flatten() for p, p0, k in zip(tr.gen_params + tr.dis_params, init, keep)
                          if k])
    de, dg = update(eager), update(graph)
    assert torch.nn.functional.cosine_similarity(de, dg, dim=0) > 0.999
    assert abs(dg.norm() / de.norm() - 1) < 0.01
    assert graph.lr == pytest.approx(eager.lr) == pytest.approx(1e-4)


@pytest.mark.parametrize("setting", ["fp32", CUDA_DEFAULT])
def test_a_step_makes_no_host_sync(tmp_path, setting):
    """Data batch from the device-resident stream plus one iteration: no synchronisation with the host."""
    tr = _trainer(tmp_path, "s", setting, train=64)
    assert tr.stream_a.preload
    _losses(tr, StepGraph.WARMUP + 2)      # cuDNN's search, compilation and the graph capture may sync
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _ = [tr.train_step(next(tr.stream_a), next(tr.stream_b)) for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode(0)
