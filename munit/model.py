"""MUNIT generator and multi-scale discriminator, as the paper and the official code define them.

Notation (paper appendix B): c7s1-k = 7x7 conv stride 1, dk = 4x4 conv stride 2, Rk = residual block of two
3x3 convs, uk = nearest x2 upsample + 5x5 conv. All convs use reflect padding.

Differences from the seed blog, all following the official code:
  * residual blocks have two separate convs and norms, the second without ReLU (the blog reused one conv and
    one norm twice, so its MLP emitted 2048 AdaIN parameters instead of 4096);
  * the style encoder has no normalisation; the upsampling convs use reflect padding and LayerNorm;
  * the discriminator has no normalisation.

AdaIN parameters are passed *functionally* from the MLP through ``Decoder.forward(content, adain_params)``:
no module state is set before a forward, so two decodes with different styles in one graph cannot interfere,
and the modules compile and wrap in DDP like any other.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig


class LayerNorm(nn.Module):
    """Official MUNIT LayerNorm: per-sample mean and *unbiased* std over (C, H, W),
    (x - mean) / (std + eps), then a per-channel affine with gamma ~ U(0, 1), beta = 0."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)
        x = (x - mean) / (std + self.eps)
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def adain(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance norm: per-instance statistics (biased variance, eps inside the sqrt, as the official
    code's batch_norm-on-reshaped-input computes it), affine from the style: weight = std, bias = mean (no +1)."""
    return F.instance_norm(x, eps=eps) * std[:, :, None, None] + mean[:, :, None, None]


def conv_block(cin: int, cout: int, k: int, s: int, p: int, norm: str, act: str) -> nn.Sequential:
    """Reflect pad -> conv -> norm -> activation, the official Conv2dBlock."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, p, padding_mode="reflect")]
    if norm == "in":
        layers.append(nn.InstanceNorm2d(cout))  # no affine, no running stats (official)
    elif norm == "ln":
        layers.append(LayerNorm(cout))
    elif norm != "none":
        raise ValueError(f"unknown norm {norm!r}")
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "lrelu":
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    elif act == "tanh":
        layers.append(nn.Tanh())
    elif act != "none":
        raise ValueError(f"unknown activation {act!r}")
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Rk: conv-IN-ReLU, conv-IN, plus the identity."""

    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(conv_block(dim, dim, 3, 1, 1, "in", "relu"), conv_block(dim, dim, 3, 1, 1, "in", "none"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class AdaINResBlock(nn.Module):
    """Rk with AdaIN in place of IN; takes its 4*dim affine parameters as an argument.
    Parameter layout per block (official order): [mean1, std1, mean2, std2], each ``dim`` wide."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.conv1 = nn.Conv2d(dim, dim, 3, 1, 1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(dim, dim, 3, 1, 1, padding_mode="reflect")

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        m1, s1, m2, s2 = params.split(self.dim, dim=1)
        h = F.relu(adain(self.conv1(x), m1, s1))
        h = adain(self.conv2(h), m2, s2)
        return x + h


class ContentEncoder(nn.Module):
    """c7s1-64, d128, d256, R256 x n_res (InstanceNorm, ReLU)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dim = cfg.dim
        layers: list[nn.Module] = [conv_block(cfg.input_dim, dim, 7, 1, 3, "in", "relu")]
        for _ in range(cfg.n_downsample):
            layers.append(conv_block(dim, dim * 2, 4, 2, 1, "in", "relu"))
            dim *= 2
        layers += [ResBlock(dim) for _ in range(cfg.n_res)]
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class StyleEncoder(nn.Module):
    """c7s1-64, d128, d256, d256, d256, GAP, 1x1 conv -> style_dim. No normalisation."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dim = cfg.dim
        layers: list[nn.Module] = [conv_block(cfg.input_dim, dim, 7, 1, 3, "none", "relu")]
        for _ in range(2):
            layers.append(conv_block(dim, dim * 2, 4, 2, 1, "none", "relu"))
            dim *= 2
        for _ in range(cfg.style_n_downsample - 2):
            layers.append(conv_block(dim, dim, 4, 2, 1, "none", "relu"))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, cfg.style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).flatten(1)


class MLP(nn.Module):
    """style_dim -> mlp_dim -> ... -> num_adain_params, ReLU between (no activation at the end)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(cfg.style_dim, cfg.mlp_dim), nn.ReLU(inplace=True)]
        for _ in range(cfg.mlp_blocks - 2):
            layers += [nn.Linear(cfg.mlp_dim, cfg.mlp_dim), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(cfg.mlp_dim, cfg.num_adain_params))
        self.model = nn.Sequential(*layers)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.model(style.flatten(1))


class Decoder(nn.Module):
    """R256 x n_res with AdaIN, u128, u64 (LayerNorm), c7s1-3 + tanh."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        dim = cfg.content_dim
        self.res = nn.ModuleList(AdaINResBlock(dim) for _ in range(cfg.n_res))
        up: list[nn.Module] = []
        for _ in range(cfg.n_downsample):
            up += [nn.Upsample(scale_factor=2, mode="nearest"), conv_block(dim, dim // 2, 5, 1, 2, "ln", "relu")]
            dim //= 2
        up.append(conv_block(dim, cfg.input_dim, 7, 1, 3, "none", "tanh"))
        self.up = nn.Sequential(*up)
        self.params_per_block = 4 * cfg.content_dim

    def forward(self, content: torch.Tensor, adain_params: torch.Tensor) -> torch.Tensor:
        x = content
        for block, p in zip(self.res, adain_params.split(self.params_per_block, dim=1)):
            x = block(x, p)
        return self.up(x)


class Generator(nn.Module):
    """One domain's auto-encoder: content encoder, style encoder, style MLP and AdaIN decoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.content_encoder = ContentEncoder(cfg)
        self.style_encoder = StyleEncoder(cfg)
        self.mlp = MLP(cfg)
        self.decoder = Decoder(cfg)
        init_weights(self, "kaiming")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image [N,3,H,W] -> (content [N,C,H/4,W/4], style [N,style_dim])."""
        return self.content_encoder(x), self.style_encoder(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(content, style [N,style_dim]) -> image in [-1, 1]."""
        return self.decoder(content, self.mlp(style))

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """Decode x's content with ``style`` (x's own style when None: the within-domain reconstruction).
        A ``forward`` exists so DDP/compile wrappers see a module call; cross-domain translation is
        :func:`translate`."""
        c, s = self.encode(x)
        return self.decode(c, s if style is None else style)

    def random_style(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.cfg.style_dim, device=device, generator=generator)


def translate(src: Generator, dst: Generator, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Translate x from src's domain to dst's: dst decodes src's content code with a dst-domain style."""
    return dst.decode(src.content_encoder(x), style)


class Discriminator(nn.Module):
    """Multi-scale PatchGAN: one d64-d128-d256-d512-1x1 net per scale, AvgPool(3, 2, 1) between scales.
    No normalisation, LeakyReLU 0.2, reflect padding. Returns one output map per scale."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.nets = nn.ModuleList(self._make_net(cfg) for _ in range(cfg.dis_num_scales))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        init_weights(self, "gaussian")

    @staticmethod
    def _make_net(cfg: ModelConfig) -> nn.Sequential:
        dim = cfg.dis_dim
        layers: list[nn.Module] = [conv_block(cfg.input_dim, dim, 4, 2, 1, "none", "lrelu")]
        for _ in range(cfg.dis_n_layer - 1):
            layers.append(conv_block(dim, dim * 2, 4, 2, 1, "none", "lrelu"))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, net in enumerate(self.nets):
            if i:
                x = self.downsample(x)
            outs.append(net(x))
        return outs


def init_weights(module: nn.Module, kind: str) -> None:
    """Official init: conv/linear weights kaiming-normal (fan_in) or N(0, 0.02), biases 0. Norm affines keep
    their own init (LayerNorm gamma ~ U(0,1))."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if kind == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif kind == "gaussian":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                raise ValueError(f"unknown init {kind!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["LayerNorm", "adain", "ContentEncoder", "StyleEncoder", "MLP", "Decoder", "Generator", "Discriminator",
           "translate", "init_weights", "count_parameters"]
