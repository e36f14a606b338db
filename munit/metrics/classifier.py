"""The domain classifier behind translation accuracy (``acc``, defined here) and the Fréchet classifier distance
(``fcd``, in :mod:`munit.metrics.frechet`).

A small CNN (4 stride-2 conv blocks, global average pooling, a linear head: 128-d penultimate features) trained
to tell the two domains' *real train* images apart at a small working resolution (64 px by default). Its
accuracy on the real *val* images is reported with every number it produces: a translation accuracy is only as
meaningful as the classifier that judges it.

Training is seeded (init inside a forked, seeded global RNG; shuffles and flips from an own generator), so it
is deterministic on CPU and never disturbs a training run's RNG. The weights are cached on disk keyed by the
datasets' identities and every setting here, so a study trains it once.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import dataset_identity, iterate_images, to_model_range
from .protocol import (Batch, Direction, EvalData, MetricError, Protocol, Resources, Scorer, digest,
                       evenly_spaced, register_metric)

FEATURE_DIM = 128


@dataclass
class ClassifierConfig:
    """Domain classifier settings; all of them are part of its cache key."""

    size: int = 64                      # working resolution (capped at the image size: never upsampled)
    width: int = 32                     # first conv's channels: width, 2w, 4w, then FEATURE_DIM
    epochs: int = 5
    # at least this many optimiser steps, whatever the set size: 5 epochs of a small set are too few (400 images
    # per domain, the CPU sweep's: 65 steps, val accuracy 0.75; 300 steps: 0.96)
    min_steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    max_per_domain: int | None = None   # evenly spaced cap on train images per domain
    seed: int = 0
    augment: bool = True                # photometric augmentations that hide global cues (see augment())

    def __post_init__(self) -> None:
        for name in ("size", "width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise MetricError(f"ClassifierConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_steps < 0:
            raise MetricError(f"ClassifierConfig.min_steps must be >= 0, got {self.min_steps}")
        if not self.lr > 0:
            raise MetricError(f"ClassifierConfig.lr must be > 0, got {self.lr}")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DomainClassifier(nn.Module):
    """uint8 images [N, 3, S, S] (any S) -> logits [N, 2] (0 = domain A, 1 = domain B)."""

    def __init__(self, size: int = 64, width: int = 32):
        super().__init__()
        self.size = size
        self.body = nn.Sequential(_block(3, width), _block(width, 2 * width), _block(2 * width, 4 * width),
                                  _block(4 * width, FEATURE_DIM), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(FEATURE_DIM, 2)

    def shrink(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, S, S] -> uint8 at the working size (antialiased bilinear, rounded): training images are
        stored this way, and generated images take the same path."""
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        y = F.interpolate(x.float(), size=(self.size, self.size), mode="bilinear", align_corners=False,
                          antialias=True)
        return y.round_().clamp_(0, 255).to(torch.uint8)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, S, S] -> penultimate features [N, 128]."""
        return self.body(to_model_range(self.shrink(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ClassifierFeatures(nn.Module):
    """The classifier's penultimate layer as a torchmetrics custom feature extractor (``num_features`` set, so
    torchmetrics needs no dummy forward); always in eval mode."""

    num_features = FEATURE_DIM

    def __init__(self, clf: DomainClassifier):
        super().__init__()
        self.clf = clf

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clf.features(x)


@dataclass
class TrainedClassifier:
    model: DomainClassifier
    val_acc: float
    key_digest: str
    source: str                 # "trained" | "disk cache" | "memory"
    info: dict[str, Any]

    @property
    def backbone(self) -> str:
        return (f"munit domain classifier {self.key_digest} (4 conv + GAP, {FEATURE_DIM}-d, "
                f"{self.model.size} px, val acc {self.val_acc:.4f})")


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Photometric augmentations of a uint8 batch, so that the classifier has to judge the domains' *appearance*
    (how shapes are rendered, textures) and cannot lean on global statistics a bad translation could match:
    brightness x [0.6, 1.4], contrast about the image mean x [0.5, 1.5], hue (a random permutation of the colour
    channels, one in four images inverted) -- each drawn per image from ``g``. Labels are unchanged: an inverted
    or recoloured domain-A image is still domain A."""
    n = x.shape[0]
    dev = x.device
    r = lambda *shape: torch.rand(*shape, generator=g).to(dev)  # noqa: E731
    y = x.float() / 255.0
    mean = y.mean((1, 2, 3), keepdim=True)
    y = (y - mean) * (0.5 + r(n, 1, 1, 1)) + mean                  # contrast
    y = y * (0.6 + 0.8 * r(n, 1, 1, 1))                             # brightness
    perms = torch.stack([torch.randperm(3, generator=g) for _ in range(n)]).to(dev)
    y = torch.gather(y, 1, perms.view(n, 3, 1, 1).expand_as(y))     # hue: channels permuted
    y = torch.where((r(n) < 0.25).view(n, 1, 1, 1), 1.0 - y, y)     # the hard case: inverted
    return (y.clamp(0, 1) * 255.0).round().to(torch.uint8)


def _stack(ds, cap: int | None, clf: DomainClassifier, batch: int, device: torch.device) -> torch.Tensor:
    idx = evenly_spaced(len(ds), cap)
    return torch.cat([clf.shrink(x) for x in iterate_images(ds, batch, device, indices=idx)])


@torch.no_grad()
def accuracy(clf: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 256) -> float:
    clf.eval()
    correct = 0
    for lo in range(0, images.shape[0], batch):
        correct += int((clf(images[lo:lo + batch]).argmax(1) == labels[lo:lo + batch]).sum())
    return correct / max(1, images.shape[0])


def classifier_key(data: EvalData, cfg: ClassifierConfig, image_size: int) -> dict[str, Any] | None:
    ids = [dataset_identity(ds) for ds in (data.train_a, data.train_b, data.val_a, data.val_b)]
    if any(i is None for i in ids):
        return None
    return {"what": "domain-classifier-v2", "data": ids, "cfg": asdict(cfg), "size": min(cfg.size, image_size)}


@torch.enable_grad()  # evaluation runs under no_grad; training this net is the one place that needs gradients
def train_classifier(data: EvalData, cfg: ClassifierConfig, device: torch.device) -> TrainedClassifier:
    """Train on the real train images of both domains, report accuracy on the real val images."""
    image_size = int(data.train_a[0].shape[-1])
    size = min(cfg.size, image_size)
    t0 = time.perf_counter()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(cfg.seed)
        clf = DomainClassifier(size, cfg.width).to(device)
    with torch.no_grad():
        xa, xb = (_stack(ds, cfg.max_per_domain, clf, 256, device) for ds in (data.train_a, data.train_b))
        va, vb = (_stack(ds, None, clf, 256, device) for ds in (data.val_a, data.val_b))
    x = torch.cat([xa, xb])
    y = torch.cat([torch.zeros(len(xa), dtype=torch.long), torch.ones(len(xb), dtype=torch.long)]).to(device)
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(clf.parameters(), lr=cfg.lr)
    n = x.shape[0]
    steps_per_epoch = max(1, -(-n // cfg.batch_size))
    epochs = max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=epochs * steps_per_epoch)
    clf.train()
    loss = torch.zeros(())
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g).to(device)
        flips = (torch.rand(n, generator=g) < 0.5).to(device)
        for lo in range(0, n, cfg.batch_size):
            i = perm[lo:lo + cfg.batch_size]
            if i.numel() < 2:  # BatchNorm needs two samples
                continue
            xb_ = torch.where(flips[i].view(-1, 1, 1, 1), x[i].flip(-1), x[i])
            if cfg.augment:
                xb_ = augment(xb_, g)
            loss = F.cross_entropy(clf(xb_), y[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    clf.eval()
    v = torch.cat([va, vb])
    vy = torch.cat([torch.zeros(len(va), dtype=torch.long), torch.ones(len(vb), dtype=torch.long)]).to(device)
    val_acc = accuracy(clf, v, vy)
    info = {"train_images": [len(xa), len(xb)], "val_images": [len(va), len(vb)], "epochs": epochs,
            "final_loss": float(loss.detach()), "train_s": round(time.perf_counter() - t0, 2),
            "train_acc": accuracy(clf, x, y)}
    clf.requires_grad_(False)
    return TrainedClassifier(clf, val_acc, "", "trained", info)


def load_or_train(data: EvalData, cfg: ClassifierConfig, device: torch.device, resources: Resources
                  ) -> TrainedClassifier:
    """The classifier for ``data`` and ``cfg``: from the resources' cache (memory or disk) or trained now."""
    image_size = int(data.train_a[0].shape[-1])
    key = classifier_key(data, cfg, image_size)
    size = min(cfg.size, image_size)

    def train() -> dict[str, Any]:
        t = train_classifier(data, cfg, device)
        return {"state_dict": {k: v.cpu() for k, v in t.model.state_dict().items()}, "val_acc": t.val_acc,
                "info": t.info}

    ids = tuple(id(ds) for ds in (data.train_a, data.train_b, data.val_a, data.val_b))
    state, source = resources.cached("classifier", key, train, memory_key=("classifier", ids, asdict(cfg)))
    with torch.device("meta"):  # no init work and no RNG draw: every value comes from the state
        clf = DomainClassifier(size, cfg.width)
    clf.load_state_dict(state["state_dict"], assign=True)
    clf.to(device).eval().requires_grad_(False)
    return TrainedClassifier(clf, float(state["val_acc"]), digest(key) if key is not None else "uncached",
                             "trained" if source == "computed" else source, dict(state["info"]))


@register_metric(higher_is_better=True, extra_keys=("acc/classifier_val",), rank=40,
                 label="translation accuracy (fraction)",
                 doc="share of translations the domain classifier assigns to the target domain (higher is better)")
class Acc(Scorer):
    """``acc``: translation accuracy -- the share of translated images that the domain classifier assigns to the
    target domain (the rigorous form of the seed blog's "does a captioner call the dog->cat output a cat"). The
    classifier's own accuracy on the real val images is reported as ``acc/classifier_val``.

    On the synthetic set an output counts only if it also keeps its input's content (shapes recovered as a target
    image with 1 - IoU <= ``CONTENT_GATE``): a classifier alone has no "neither" class, so it calls a constant
    image or noise a member of some domain; with the gate they score ~0."""

    name = "acc"
    CONTENT_GATE = 0.5

    def __init__(self, resources: Resources):
        super().__init__(resources)
        self.clf: TrainedClassifier | None = None
        self.counts: dict[str, tuple[int, int]] = {}

    def start(self, data: EvalData, protocol: Protocol, device: torch.device) -> None:
        self.clf = self.res.classifier(data, device)
        self.gated = all(isinstance(getattr(ds, "masks", None), torch.Tensor) for ds in (data.val_a, data.val_b))

    def begin(self, d: Direction) -> None:
        assert self.clf is not None
        self.correct = torch.zeros((), dtype=torch.long, device=next(self.clf.model.parameters()).device)
        self.total = 0

    def update(self, d: Direction, batch: Batch) -> None:
        assert self.clf is not None
        hit = self.clf.model(batch.uint8).argmax(1) == d.target_label
        if self.gated:
            from ..synthetic_fit import content_error
            n = batch.images.shape[1]
            masks = d.val.masks[batch.idx].to(hit.device).repeat_interleave(n, dim=0)  # type: ignore[attr-defined]
            hit &= content_error(batch.flat, masks, d.target_domain).to(hit.device) <= self.CONTENT_GATE
        self.correct += hit.sum()  # stays on the device: no sync per batch
        self.total += hit.shape[0]

    def end(self, d: Direction) -> float:
        correct = int(self.correct)
        self.counts[d.name] = (correct, self.total)
        return correct / max(1, self.total)

    def extra(self) -> dict[str, float]:
        assert self.clf is not None
        return {"acc/classifier_val": float(self.clf.val_acc)}

    def meta(self) -> dict[str, Any]:
        assert self.clf is not None
        return {"backbone": self.clf.backbone, "classifier": self.clf.key_digest, "classifier_val": self.clf.val_acc,
                "classifier_source": self.clf.source, "classifier_info": self.clf.info,
                "n_fake": {k: v[1] for k, v in self.counts.items()},
                "content_gate": f"1 - IoU <= {self.CONTENT_GATE}" if self.gated else None}


__all__ = ["ClassifierConfig", "DomainClassifier", "ClassifierFeatures", "TrainedClassifier", "train_classifier",
           "load_or_train", "classifier_key", "accuracy", "FEATURE_DIM", "Acc", "augment"]
