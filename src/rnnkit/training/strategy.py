"""How ``fit`` runs its loop: a :class:`Strategy` takes the module, the data and the
:class:`~rnnkit.training.options.FitOptions` and calls the one-process loop, in this process
(:class:`OneProcess`) or on every rank of a process group around a data-parallel wrapper
(:class:`rnnkit.training.distributed.DataParallel`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from torch import nn

from .callbacks import History
from .options import FitOptions

__all__ = ["LoopFn", "OneProcess", "Strategy"]

#: The one-process training loop: ``loop(module, x, y, options) -> History``.
LoopFn = Callable[[nn.Module, Any, Any, FitOptions], History]


class Strategy(abc.ABC):
    """Where and how the training loop runs."""

    @abc.abstractmethod
    def fit(self, module: nn.Module, x: Any, y: Any, options: FitOptions, loop: LoopFn) -> History:
        """Train ``module`` on ``(x, y)`` with ``options`` by calling ``loop`` (once)."""


class OneProcess(Strategy):
    """The loop as it is, in this process."""

    def fit(self, module: nn.Module, x: Any, y: Any, options: FitOptions, loop: LoopFn) -> History:
        return loop(module, x, y, options)
