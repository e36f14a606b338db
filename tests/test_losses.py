import pytest
import torch

from munit.config import ConfigError, LossWeights
from munit.losses import VGG16_FILE, VGG16_URL, VGGPerceptual, l1, lsgan_d_loss, lsgan_g_loss, resolve_vgg_weights


def test_lsgan_losses_hand_computed():
    real = [torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0]])]
    fake = [torch.tensor([[0.5, -0.5]]), torch.tensor([[1.0]])]
    # D: scale 1: mean((1-1)^2, (0-1)^2) = 0.5, mean(0.25, 0.25) = 0.25; scale 2: (2-1)^2 = 1, 1^2 = 1
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.5 + 0.25 + 1 + 1)
    # G: scale 1: mean((0.5-1)^2, (-0.5-1)^2) = (0.25 + 2.25)/2 = 1.25; scale 2: 0
    assert lsgan_g_loss(fake).item() == pytest.approx(1.25)


def test_l1_hand_computed():
    a = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    b = torch.tensor([[0.0, 0.0], [0.5, 1.0]])
    assert l1(a, b).item() == pytest.approx((1 + 2 + 0 + 1) / 4)


def test_loss_weights_defaults_and_validation():
    w = LossWeights()
    assert (w.gan, w.x, w.s, w.c, w.cyc, w.vgg) == (1, 10, 1, 1, 0, 0)
    with pytest.raises(ConfigError, match="LossWeights.x"):
        LossWeights(x=-1)
    with pytest.raises(ConfigError, match="LossWeights.cyc"):
        LossWeights(cyc=float("nan"))


def test_vgg_missing_weights_error_names_file_url_and_option(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError) as e:
        resolve_vgg_weights()
    msg = str(e.value)
    assert VGG16_FILE in msg and VGG16_URL in msg and "--vgg-weights" in msg and str(tmp_path / "hub") in msg
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        resolve_vgg_weights(tmp_path / "nope.pth")


def test_vgg_perceptual_with_random_weight_standin(tmp_path, monkeypatch):
    from torchvision.models import vgg16

    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(vgg16(weights=None).state_dict(), hub / "checkpoints" / VGG16_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    net = VGGPerceptual()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    assert net.loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert net.loss(x, y).item() > 0
    assert not any(p.requires_grad for p in net.parameters())
