"""Generators for inference: what translate, sample and evaluate load from a training checkpoint."""
from __future__ import annotations

import os
from typing import Any

import torch

from .checkpoint import load_checkpoint
from .config import ModelConfig, from_dict
from .model import Generator


def load_generators(path: str | os.PathLike, device: str | torch.device = "cpu"
                    ) -> tuple[Generator, Generator, ModelConfig, dict[str, Any]]:
    """The two generators of a checkpoint, ready for inference, plus its model config and saved configs."""
    state = load_checkpoint(path, map_location=device)
    mcfg = from_dict(ModelConfig, state["config"]["model"])
    gen_a, gen_b = Generator(mcfg).to(device), Generator(mcfg).to(device)
    gen_a.load_state_dict(state["gen_a"])
    gen_b.load_state_dict(state["gen_b"])
    gen_a.eval(), gen_b.eval()
    meta = {"step": int(state["step"]), "config": state["config"], "fixed_styles": state["fixed_styles"]}
    return gen_a, gen_b, mcfg, meta


__all__ = ["load_generators"]
