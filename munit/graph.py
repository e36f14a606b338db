"""The training step as one CUDA graph (``TrainConfig.cuda_graph``): captured once, replayed every iteration."""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .trainer import Trainer


class StepGraph:
    """A trainer's D and G updates (forward, backward, both fused Adam steps) as one CUDA graph, replayed every
    iteration: one launch instead of thousands, and no Python between the kernels.

    Every call is exactly one training iteration, as without the graph. The first :attr:`WARMUP` calls run the
    update eagerly on a side stream (cuDNN times its algorithms, compiled networks build their kernels, Adam creates
    its state); the next call copies its batch into the graph's input tensors, captures the update (capturing
    records the kernels, it does not run them) and replays it once; later calls copy the batch and replay.

    What makes the step capturable: static shapes (the data streams drop each epoch's partial last batch), no host
    synchronisation inside it (losses and NaN checks stay on the device; fp16's loss scaler syncs, so TrainConfig
    refuses fp16 with cuda_graph), Adam with ``capturable=True`` (its step counts live on the device), and learning
    rates the graph reads from device tensors: the schedulers keep stepping the optimisers' float learning rates,
    and a change is copied into those tensors before the next replay (at StepLR boundaries only).
    """

    WARMUP = 3

    def __init__(self, trainer: "Trainer"):
        self.tr = trainer
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self.losses: torch.Tensor | None = None
        self.side = torch.cuda.Stream(trainer.device)
        self.host_lrs = [float(g["lr"]) for g in self.groups]
        self.lrs = [torch.tensor(lr, dtype=torch.float32, device=trainer.device) for lr in self.host_lrs]

    @property
    def captured(self) -> bool:
        return self.graph is not None

    @property
    def groups(self) -> list[dict]:
        """The optimisers' parameter groups, looked up each time (loading a state replaces them)."""
        return [g for opt in (self.tr.opt_g, self.tr.opt_d) for g in opt.param_groups]

    def step(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        if self.graph is None and self.calls < self.WARMUP:
            self.calls += 1
            current = torch.cuda.current_stream(self.tr.device)
            self.side.wait_stream(current)
            with torch.cuda.stream(self.side), warnings.catch_warnings():
                # Adam warns that capturable=True is slower when not captured: true for these warm-up steps only
                warnings.filterwarnings("ignore", message=".*capturable=True.*")
                losses = self.tr._update(x_a, x_b)
            current.wait_stream(self.side)
            return losses
        if self.graph is None:
            self._capture(x_a, x_b)
        else:
            assert self.inputs is not None
            self.inputs[0].copy_(x_a)
            self.inputs[1].copy_(x_b)
        self._refresh_lrs()
        self.graph.replay()
        assert self.losses is not None
        return self.losses.clone()   # the graph overwrites its output tensor at the next replay

    def _capture(self, x_a: torch.Tensor, x_b: torch.Tensor) -> None:
        tr = self.tr
        self.inputs = tuple(torch.empty_like(x, memory_format=tr.memory_format).copy_(x) for x in (x_a, x_b))
        # gradients set to None, so that the captured backward allocates them in the graph's pool and writes them
        # (rather than accumulating into tensors from outside the graph)
        tr.opt_g.zero_grad(set_to_none=True)
        tr.opt_d.zero_grad(set_to_none=True)
        groups = self.groups
        floats = [g["lr"] for g in groups]
        for g, t in zip(groups, self.lrs):
            g["lr"] = t      # the fused Adam kernels read the learning rate from this tensor at each replay
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(tr.rng)   # each replay draws fresh style codes from the trainer's own stream
        try:
            # thread_local: a data-loader thread pinning memory meanwhile does not invalidate the capture
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.losses = tr._update(*self.inputs, capturing=True)
        except Exception as e:
            raise RuntimeError(f"capturing the training step in a CUDA graph failed ({type(e).__name__}: {e}); "
                               "train without cuda_graph (a speed lever only)") from e
        finally:
            for g, f in zip(groups, floats):
                g["lr"] = f
        self.graph = graph

    def _refresh_lrs(self) -> None:
        for i, g in enumerate(self.groups):
            lr = float(g["lr"])
            if lr != self.host_lrs[i]:
                self.lrs[i].fill_(lr)
                self.host_lrs[i] = lr


__all__ = ["StepGraph"]
