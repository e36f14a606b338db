"""GPU-only checks (skipped without CUDA): the fast paths stay close to the exact fp32 eager path."""
import pytest
import torch

from munit.config import LossWeights, TrainConfig, model_preset
from munit.data import DataConfig
from munit.trainer import Trainer

pytestmark = pytest.mark.gpu


def _losses(tmp_path, name, steps=5, **kw):
    torch.manual_seed(0)
    cfg = TrainConfig(iters=steps, batch_size=2, device="cuda", progress=False, sample_every=0, checkpoint_every=0,
                      **kw)
    tr = Trainer(model_preset("small"), cfg, LossWeights(x=7, s=3, c=3, cyc=10),
                 DataConfig(synthetic_train=16, synthetic_val=4), tmp_path / name)
    out = []
    for _ in range(steps):
        out.append(tr.train_step(next(tr.stream_a), next(tr.stream_b)))
    return torch.stack(out).cpu()


def test_fp32_cuda_is_deterministic_enough(tmp_path):
    a, b = _losses(tmp_path, "a"), _losses(tmp_path, "b")
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(precision="bf16"), dict(precision="bf16", channels_last=True),
                                dict(precision="fp16", channels_last=True)])
def test_fast_paths_track_fp32_losses(tmp_path, kw):
    """Tolerance: every loss within 5 % (relative) of fp32 eager after 5 iterations from the same seed."""
    ref = _losses(tmp_path, "ref")
    fast = _losses(tmp_path, "fast", **kw)
    assert torch.isfinite(fast).all()
    torch.testing.assert_close(fast, ref, rtol=0.05, atol=0.02)
