"""Learning-rate schedules a task runs over its training budget.

:class:`CosineBudget` (the text generator's default): the rate falls along a cosine over the
wall-clock budget or the epochs, whichever ends first, so a run stopped by ``max_time`` ends
at a low rate instead of wherever a constant rate left it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from ..training import Callback

__all__ = ["CosineBudget"]


class CosineBudget(Callback):
    """Cosine decay of the learning rate over the training budget, set before every batch:
    ``lr = base * (final + (1 - final) * (1 + cos(pi * progress)) / 2)``, where ``progress``
    is the larger of the fraction of ``seconds`` used (wall clock) and the fraction of the
    ``epochs`` x steps done: from ``base`` at the start to ``base * final`` at the end.

    ``base`` is given (not read from the optimizer) so that a resumed run decays from it.
    """

    def __init__(self, base: float, seconds: float | None, final: float = 0.1) -> None:
        super().__init__()
        self.base = float(base)
        self.seconds = None if seconds is None else float(seconds)
        self.final = float(final)
        self.start = 0.0
        self.epoch = 0

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        self.epoch = epoch

    def progress(self, batch: int) -> float:
        """The fraction of the budget used before ``batch`` of the current epoch."""
        steps = max(1, int(self.params.get("steps") or 1))
        epochs = max(1, int(self.params.get("epochs") or 1))
        done = (self.epoch * steps + batch) / (epochs * steps)
        if self.seconds is not None and self.seconds > 0:
            done = max(done, (time.perf_counter() - self.start) / self.seconds)
        return min(done, 1.0)

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, float] | None = None) -> None:
        if self.optimizer is None:
            return
        wave = 0.5 * (1.0 + math.cos(math.pi * self.progress(batch)))
        lr = self.base * (self.final + (1.0 - self.final) * wave)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
