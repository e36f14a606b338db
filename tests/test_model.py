import pytest
import torch

from munit.config import ConfigError, ModelConfig, model_preset
from munit.model import Discriminator, Generator, LayerNorm, adain, count_parameters, translate


def test_paper_parameter_counts_match_official_code():
    g, d = Generator(ModelConfig()), Discriminator(ModelConfig())
    assert count_parameters(g.content_encoder) == 5_385_856
    assert count_parameters(g.style_encoder) == 2_764_936
    assert count_parameters(g.mlp) == 1_120_768
    assert count_parameters(g.decoder) == 5_754_627
    assert count_parameters(g) == 15_026_187
    assert count_parameters(d) == 8_271_171
    assert ModelConfig().num_adain_params == 4096
    assert g.mlp.model[-1].out_features == 4096


def test_paper_shapes_and_range():
    cfg = ModelConfig()
    g, d = Generator(cfg), Discriminator(cfg)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        c, s = g.encode(x)
        assert c.shape == (1, 256, 64, 64) and s.shape == (1, 8)
        y = g.decode(c, torch.randn(1, 8))
        assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
        outs = d(x)
    assert [o.shape[-1] for o in outs] == [16, 8, 4] and all(o.shape[1] == 1 for o in outs)


def test_tiny_shapes(tiny_cfg):
    g, d = Generator(tiny_cfg), Discriminator(tiny_cfg)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    c, s = g.encode(x)
    assert c.shape == (3, tiny_cfg.content_dim, 8, 8) and s.shape == (3, tiny_cfg.style_dim)
    assert g.decode(c, s).shape == x.shape and g(x).shape == x.shape
    assert len(d(x)) == tiny_cfg.dis_num_scales


def test_adain_is_functional_two_styles_in_one_graph(tiny_cfg):
    torch.manual_seed(0)
    g = Generator(tiny_cfg)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    c, _ = g.encode(x)
    s1, s2 = torch.randn(1, 8), torch.randn(1, 8)
    y1 = g.decode(c, s1)
    y2 = g.decode(c, s2)            # second decode in the same graph must not overwrite the first
    y1_again = g.decode(c, s1)
    assert not torch.allclose(y1, y2)
    assert torch.equal(y1, y1_again)
    # batched: two styles in one batch equal the two separate decodes
    yb = g.decode(c.expand(2, -1, -1, -1), torch.cat([s1, s2]))
    torch.testing.assert_close(yb[0:1], y1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(yb[1:2], y2, rtol=1e-5, atol=1e-5)
    # gradients flow to both styles independently
    s1g, s2g = s1.clone().requires_grad_(), s2.clone().requires_grad_()
    (g.decode(c, s1g).sum() + 2 * g.decode(c, s2g).sum()).backward()
    assert s1g.grad is not None and s2g.grad is not None and not torch.allclose(s1g.grad * 2, s2g.grad)


def test_adain_matches_official_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    mean, std = torch.randn(2, 4), torch.rand(2, 4)
    flat = x.view(2, 4, -1)
    mu, var = flat.mean(-1), flat.var(-1, unbiased=False)
    ref = (x - mu[..., None, None]) / torch.sqrt(var[..., None, None] + 1e-5) * std[..., None, None] + mean[..., None, None]
    torch.testing.assert_close(adain(x, mean, std), ref, rtol=1e-5, atol=1e-5)


def test_layernorm_matches_official_formula():
    torch.manual_seed(0)
    ln = LayerNorm(4)
    x = torch.randn(3, 4, 5, 6)
    flat = x.view(3, -1)
    ref = (x - flat.mean(1).view(3, 1, 1, 1)) / (flat.std(1, unbiased=True).view(3, 1, 1, 1) + 1e-5)
    ref = ref * ln.gamma.view(1, -1, 1, 1) + ln.beta.view(1, -1, 1, 1)
    torch.testing.assert_close(ln(x), ref)
    assert (ln.gamma >= 0).all() and (ln.gamma <= 1).all() and (ln.beta == 0).all()


def test_initialisation():
    torch.manual_seed(0)
    d = Discriminator(ModelConfig())
    w = d.nets[0][1][0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and all(
        (m.bias == 0).all() for m in d.modules() if isinstance(m, torch.nn.Conv2d))
    g = Generator(ModelConfig())
    conv = g.content_encoder.model[1][0]  # d128: fan_in 64*16
    assert abs(conv.weight.std().item() - (2 / (64 * 16)) ** 0.5) < 0.005


def test_translate_uses_source_content_and_target_decoder(tiny_cfg):
    torch.manual_seed(0)
    ga, gb = Generator(tiny_cfg), Generator(tiny_cfg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    s = torch.randn(2, 8)
    torch.testing.assert_close(translate(ga, gb, x, s), gb.decode(ga.encode(x)[0], s))


def test_unworkable_configs_are_refused():
    with pytest.raises(ConfigError, match="too small for the discriminator"):
        ModelConfig(image_size=32)
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(image_size=258)
    with pytest.raises(ConfigError, match="too small for the generator"):
        model_preset("tiny", image_size=8, dis_num_scales=1, dis_n_layer=2)
    with pytest.raises(ConfigError, match="unknown preset"):
        model_preset("huge")


def test_compile_and_ddp_wrappers(tiny_cfg, tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.manual_seed(0)
    g = Generator(tiny_cfg)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    s1, s2 = torch.randn(2, 8), torch.randn(2, 8)
    # torch.compile (eager backend keeps the test fast and compiler-free) traces the functional AdaIN path
    cg = torch.compile(g, backend="eager", fullgraph=True)
    torch.testing.assert_close(cg(x, s1), g(x, s1))
    assert not torch.allclose(cg(x, s1), cg(x, s2))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        dg = DDP(g)
        dg(x, s1).mean().backward()
        assert all(p.grad is not None for p in g.content_encoder.parameters())
        assert all(p.grad is not None for p in g.mlp.parameters())
    finally:
        dist.destroy_process_group()
