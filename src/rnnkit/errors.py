"""rnnkit's error classes: one base, :class:`RnnkitError`, and one subclass per kind of file.

Every loader raises only its documented classes for any bytes it is given (see
docs/reliability.md): a missing path is a ``FileNotFoundError``; everything else wrong with a
file is one of these, naming the file (``path``) and what was wrong (``reason``). They are also
``ValueError``s, so ``except ValueError`` keeps working.

>>> try:
...     raise ModelFileError("expected a zip archive, got 12 bytes of text", path="m.rnnkit")
... except RnnkitError as err:
...     print(err, "|", err.path, "|", err.reason)
model file 'm.rnnkit': expected a zip archive, got 12 bytes of text | m.rnnkit | expected a \
zip archive, got 12 bytes of text

A leaf module: it imports nothing of ours, and every part of rnnkit may import it.
"""

from __future__ import annotations

import os

__all__ = [
    "ConfigFileError",
    "ConfigMismatchError",
    "DataFileError",
    "ModelFileError",
    "RnnkitError",
    "RunFolderError",
    "RunLockedError",
    "WorkerFailedError",
]


class RnnkitError(Exception):
    """The base of rnnkit's own errors. ``path``: the file or folder (None when there is none);
    ``reason``: what was wrong, without the path."""

    _what = "file"

    def __init__(
        self, reason: str, *, path: str | os.PathLike[str] | None = None, hint: str = ""
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        where = "" if self.path is None else f"{self._what} {self.path!r}: "
        super().__init__(where + reason + (f"; {hint}" if hint else ""))


class ModelFileError(RnnkitError, ValueError):
    """A model file (``.rnnkit``, ``.keras``, ``.h5``) that is damaged, hostile, too large for
    what it declares, or describes a model rnnkit cannot build."""

    _what = "model file"


class DataFileError(RnnkitError, ValueError):
    """A data file (CSV, ``.npy``, ``.npz``, text) that cannot be read as what was asked."""

    _what = "data file"


class RunFolderError(RnnkitError, ValueError):
    """A run folder (``task.json``, ``heldout.npz`` ...) that is damaged or not a run folder."""

    _what = "run folder"


class RunLockedError(RnnkitError, RuntimeError):
    """Another live process is writing the same run folder (``--out``)."""

    _what = "run folder"


class ConfigFileError(RnnkitError, ValueError):
    """A TOML run config (``rnnkit train CONFIG``) that is not a readable, valid config."""

    _what = "config file"


class ConfigMismatchError(RnnkitError, ValueError):
    """Resuming a run with a configuration that differs from the stored one."""

    _what = "run folder"


class WorkerFailedError(RnnkitError, RuntimeError):
    """A process of a distributed run died, failed or stopped responding; ``rank`` names it.
    The launcher stopped the other processes."""

    def __init__(self, reason: str, *, rank: int) -> None:
        super().__init__(reason)
        self.rank = rank
