"""The speed levers on the CPU: named settings, what each sets, and that a lever that cannot apply here is refused
with a clear message (or is a documented no-op) while one that can runs and trains the same iteration."""
import contextlib
import copy

import pytest
import torch

from munit.config import ConfigError, LossWeights, TrainConfig, model_preset
from munit.data import DataConfig
from munit.fastpath import CHECK_SETTINGS, CUDA_DEFAULT, LEVERS, describe, parse_setting
from munit.trainer import Trainer


def test_settings_name_a_precision_and_a_lever_set():
    for name in (*CHECK_SETTINGS, CUDA_DEFAULT):
        assert parse_setting(name).name == name
    s = parse_setting("bf16-cl-compile-graph")
    cfg = s.apply(TrainConfig(lr=3e-4))
    assert (cfg.precision, cfg.channels_last, cfg.cudnn_benchmark, cfg.compile, cfg.compile_mode, cfg.cuda_graph) == \
        ("bf16", True, True, True, "default", True)
    assert cfg.lr == 3e-4                                   # everything else kept
    assert describe(cfg) == "bf16 + channels_last + cudnn.benchmark + compile(default) + cuda_graph"
    assert describe(parse_setting("fp32").apply(cfg)) == "fp32 eager"
    assert parse_setting("fp32").needs_cuda() is None and parse_setting("fp32-cl").needs_cuda() is None
    assert parse_setting("fp32-graph").needs_cuda() == "CUDA graphs need CUDA"
    assert parse_setting("bf16").needs_cuda() == "bf16 autocast needs CUDA"
    with pytest.raises(ConfigError, match="unknown speed setting 'bf16-turbo'.*levers one of eager, cl"):
        parse_setting("bf16-turbo")
    with pytest.raises(ConfigError, match="precision one of fp32, bf16, fp16"):
        parse_setting("fp8-cl")
    assert set(LEVERS) >= {"eager", "cl", "graph", "cl-graph", "cl-compile", "cl-compile-graph"}


def test_combinations_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="cuda_graph cannot run fp16: its loss scaler"):
        TrainConfig(precision="fp16", cuda_graph=True)
    with pytest.raises(ConfigError, match="compile mode 'reduce-overhead' captures CUDA graphs itself"):
        TrainConfig(cuda_graph=True, compile=True, compile_mode="reduce-overhead")
    with pytest.raises(ConfigError, match="compile_mode must be one of default, reduce-overhead"):
        TrainConfig(compile_mode="fastest")
    TrainConfig(cuda_graph=True, compile=True, compile_mode="max-autotune-no-cudagraphs")   # this one combines


def _trainer(tmp_path, name, setting):
    torch.manual_seed(0)
    cfg = parse_setting(setting).apply(TrainConfig(iters=3, batch_size=2, device="cpu", progress=False,
                                                   sample_every=0, checkpoint_every=0))
    return Trainer(model_preset("tiny"), cfg, LossWeights(cyc=10), DataConfig(synthetic_train=8, synthetic_val=2),
                   tmp_path / name)


def test_on_the_cpu_cuda_only_levers_are_refused_and_cudnn_is_left_alone(tmp_path):
    for setting, message in (("fp32-graph", "cuda_graph needs a CUDA device; on cpu leave it off"),
                             ("bf16-cl", "precision bf16 needs a CUDA device; on cpu use fp32")):
        with pytest.raises(ConfigError, match=message):
            _trainer(tmp_path, setting, setting)
    before = torch.backends.cudnn.benchmark
    tr = _trainer(tmp_path, "cl", "fp32-cl")           # cudnn.benchmark: a no-op without CUDA
    assert torch.backends.cudnn.benchmark == before and tr._graph is None


def test_channels_last_trains_the_same_iterations_on_the_cpu(tmp_path):
    def losses(tr):   # each trainer draws its style codes from its own generator, seeded at construction
        return torch.stack([tr.train_step(next(tr.stream_a), next(tr.stream_b)) for _ in range(3)])

    a = losses(_trainer(tmp_path, "ref", "fp32"))
    cl = _trainer(tmp_path, "cl", "fp32-cl")
    w = cl.gen_a.content_encoder.model[0][0].weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    b = losses(cl)
    # Other conv kernels round differently, and 3 Adam steps carry that on; how far depends on the CPU's kernels
    # (AVX2, AVX-512, AMX). The tolerance is measured: the same eager run with its weights moved by one ulp.
    nudged = _trainer(tmp_path, "nudged", "fp32")
    with torch.no_grad():
        for p in nudged.gen_params + nudged.dis_params:
            p.copy_(torch.nextafter(p, torch.full_like(p, float("inf"))))
    drift, floor = float((b - a).abs().max()), float((losses(nudged) - a).abs().max())
    print(f"channels_last vs eager: max |dloss| {drift:.3g}; rounding floor (1-ulp nudge) {floor:.3g}")
    assert drift <= 8 * floor + 1e-6, (drift, floor)


def cancelled_bias(name: str) -> bool:
    """A conv bias that the instance norm (or AdaIN) right after it cancels: its gradient is rounding noise, which
    Adam scales up to +-lr per step, so two exact runs that round differently disagree on it (and only on it)."""
    return name.endswith(".bias") and (".content_encoder." in name or ".decoder.res." in name)


def _names(tr):
    """Names of ``tr.gen_params + tr.dis_params``, in that order."""
    return [f"{k}.{n}" for k, m in (("gen_a", tr.gen_a), ("gen_b", tr.gen_b), ("dis_a", tr.dis_a), ("dis_b", tr.dis_b))
            for n, _ in m.named_parameters()]


class _SimulatedGraphs:
    """Stands in for torch.cuda's graph API on the CPU, to check StepGraph's bookkeeping (not CUDA): a capture runs
    its body but rolls the trainer back afterwards (a real capture records kernels and runs nothing), and a replay
    re-runs the update on the graph's input tensors, into its output tensor, with the learning rates read from the
    graph's tensors (what the captured fused Adam kernels read)."""

    def __init__(self, monkeypatch):
        self.step_graph = None
        self.captures = self.replays = 0
        stream = type("Stream", (), {"wait_stream": lambda self, other: None})
        monkeypatch.setattr(torch.cuda, "Stream", lambda device=None: stream())
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: stream())
        monkeypatch.setattr(torch.cuda, "stream", lambda s: __import__("contextlib").nullcontext())
        monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: self)
        monkeypatch.setattr(torch.cuda, "graph", self.capture)

    def _state(self):
        tr = self.step_graph.tr
        return {"nets": copy.deepcopy([m.state_dict() for m in tr.modules()]), "rng": tr.rng.get_state(),
                "opt": {p: {k: v.clone() for k, v in st.items()} for opt in (tr.opt_g, tr.opt_d)
                        for p, st in opt.state.items()}}

    @contextlib.contextmanager
    def capture(self, graph, capture_error_mode="global"):
        assert capture_error_mode == "thread_local"
        before = self._state()
        yield
        tr = self.step_graph.tr   # roll back in place, as if nothing had run
        for m, sd in zip(tr.modules(), before["nets"]):
            m.load_state_dict(sd)
        for opt in (tr.opt_g, tr.opt_d):
            for p, st in opt.state.items():
                for k, v in st.items():
                    v.copy_(before["opt"][p][k])
        tr.rng.set_state(before["rng"])   # a replay draws from the registered generator (the trainer's own)
        self.captures += 1

    def register_generator_state(self, generator):
        assert generator is self.step_graph.tr.rng   # the stream the captured step draws its style codes from

    def replay(self):
        sg = self.step_graph
        floats = [g["lr"] for g in sg.groups]
        for g, t in zip(sg.groups, sg.lrs):
            g["lr"] = float(t)
        try:
            sg.losses.copy_(sg.tr._update(*sg.inputs, capturing=True))
        finally:
            for g, f in zip(sg.groups, floats):
                g["lr"] = f
        self.replays += 1


def test_step_graph_bookkeeping_matches_eager_steps(tmp_path, monkeypatch):
    """With CUDA's graph API simulated on the CPU (_SimulatedGraphs), a StepGraph trainer makes exactly the eager
    trainer's iterations: 3 eager warm-up steps, then a capture that is replayed once for its own step, then
    replays on copied batches; the learning rate cut by StepLR after step 5 reaches the graph."""
    from munit.graph import StepGraph

    def trainer(name):
        torch.manual_seed(0)
        cfg = TrainConfig(iters=8, batch_size=2, lr=1e-3, lr_step=5, lr_gamma=0.1, device="cpu", progress=False,
                          sample_every=0, checkpoint_every=0)
        return Trainer(model_preset("tiny"), cfg, LossWeights(cyc=10), DataConfig(synthetic_train=8,
                                                                                 synthetic_val=2), tmp_path / name)

    def run(tr):   # 9 steps: the 9th step's losses depend on the 8th update
        return torch.stack([tr.train_step(next(tr.stream_a), next(tr.stream_b)) for _ in range(9)])

    eager = trainer("eager")
    ref = run(eager)
    sim = _SimulatedGraphs(monkeypatch)
    tr = trainer("graph")
    tr._graph = sim.step_graph = StepGraph(tr)
    got = run(tr)
    assert (sim.captures, sim.replays, tr._graph.calls) == (1, 9 - StepGraph.WARMUP, StepGraph.WARMUP)
    # The tolerance is measured, not guessed: a second eager run whose initial weights are moved by one ulp shows
    # how far float rounding alone carries 9 Adam steps on this CPU (Adam divides by sqrt(v), so a gradient near
    # zero turns rounding into an update of up to ~lr). The graph path must stay within a few times that floor.
    nudged = trainer("nudged")
    with torch.no_grad():
        for p in nudged.gen_params + nudged.dis_params:
            p.copy_(torch.nextafter(p, torch.full_like(p, float("inf"))))
    run(nudged)
    pairs = [(p, q, r) for name, p, q, r in zip(_names(tr), tr.gen_params + tr.dis_params,
                                                 eager.gen_params + eager.dis_params,
                                                 nudged.gen_params + nudged.dis_params) if not cancelled_bias(name)]
    def gap(i):   # mean |difference| over every parameter: a max would be ruled by near-zero gradients alone
        return float(torch.cat([(t[i] - t[1]).abs().flatten() for t in pairs]).mean())
    drift, floor = gap(0), gap(2)
    print(f"graph vs eager: mean |dparam| {drift:.3g}; rounding floor (1-ulp nudge) {floor:.3g}")
    assert drift <= 4 * floor, (drift, floor)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    assert tr._graph.host_lrs == [pytest.approx(1e-4)] * 2 and float(tr._graph.lrs[0]) == pytest.approx(1e-4)
    with pytest.raises(RuntimeError, match="already a captured CUDA graph"):
        tr.load_state(eager.state_dict())
