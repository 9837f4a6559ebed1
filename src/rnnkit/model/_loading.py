"""Models from configs and files: ``model_from_config``, and ``load_model``, which checks an
untrusted file (size of its config, the tensors against the architecture) before building."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .. import _archive, _bounded
from ..errors import ModelFileError
from ._functional import Model
from ._sequential import Sequential


def model_from_config(config: dict[str, Any]) -> Sequential | Model:
    """Rebuild a model (fresh weights) from :meth:`get_config`'s JSON-compatible dict."""
    kinds: dict[str, Any] = {"Sequential": Sequential, "Model": Model}
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in kinds:
        raise ValueError(f"expected a model class_name in {sorted(kinds)}, got {name!r}")
    return kinds[name].from_config(copy.deepcopy(config))


#: A model config naming more layers than this is refused before anything is built.
MAX_LAYERS = 4096
_BUILD_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RuntimeError,
    OverflowError,
    RecursionError,
    NotImplementedError,
    ZeroDivisionError,
)


def count_layer_entries(config: Any) -> int:
    """How many ``class_name`` entries a parsed config holds, at any depth (iterative)."""
    n = 0
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            n += "class_name" in item
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    return n


def _from_untrusted_config(config: Any, fail: Callable[[str], Exception]) -> Sequential | Model:
    """``model_from_config`` of a config read from a file: errors become ``fail(reason)``."""
    n = count_layer_entries(config)
    if n > MAX_LAYERS:
        raise fail(f"expected at most {MAX_LAYERS} layers in the config, got {n} entries")
    try:
        return model_from_config(config)
    except _BUILD_ERRORS as e:
        raise fail(f"expected a config rnnkit can build, got {type(e).__name__}: {e}") from e


def _check_tensors(
    expected: dict[str, Tensor], tensors: dict[str, Tensor], fail: Callable[[str], Exception]
) -> None:
    if set(tensors) != set(expected):
        extra, missing = sorted(set(tensors) - set(expected)), sorted(set(expected) - set(tensors))
        raise fail(
            f"expected the weights of the config's architecture, got missing {missing[:10]}"
            f" and unexpected {extra[:10]}"
        )
    for name, t in tensors.items():
        want = expected[name]
        if t.shape != want.shape or t.dtype != want.dtype:
            raise fail(
                f"expected {name} of shape {tuple(want.shape)} and dtype {want.dtype}, "
                f"got shape {tuple(t.shape)} and dtype {t.dtype}"
            )


def load_model(
    path: str | os.PathLike[str], *, sha256: str | None = None, allow_nonfinite: bool = False
) -> Sequential | Model:
    """Load a model saved with :meth:`Model.save`. Reads JSON and safetensors only.

    The file is checked before any weight is allocated: its members' sizes, the safetensors
    header, then the architecture, built on PyTorch's ``meta`` device (no memory), against the
    tensors' names, shapes and dtypes. ``sha256``: the file's expected SHA-256 (hex), compared
    first. ``allow_nonfinite``: load weights holding NaN/Inf (refused by default).

    Raises:
        ModelFileError: anything wrong with the file (it names the file and the problem).
    """
    where = os.fspath(path)

    def fail(reason: str) -> ModelFileError:
        return ModelFileError(reason, path=where)

    if sha256 is not None:
        sha256 = _bounded.sha256_argument(sha256)
        try:
            _bounded.check_sha256(where, sha256, fail)
        except FileNotFoundError:
            raise fail("expected an rnnkit model file, got no such file") from None
    config, tensors = _archive.read_archive(path)
    arch = config.get("model")
    with torch.device("meta"):
        skeleton = _from_untrusted_config(arch, fail)
    _check_tensors(skeleton.state_dict(), tensors, fail)
    if not allow_nonfinite:
        _archive.check_finite(tensors, fail)
    model = _from_untrusted_config(arch, fail)
    model.load_state_dict(tensors)
    return model
