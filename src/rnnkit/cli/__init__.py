"""The ``rnnkit`` command line (typer), on top of :mod:`rnnkit.tasks`.

Commands: ``demo``, ``train``, ``forecast``, ``classify`` (training runs, each writing a run
folder, by default a new one under ``runs/``), ``generate``, ``evaluate``, ``predict``,
``summary`` and ``inspect`` (on a run folder). Exit codes: 0 on success, 1 when a run fails
(one line on stderr; the traceback with ``--debug``), 2 on a usage error.

Training commands clip the gradient norm at 1.0 by default (``--clipnorm``).
"""

from __future__ import annotations

from . import _forecast, _runs, _train  # noqa: F401 - each module registers its commands
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``rnnkit`` script."""
    app()
