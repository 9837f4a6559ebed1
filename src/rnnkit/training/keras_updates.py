"""The torch optimizers that carry out Keras's update rules exactly.

:class:`KerasAdam` / :class:`KerasAdamW` run torch's Adam(W) with Keras's epsilon placement
(``eps_t = eps / sqrt(1 - beta_2^t)`` per step; fused straight on torch's kernel once every
parameter has its state); :class:`KerasRMSprop` is Keras's RMSprop (``sqrt(v + eps)``);
:class:`KerasAdagrad`, :class:`KerasAdadelta`, :class:`KerasAdamax` and :class:`KerasNadam`
follow Keras 3's update steps line by line. The Keras-style specs that build them are in
:mod:`rnnkit.training.optimizers`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "KerasAdadelta",
    "KerasAdagrad",
    "KerasAdam",
    "KerasAdamW",
    "KerasAdamax",
    "KerasNadam",
    "KerasRMSprop",
    "fusable",
]


def _keras_eps(group: dict[str, Any], t: int) -> float:
    """Keras's epsilon moved to torch's place for step ``t``: ``eps / sqrt(1 - beta_2^t)``."""
    return group.get("keras_epsilon", group["eps"]) / math.sqrt(1.0 - group["betas"][1] ** t)


def _keras_eps_step(opt: torch.optim.Optimizer, step: Callable[[], Any]) -> Any:
    """Run torch Adam's ``step`` with ``eps_t = eps / sqrt(1 - beta_2^t)`` per param group, which
    turns torch's ``sqrt(v_hat) + eps_t`` into Keras's ``(sqrt(v) + eps) / sqrt(1 - beta_2^t)``.
    ``t`` is the group's next step (params in a group step together unless some lack grads)."""
    for group in opt.param_groups:
        group.setdefault("keras_epsilon", group["eps"])
        t = 1
        for p in group["params"]:
            if p.grad is not None:
                state = opt.state.get(p)
                if state and "step" in state:
                    t = int(state["step"]) + 1
                break
        group["eps"] = _keras_eps(group, t)
    try:
        return step()
    finally:
        for group in opt.param_groups:
            group["eps"] = group["keras_epsilon"]


def fusable(params: list[Tensor]) -> bool:
    """Whether torch's fused Adam kernel takes these parameters: dense floating-point tensors
    (float64/32/16, bfloat16) all on one CPU or CUDA device."""
    kinds = {(p.device, p.dtype) for p in params}
    return (
        len({d for d, _ in kinds}) == 1
        and all(d.type in ("cpu", "cuda") and t.is_floating_point for d, t in kinds)
        and not any(p.is_sparse for p in params)
    )


#: torch releases whose private ``torch._fused_adam_`` / ``_fused_adamw_`` signature the direct
#: call below was checked on (major, minor: first and last); elsewhere, and with
#: ``RNNKIT_PORTABLE=1``, every step goes through ``torch.optim.Adam.step`` (the same update).
CHECKED_TORCH = ((2, 4), (2, 13))
PORTABLE_ENV = "RNNKIT_PORTABLE"


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


_PRIVATE_FUSED_OK = CHECKED_TORCH[0] <= _torch_version() <= CHECKED_TORCH[1] and hasattr(
    torch, "_fused_adam_"
)


def _direct_fused_allowed() -> bool:
    portable = os.environ.get(PORTABLE_ENV, "0").strip().lower() in ("1", "true", "on", "yes")
    return _PRIVATE_FUSED_OK and not portable


def _fused_step(opt: torch.optim.Optimizer, decoupled: bool) -> bool:
    """One fused Adam(W) step over every param group, straight on torch's fused kernel.

    ``torch.optim.Adam.step`` spends more Python around its fused kernel (profiler records,
    per-step grouping by device and dtype, state checks) than the kernel takes for a small
    recurrent model. Once every parameter has its state (the first step goes through torch), a
    step here is the kernel call alone, with the same state tensors and the same update.
    Returns False (nothing done) where that does not hold, or where the private kernel is not
    to be called (:func:`_direct_fused_allowed`): the caller then runs torch's step.
    """
    if not _direct_fused_allowed():
        return False
    fused = torch._fused_adamw_ if decoupled else torch._fused_adam_
    calls = []
    for group in opt.param_groups:
        if not group.get("fused") or group.get("capturable") or group.get("differentiable"):
            return False
        lr = group["lr"]
        if isinstance(lr, Tensor):
            return False
        params, grads, exp_avgs, exp_avg_sqs, maxes, steps = [], [], [], [], [], []
        amsgrad = group["amsgrad"]
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            state = opt.state.get(p)
            if not state or g.is_sparse or g.dtype != p.dtype or g.device != p.device:
                return False
            params.append(p)
            grads.append(g)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if amsgrad:
                maxes.append(state["max_exp_avg_sq"])
            steps.append(state["step"])
        if not params:
            continue
        if len({(p.device, p.dtype) for p in params}) != 1:
            return False
        calls.append((group, params, grads, exp_avgs, exp_avg_sqs, maxes, steps))
    for group, params, grads, exp_avgs, exp_avg_sqs, maxes, steps in calls:
        beta_1, beta_2 = group["betas"]
        eps = _keras_eps(group, int(steps[0]) + 1)
        torch._foreach_add_(steps, 1)
        fused(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            maxes,
            steps,
            amsgrad=group["amsgrad"],
            lr=group["lr"],
            beta1=beta_1,
            beta2=beta_2,
            weight_decay=group["weight_decay"],
            eps=eps,
            maximize=group["maximize"],
            grad_scale=None,
            found_inf=None,
        )
    return True


class KerasAdam(torch.optim.Adam):
    """``torch.optim.Adam`` with Keras's epsilon placement (exactly Keras's Adam update)::

    m <- beta_1 m + (1 - beta_1) g;  v <- beta_2 v + (1 - beta_2) g^2   (amsgrad: max)
    w <- w - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + eps)
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        if closure is None and _fused_step(self, False):
            return None
        return _keras_eps_step(self, lambda: super(KerasAdam, self).step(closure))


class KerasAdamW(torch.optim.AdamW):
    """``torch.optim.AdamW`` (decoupled decay ``w <- w (1 - lr wd)``) with Keras's epsilon."""

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        if closure is None and _fused_step(self, True):
            return None
        return _keras_eps_step(self, lambda: super(KerasAdamW, self).step(closure))


class KerasRMSprop(torch.optim.Optimizer):
    """RMSprop with Keras's update rule (per parameter ``w`` with gradient ``g``)::

    v <- rho * v + (1 - rho) * g^2
    a <- rho * a + (1 - rho) * g                      # centered only
    d <- v + eps            (centered: v - a^2 + eps)
    inc <- lr * g / sqrt(d)
    m <- momentum * m + inc; w <- w - m               # momentum > 0
    w <- w - inc                                      # momentum == 0
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        rho: float = 0.9,
        momentum: float = 0.0,
        eps: float = 1e-7,
        centered: bool = False,
    ) -> None:
        defaults = {"lr": lr, "rho": rho, "momentum": momentum, "eps": eps, "centered": centered}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, mom, eps = group["lr"], group["rho"], group["momentum"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise RuntimeError("KerasRMSprop: expected dense gradients, got sparse")
                state = self.state[p]
                if not state:
                    state["velocity"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["average_grad"] = torch.zeros_like(p)
                    if mom > 0:
                        state["momentum"] = torch.zeros_like(p)
                v = state["velocity"]
                v.mul_(rho).addcmul_(g, g, value=1.0 - rho)
                if group["centered"]:
                    a = state["average_grad"]
                    a.mul_(rho).add_(g, alpha=1.0 - rho)
                    denom = (v - a.square()).add_(eps).sqrt_()
                else:
                    denom = (v + eps).sqrt_()
                if mom > 0:
                    m = state.setdefault("momentum", torch.zeros_like(p))
                    m.mul_(mom).addcdiv_(g, denom, value=lr)
                    p.sub_(m)
                else:
                    p.addcdiv_(g, denom, value=-lr)
        return loss


class _KerasRule(torch.optim.Optimizer):
    """A Keras update rule applied parameter by parameter (dense gradients); ``group["iterations"]``
    counts the steps as Keras's ``optimizer.iterations``."""

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["iterations"] = group.get("iterations", 0) + 1
            self._begin_step(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__}: expected dense gradients, got sparse"
                    )
                self._update(p, p.grad, group, self.state[p])
        return loss

    def _begin_step(self, group: dict[str, Any]) -> None:
        """Per-step work shared by every parameter of ``group`` (default: none)."""

    def _update(self, p: Tensor, g: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError


class KerasAdagrad(_KerasRule):
    """Keras's Adagrad: ``a <- a + g^2; w <- w - lr * g / sqrt(a + eps)`` (``a`` starts at
    ``initial_accumulator_value``)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        initial_accumulator_value: float = 0.1,
        eps: float = 1e-7,
    ) -> None:
        defaults = {"lr": lr, "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, g: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if not state:
            state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"])
        acc = state["accumulator"]
        acc.add_(g.square())
        p.sub_(g * group["lr"] / (acc + group["eps"]).sqrt())


class KerasAdadelta(_KerasRule):
    """Keras's Adadelta::

    G <- rho G + (1 - rho) g^2;  d <- -sqrt(D + eps) g / sqrt(G + eps)
    D <- rho D + (1 - rho) d^2;  w <- w + lr d
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float = 1e-3, rho: float = 0.95, eps: float = 1e-7
    ) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    def _update(self, p: Tensor, g: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if not state:
            state["accumulated_grad"] = torch.zeros_like(p)
            state["accumulated_delta_var"] = torch.zeros_like(p)
        rho, eps = group["rho"], group["eps"]
        grads, deltas = state["accumulated_grad"], state["accumulated_delta_var"]
        grads.copy_(rho * grads + (1 - rho) * g.square())
        delta = -((deltas + eps).sqrt() * g) / (grads + eps).sqrt()
        deltas.copy_(rho * deltas + (1 - rho) * delta.square())
        p.add_(group["lr"] * delta)


class KerasAdamax(_KerasRule):
    """Keras's Adamax: ``m <- m + (g - m)(1 - beta_1); u <- max(beta_2 u, |g|);
    w <- w - lr m / ((1 - beta_1^t)(u + eps))``."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        eps: float = 1e-7,
    ) -> None:
        super().__init__(params, {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "eps": eps})

    def _update(self, p: Tensor, g: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if not state:
            state["momentum"] = torch.zeros_like(p)
            state["norm"] = torch.zeros_like(p)
        b1, b2 = group["beta_1"], group["beta_2"]
        m, u = state["momentum"], state["norm"]
        m.add_((g - m) * (1 - b1))
        torch.maximum(u * b2, g.abs(), out=u)
        p.sub_(group["lr"] * m / ((1 - b1 ** group["iterations"]) * (u + group["eps"])))


class KerasNadam(_KerasRule):
    """Keras's Nadam (Adam with Nesterov momentum and Keras's momentum schedule
    ``u_t = beta_1 (1 - 0.5 * 0.96^t)``)."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        eps: float = 1e-7,
    ) -> None:
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "eps": eps, "u_product": 1.0}
        super().__init__(params, defaults)

    def _begin_step(self, group: dict[str, Any]) -> None:
        t = group["iterations"]
        group["u_product"] *= group["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def _update(self, p: Tensor, g: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        if not state:
            state["momentum"] = torch.zeros_like(p)
            state["velocity"] = torch.zeros_like(p)
        b1, b2, t = group["beta_1"], group["beta_2"], group["iterations"]
        u_t = b1 * (1.0 - 0.5 * 0.96**t)
        u_t_1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product = group["u_product"]
        m, v = state["momentum"], state["velocity"]
        m.add_((g - m) * (1 - b1))
        v.add_((g.square() - v) * (1 - b2))
        m_hat = u_t_1 * m / (1 - u_product * u_t_1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - b2**t)
        p.sub_(m_hat * group["lr"] / (v_hat.sqrt() + group["eps"]))
