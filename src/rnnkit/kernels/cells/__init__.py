"""One spec per cell kind (:class:`CellSpec`), and the registry the engines, the dispatch, the
layers and io look a kind up in.

Adding a kind: write its spec module here (a :class:`CellSpec` subclass: layout, fused and
Triton kernel calls, native op, ONNX step, torch weight mapping), its kernels, register the
instance in :data:`SPECS`, and give it a cell class in ``rnnkit.layers``. docs/architecture.md,
"Adding a cell kind", walks through it.
"""

from __future__ import annotations

from ._base import CellSpec, GraphBuilder, NativeRun
from .gru import GRU, GRU_V1
from .indrnn import INDRNN
from .layer_norm import LAYER_NORM_GRU, LAYER_NORM_LSTM
from .lstm import LSTM
from .min_rnn import MIN_GRU, MIN_LSTM
from .simple_rnn import SIMPLE_RNN

#: The kinds outside the base fused kernels: the layer-norm kinds run on the split fused
#: kernels (``_nb_ext``), the min kinds on "scan" (and their own fused kernels).
LOOP_SPECS: tuple[CellSpec, ...] = (LAYER_NORM_LSTM, LAYER_NORM_GRU, MIN_GRU, MIN_LSTM)
#: Every registered kind by name (GRU's entry is its ``reset_after=True`` form; ``spec_for``
#: gives the other).
SPECS: dict[str, CellSpec] = {s.name: s for s in (SIMPLE_RNN, LSTM, GRU, INDRNN, *LOOP_SPECS)}
#: Every spec with compiled kernels, GRU's two forms included (what tests and the Triton wrapper
#: iterate).
ALL_SPECS: tuple[CellSpec, ...] = (SIMPLE_RNN, LSTM, GRU, GRU_V1, INDRNN)


def spec_for(cell: str, reset_after: bool = True) -> CellSpec:
    """The spec of kind ``cell`` (GRU: of its ``reset_after`` form)."""
    found = SPECS.get(cell)
    if found is None:
        raise ValueError(f"expected a cell kind in {sorted(SPECS)}, got {cell!r}")
    return found.variant(reset_after)


def spec_for_torch(module: object) -> CellSpec:
    """The spec whose ``torch_module`` ``module`` is an instance of."""
    for spec in ALL_SPECS:
        if spec.torch_module is not None and isinstance(module, spec.torch_module):
            return spec
    names = [f"nn.{s.torch_module.__name__}" for s in ALL_SPECS if s.torch_module is not None]
    listed = ", ".join(names[:-1]) + f" or {names[-1]}"
    raise TypeError(f"expected a torch.{listed} module, got {type(module).__name__}")


__all__ = [
    "ALL_SPECS",
    "CellSpec",
    "GRU",
    "GRU_V1",
    "GraphBuilder",
    "INDRNN",
    "LAYER_NORM_GRU",
    "LAYER_NORM_LSTM",
    "LOOP_SPECS",
    "LSTM",
    "MIN_GRU",
    "MIN_LSTM",
    "NativeRun",
    "SIMPLE_RNN",
    "SPECS",
    "spec_for",
    "spec_for_torch",
]
