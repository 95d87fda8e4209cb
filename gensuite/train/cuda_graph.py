"""One training step captured in a CUDA graph and replayed (torch.cuda.CUDAGraph).

The small networks here (conv4 ProtoNet, 28–64 px DCGAN) are launch-bound on a GPU: a step is a
few hundred tiny kernels, so the GPU waits on Python. Capturing the whole step (forward,
backward and the optimiser's update) once and replaying it removes that overhead (issue 17).

``GraphedStep(fn)`` runs ``fn(*inputs)`` eagerly for the first ``warmup`` calls (real training
steps, on a side stream as CUDA graphs require), then captures the next call and replays the
graph from then on; every call's inputs are copied into static buffers first, and the outputs
are the graph's static tensors (read them before the next call). With ``enabled=False`` it only
copies inputs into the static buffers and runs ``fn`` eagerly: the same plumbing with no graph,
which is what the CPU tests exercise.

What ``fn`` must respect (PyTorch's "whole network capture" rules): tensors only, on the
device; no host syncs (``.item()``, ``.tolist()``, printing); no CPU→GPU copies of pageable
memory; an optimiser built with ``capturable=True`` (and a tensor learning rate, which
schedulers update in place); and ``invalidate()`` whenever parameters or optimiser state are
replaced (loading a checkpoint), so that the next calls warm up and capture again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

WARMUP_STEPS = 3  # eager steps before capture: lazy inits (optimiser state, cuBLAS workspaces)


class GraphedStep:
    """``fn(*inputs) -> tuple of tensors``, replayed from a CUDA graph after ``warmup`` calls."""

    def __init__(self, fn: Callable[..., Sequence[Tensor]], *, enabled: bool = True,
                 warmup: int = WARMUP_STEPS) -> None:
        if enabled and not torch.cuda.is_available():
            raise ValueError("a CUDA-graph step needs a CUDA device; none is available")
        self.fn = fn
        self.enabled = enabled
        self.warmup = warmup
        self.calls_since_capture_reset = 0
        self.static_inputs: list[Tensor] | None = None
        self.static_outputs: tuple[Tensor, ...] | None = None
        self.graph: Any = None  # torch.cuda.CUDAGraph once captured

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def invalidate(self) -> None:
        """Parameters or optimiser state were replaced: warm up and capture again."""
        self.graph = None
        self.static_outputs = None
        self.static_inputs = None
        self.calls_since_capture_reset = 0

    def _to_static(self, inputs: Sequence[Tensor]) -> list[Tensor]:
        if self.static_inputs is None or any(
                s.shape != x.shape or s.dtype != x.dtype
                for s, x in zip(self.static_inputs, inputs)):
            if self.graph is not None:
                raise ValueError("a captured step's inputs must keep their shapes and dtypes")
            self.static_inputs = [x.clone() for x in inputs]
        else:
            for s, x in zip(self.static_inputs, inputs):
                s.copy_(x, non_blocking=True)
        return self.static_inputs

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        static = self._to_static(inputs)
        if not self.enabled:
            return tuple(self.fn(*static))
        if self.graph is not None:
            self.graph.replay()
            assert self.static_outputs is not None
            return self.static_outputs
        if self.calls_since_capture_reset < self.warmup:
            self.calls_since_capture_reset += 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = tuple(self.fn(*static))
            torch.cuda.current_stream().wait_stream(side)
            return out
        # Capture records the kernels without running them; the replay runs this call's step.
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_outputs = tuple(self.fn(*static))
        self.graph = graph
        graph.replay()
        return self.static_outputs
