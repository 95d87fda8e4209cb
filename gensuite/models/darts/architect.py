"""DARTS's architecture step (Liu et al. 2019, Sec. 2.3, eq. 6-8): α follows the gradient of the
validation loss, Adam 3e-4 (β 0.5, 0.999), weight decay 1e-3.

- First order: ∇α L_val(w, α) at the current weights.
- Second order: the gradient through one unrolled weight step w' = w − ξ·(m + ∇w L_train(w, α)
  + λ_w·w) (m: the weight optimiser's momentum term, as the authors' code), i.e.
  ∇α L_val(w', α) − ξ·∇²_{α,w} L_train(w, α)·∇w' L_val(w', α), the Hessian-vector product by
  central differences (eq. 8): (∇α L_train(w⁺, α) − ∇α L_train(w⁻, α)) / 2ε with
  w± = w ± ε·∇w' L_val(w', α), ε = 0.01 / ‖∇w' L_val(w', α)‖.

The extra forward passes run through ``torch.func.functional_call`` on substituted weights and
copies of the buffers: the model's own weights and batch-norm statistics are left as they were
(the authors' code perturbs them in place and lets the statistics drift).

A recurrent model takes ``(ids, hidden)`` as its input (a tuple is passed on as it is) and
returns ``(logits, next hidden, …)``; ``loss_fn`` reads what it needs, and ``val_output`` keeps
the validation pass's output, whose next state the search carries to the next batch, as the
authors' rnn/architect.py returns it. ``unrolled_clip`` clips the unrolled step's gradient
norm, as that file does (at the weights' clip, 0.25) and the convolutional one does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn
from torch.func import functional_call


class Architect:
    def __init__(self, model: nn.Module, w_optimizer: torch.optim.SGD, *, lr: float = 3e-4,
                 betas: tuple[float, float] = (0.5, 0.999), weight_decay: float = 1e-3,
                 unrolled: bool = False, hessian_r: float = 1e-2,
                 loss_fn: Callable[[Any, Tensor], Tensor] = F.cross_entropy,
                 unrolled_clip: float | None = None) -> None:
        self.model, self.w_opt, self.unrolled, self.loss_fn = model, w_optimizer, unrolled, loss_fn
        self.hessian_r = hessian_r  # ε = r / ‖v‖ (the paper: 0.01)
        self.unrolled_clip = unrolled_clip
        self.val_output: Any = None
        self.alphas = list(model.arch_parameters())
        alpha_ids = {id(a) for a in self.alphas}
        self.w_names = [n for n, p in model.named_parameters() if id(p) not in alpha_ids]
        self.a_names = [n for n, p in model.named_parameters() if id(p) in alpha_ids]
        self.opt = torch.optim.Adam(self.alphas, lr=lr, betas=betas, weight_decay=weight_decay)

    # ------------------------------------------------------------------ pieces

    def _loss(self, weights: dict[str, Tensor], alphas: dict[str, Tensor], x: Any,
              y: Tensor, *, keep: bool = False) -> Tensor:
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        out = functional_call(self.model, {**weights, **alphas, **buffers}, (x,))
        if keep:  # the validation pass: its output (an RNN's next state) is the caller's
            self.val_output = out
        return self.loss_fn(out, y)

    def _current(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        params = dict(self.model.named_parameters())
        return ({n: params[n] for n in self.w_names}, {n: params[n] for n in self.a_names})

    def unrolled_weights(self, x_train: Any, y_train: Tensor, eta: float
                         ) -> dict[str, Tensor]:
        """w' = w − ξ·(momentum term + ∇w L_train + weight decay·w), detached."""
        w, a = self._current()
        loss = self._loss(w, {k: v.detach() for k, v in a.items()}, x_train, y_train)
        grads = torch.autograd.grad(loss, list(w.values()))
        if self.unrolled_clip is not None:
            norm = torch.cat([g.reshape(-1) for g in grads]).norm()
            scale = min(1.0, self.unrolled_clip / (float(norm) + 1e-6))
            grads = [g * scale for g in grads]
        group = self.w_opt.param_groups[0]
        momentum, wd = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        out = {}
        for (name, p), g in zip(w.items(), grads):
            buf = self.w_opt.state.get(p, {}).get("momentum_buffer")
            moment = momentum * buf if (buf is not None and momentum) else torch.zeros_like(p)
            out[name] = (p - eta * (moment + g + wd * p)).detach()
        return out

    def alpha_gradients(self, x_train: Any, y_train: Tensor, x_val: Any, y_val: Tensor,
                        eta: float) -> list[Tensor]:
        """∇α of the validation loss: first order, or through the unrolled step."""
        w, a = self._current()
        if not self.unrolled:
            loss = self._loss({k: v.detach() for k, v in w.items()}, a, x_val, y_val, keep=True)
            return list(torch.autograd.grad(loss, list(a.values())))
        w1 = {k: v.requires_grad_() for k, v in self.unrolled_weights(x_train, y_train,
                                                                        eta).items()}
        loss = self._loss(w1, a, x_val, y_val, keep=True)
        grads = torch.autograd.grad(loss, [*a.values(), *w1.values()])
        d_alpha, d_w = grads[: len(a)], grads[len(a):]
        implicit = self._hessian_vector(d_w, x_train, y_train)
        return [g - eta * h for g, h in zip(d_alpha, implicit)]

    def _hessian_vector(self, vector: tuple[Tensor, ...], x: Any, y: Tensor,
                        r: float | None = None) -> list[Tensor]:
        """∇²_{α,w} L_train(w, α) · v by central differences (eq. 8)."""
        w, a = self._current()
        r = self.hessian_r if r is None else r
        eps = r / torch.cat([v.reshape(-1) for v in vector]).norm()
        out = []
        for sign in (1.0, -1.0):
            shifted = {n: (p + sign * eps * v).detach() for (n, p), v in zip(w.items(), vector)}
            loss = self._loss(shifted, a, x, y)
            out.append(torch.autograd.grad(loss, list(a.values())))
        return [(gp - gn) / (2 * eps) for gp, gn in zip(*out)]

    # ------------------------------------------------------------------ the step

    def step(self, x_train: Any, y_train: Tensor, x_val: Any, y_val: Tensor,
             eta: float) -> None:
        """One α update (Adam) from the validation batch."""
        grads = self.alpha_gradients(x_train, y_train, x_val, y_val, eta)
        self.opt.zero_grad(set_to_none=True)
        for a, g in zip(self.alphas, grads):
            a.grad = g.detach().clone()
        self.opt.step()
