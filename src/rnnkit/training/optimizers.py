"""Optimizers by name or Keras-style spec, built into torch optimizers at fit time.

A *spec* (``Adam(learning_rate=...)``, ``SGD``, ``RMSprop``, ``AdamW``) stores Keras
hyper-parameters (Keras names and defaults) and builds a ``torch.optim.Optimizer`` once parameters
exist: ``spec.build(params)`` always builds a new one; ``spec.bind(module)`` builds on first use and
then returns the same torch optimizer (so its state carries over between ``fit`` calls, as a Keras
optimizer's does) until the module or its parameter set changes.

Keras defaults and the torch algorithm used:

=========  ====================================================  ==============================
spec       Keras defaults                                        torch optimizer
=========  ====================================================  ==============================
Adam       lr=1e-3, beta_1=.9, beta_2=.999, epsilon=1e-7         :class:`KerasAdam`
AdamW      as Adam, weight_decay=0.004                           :class:`KerasAdamW`
SGD        lr=0.01, momentum=0, nesterov=False                   ``torch.optim.SGD``
RMSprop    lr=1e-3, rho=0.9, momentum=0, epsilon=1e-7            :class:`KerasRMSprop`
Adagrad    lr=1e-3, initial_accumulator_value=0.1, epsilon=1e-7  :class:`KerasAdagrad`
Adadelta   lr=1e-3, rho=0.95, epsilon=1e-7                       :class:`KerasAdadelta`
Adamax     lr=1e-3, beta_1=.9, beta_2=.999, epsilon=1e-7         :class:`KerasAdamax`
Nadam      as Adamax (Keras's momentum schedule)                 :class:`KerasNadam`
=========  ====================================================  ==============================

SGD is the same update as Keras. Torch's Adam puts epsilon elsewhere (``sqrt(v) / sqrt(1 -
beta_2^t) + eps`` where Keras has ``(sqrt(v) + eps) / sqrt(1 - beta_2^t)``), which matters for
small gradients; :class:`KerasAdam` runs torch's Adam with ``eps_t = eps / sqrt(1 - beta_2^t)``
per step, which is exactly Keras's update. Torch's RMSprop uses ``sqrt(v) + eps`` where Keras has
``sqrt(v + eps)``; :class:`KerasRMSprop` implements Keras's. Keras's ``weight_decay`` is decoupled
(``w <- w - lr * wd * w``), which is ``AdamW``'s; ``Adam(weight_decay=w)`` builds
:class:`KerasAdamW`.
"""

from __future__ import annotations

import abc
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from .keras_updates import (
    KerasAdadelta,
    KerasAdagrad,
    KerasAdam,
    KerasAdamax,
    KerasAdamW,
    KerasNadam,
    KerasRMSprop,
    fusable,
)

__all__ = [
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "Nadam",
    "AdamW",
    "KerasAdam",
    "KerasAdamW",
    "KerasRMSprop",
    "OptimizerLike",
    "OptimizerSpec",
    "RMSprop",
    "SGD",
    "build_optimizer",
    "get",
    "get_optimizer",
    "resolve_optimizer",
]


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected {name} to be a number, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"expected {name} > 0, got {value}")
    return float(value)


def _unit(name: str, value: float, *, closed_low: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected {name} to be a number, got {type(value).__name__}")
    ok = (0.0 <= value < 1.0) if closed_low else (0.0 < value < 1.0)
    if not ok:
        rng = "[0, 1)" if closed_low else "(0, 1)"
        raise ValueError(f"expected {name} in {rng}, got {value}")
    return float(value)


class OptimizerSpec(abc.ABC):
    """Keras-style optimizer description; builds a torch optimizer for given parameters."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = _positive("learning_rate", learning_rate)
        self._bound: tuple[weakref.ref[nn.Module], tuple[int, ...], torch.optim.Optimizer] | None
        self._bound = None

    def build(self, params: Iterable[Tensor]) -> torch.optim.Optimizer:
        """A new torch optimizer over ``params`` (tensors with ``requires_grad``)."""
        plist = [p for p in params if p.requires_grad]
        if not plist:
            raise ValueError("expected at least one trainable parameter, got none")
        return self._build(plist)

    @abc.abstractmethod
    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        """Implemented by each subclass."""

    def bind(self, module: nn.Module) -> torch.optim.Optimizer:
        """The torch optimizer for ``module``'s trainable parameters, built on first use and
        reused while the module and its parameter set are unchanged."""
        params = [p for p in module.parameters() if p.requires_grad]
        key = tuple(id(p) for p in params)
        if self._bound is not None:
            ref, bound_key, opt = self._bound
            if ref() is module and bound_key == key:
                return opt
        opt = self.build(params)
        self._bound = (weakref.ref(module), key, opt)
        return opt

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Adam(OptimizerSpec):
    """Keras ``Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
    amsgrad=False, weight_decay=None)`` -> :class:`KerasAdam` (:class:`KerasAdamW` with weight
    decay)."""

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = _unit("beta_1", beta_1)
        self.beta_2 = _unit("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        self.weight_decay = (
            None if weight_decay is None else _positive("weight_decay", weight_decay)
        )

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        kwargs: dict[str, Any] = {
            "lr": self.learning_rate,
            "betas": (self.beta_1, self.beta_2),
            "eps": self.epsilon,
            "amsgrad": self.amsgrad,
        }
        if fusable(params):  # one fused kernel per step instead of ~10 ops per parameter
            kwargs["fused"] = True
        if self.weight_decay is not None:
            return KerasAdamW(params, weight_decay=self.weight_decay, **kwargs)
        return KerasAdam(params, **kwargs)


class AdamW(Adam):
    """Keras ``AdamW(learning_rate=1e-3, weight_decay=0.004, ...)`` -> :class:`KerasAdamW`."""

    def __init__(
        self,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay)


class SGD(OptimizerSpec):
    """Keras ``SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`` -> ``torch.optim.SGD``
    (same update: ``b <- momentum * b + g; w <- w - lr * b``)."""

    def __init__(
        self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(learning_rate)
        self.momentum = _unit("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("expected momentum > 0 with nesterov=True, got momentum=0")

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov
        )


class RMSprop(OptimizerSpec):
    """Keras ``RMSprop(learning_rate=1e-3, rho=0.9, momentum=0.0, epsilon=1e-7,
    centered=False)`` -> :class:`KerasRMSprop` (Keras's exact update)."""

    def __init__(
        self,
        learning_rate: float = 1e-3,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
    ) -> None:
        super().__init__(learning_rate)
        self.rho = _unit("rho", rho)
        self.momentum = _unit("momentum", momentum)
        self.epsilon = _positive("epsilon", epsilon)
        self.centered = bool(centered)

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return KerasRMSprop(
            params,
            lr=self.learning_rate,
            rho=self.rho,
            momentum=self.momentum,
            eps=self.epsilon,
            centered=self.centered,
        )


class Adagrad(OptimizerSpec):
    """Keras ``Adagrad(learning_rate=1e-3, initial_accumulator_value=0.1, epsilon=1e-7)`` ->
    :class:`KerasAdagrad`."""

    def __init__(
        self,
        learning_rate: float = 1e-3,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        if isinstance(initial_accumulator_value, bool) or not initial_accumulator_value >= 0:
            raise ValueError(
                f"expected initial_accumulator_value >= 0, got {initial_accumulator_value!r}"
            )
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = _positive("epsilon", epsilon)

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return KerasAdagrad(
            params, self.learning_rate, self.initial_accumulator_value, self.epsilon
        )


class Adadelta(OptimizerSpec):
    """Keras ``Adadelta(learning_rate=1e-3, rho=0.95, epsilon=1e-7)`` -> :class:`KerasAdadelta`."""

    def __init__(
        self, learning_rate: float = 1e-3, rho: float = 0.95, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.rho = _unit("rho", rho)
        self.epsilon = _positive("epsilon", epsilon)

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return KerasAdadelta(params, self.learning_rate, self.rho, self.epsilon)


class Adamax(OptimizerSpec):
    """Keras ``Adamax(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`` ->
    :class:`KerasAdamax`."""

    def __init__(
        self,
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = _unit("beta_1", beta_1)
        self.beta_2 = _unit("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return KerasAdamax(params, self.learning_rate, self.beta_1, self.beta_2, self.epsilon)


class Nadam(Adamax):
    """Keras ``Nadam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`` ->
    :class:`KerasNadam`."""

    def _build(self, params: list[Tensor]) -> torch.optim.Optimizer:
        return KerasNadam(params, self.learning_rate, self.beta_1, self.beta_2, self.epsilon)


_BY_NAME: dict[str, Callable[[], OptimizerSpec]] = {
    "adam": Adam,
    "adamw": AdamW,
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "adamax": Adamax,
    "nadam": Nadam,
}


def get_optimizer(
    identifier: str | OptimizerSpec | torch.optim.Optimizer,
    params: Iterable[Tensor] | None = None,
) -> Any:
    """Resolve an optimizer.

    Without ``params``: ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, ``"adagrad"``,
    ``"adadelta"``, ``"adamax"``, ``"nadam"`` (case-insensitive) give a spec with Keras
    defaults; specs and built torch optimizers are returned as is.
    With ``params`` (an iterable of tensors): a built ``torch.optim.Optimizer`` over the trainable
    ones (a given torch optimizer is returned unchanged).

    Build once (at compile / first fit) and keep the torch optimizer so that its state persists
    across ``fit`` calls, as a Keras optimizer's does.
    """
    if isinstance(identifier, torch.optim.Optimizer):
        return identifier
    if isinstance(identifier, OptimizerSpec):
        spec = identifier
    elif isinstance(identifier, str):
        factory = _BY_NAME.get(identifier.lower())
        if factory is None:
            raise ValueError(
                f"expected an optimizer name in {sorted(_BY_NAME)}, got {identifier!r}"
            )
        spec = factory()
    else:
        raise TypeError(
            "expected an optimizer name, an optimizers spec (Adam, SGD, RMSprop ...) or a "
            f"torch.optim.Optimizer, got {type(identifier).__name__}"
        )
    return spec if params is None else spec.build(params)


def build_optimizer(
    identifier: str | OptimizerSpec | torch.optim.Optimizer, module: nn.Module
) -> torch.optim.Optimizer:
    """The torch optimizer to train ``module`` with: a built one is used as is, a spec is bound
    (:meth:`OptimizerSpec.bind`), a name builds a fresh spec's optimizer."""
    opt = get_optimizer(identifier)
    if isinstance(opt, torch.optim.Optimizer):
        return opt
    return opt.bind(module)


#: Argument type of ``fit`` / ``train_on_batch``: a name, a spec or a built torch optimizer.
OptimizerLike = str | OptimizerSpec | torch.optim.Optimizer

_NAMED_OPTIMIZERS: weakref.WeakKeyDictionary[nn.Module, dict[str, OptimizerSpec]] = (
    weakref.WeakKeyDictionary()
)


def resolve_optimizer(optimizer: OptimizerLike, module: nn.Module) -> torch.optim.Optimizer:
    """The torch optimizer ``fit`` trains ``module`` with. Names are resolved once per
    (module, name), so the optimizer state persists across ``fit`` / ``train_on_batch`` calls
    like a compiled Keras optimizer's."""
    if isinstance(optimizer, str):
        per_module = _NAMED_OPTIMIZERS.setdefault(module, {})
        key = optimizer.lower()
        spec = per_module.get(key)
        if spec is None:
            resolved = get_optimizer(optimizer)
            if not isinstance(resolved, OptimizerSpec):  # pragma: no cover - names give specs
                raise TypeError(f"expected an optimizer spec for {optimizer!r}")
            spec = per_module[key] = resolved
        return spec.bind(module)
    return build_optimizer(optimizer, module)


get = get_optimizer
