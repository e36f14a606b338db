"""The speed levers on the CPU: named settings, what each sets, and that a lever that cannot apply here is refused
with a clear message (or is a documented no-op) while one that can runs and trains the same iteration."""
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
    def losses(tr):   # right after construction: the trainer seeds the global RNG its style codes come from
        return torch.stack([tr.train_step(next(tr.stream_a), next(tr.stream_b)) for _ in range(3)])

    a = losses(_trainer(tmp_path, "ref", "fp32"))
    cl = _trainer(tmp_path, "cl", "fp32-cl")
    w = cl.gen_a.content_encoder.model[0][0].weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    b = losses(cl)
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
