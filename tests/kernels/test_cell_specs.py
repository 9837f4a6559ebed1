"""The cell specs: one description per kind, read by every engine; named kernel arguments."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.kernels import _nb_bwd, _nb_gemm, _runtime, cells
from rnnkit.kernels._triton_ctx import triton_args

SRC = Path(__file__).resolve().parents[2] / "src" / "rnnkit"
#: The modules that once switched on a kind's name; they read the spec now.
READERS = [
    *sorted((SRC / "kernels").glob("_*.py")),
    SRC / "io" / "_torch.py",
    SRC / "io" / "_onnx.py",
    SRC / "io" / "_onnx_graph.py",
    SRC / "layers" / "_recurrent.py",
]
KINDS = "|".join(sorted(cells.SPECS))


def test_engines_dispatch_and_io_hold_no_switch_on_a_kind_name() -> None:
    pattern = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({KINDS}|rnn)["']""")
    found = [
        f"{path.relative_to(SRC)}:{i}: {line.strip()}"
        for path in READERS
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
    assert pattern.search('if call.cell == "lstm":')  # the check itself can fail


@pytest.mark.parametrize("spec", cells.ALL_SPECS, ids=lambda s: type(s).__name__)
def test_every_spec_is_complete_and_registered(spec: cells.CellSpec) -> None:
    assert cells.spec_for(spec.name, spec is not cells.GRU_V1) is spec
    assert len(spec.gate_order) == spec.gates
    assert spec.n_states >= 1
    assert len(spec.fused_kernels) == 2 and len(spec.triton_kernels) == 2
    for kernel in spec.fused_kernels:  # the named structure is the kernel's own signature
        fields = _runtime.kernel_args(kernel)._fields
        assert fields == kernel.py_func.__code__.co_varnames[: len(fields)]
    if spec.torch_module is not None:
        assert sorted(spec.torch_gate_perm) == list(range(spec.gates))
    else:
        assert spec.torch_missing


def test_named_kernel_arguments_refuse_a_missing_or_unknown_name() -> None:
    args = _runtime.kernel_args(_nb_bwd.simple_backward)
    fields = dict.fromkeys(args._fields, 0)
    assert args(**fields).DX == 0
    fields.pop("DX")
    with pytest.raises(TypeError):
        args(**fields)
    with pytest.raises(TypeError):
        args(**fields, DX=0, DY=0)
    with pytest.raises(TypeError, match="act, ract, lo, hi"):
        _runtime.kernel_args(_nb_gemm._gemm)


def test_triton_arguments_stop_at_the_compile_time_constants() -> None:
    spec = cells.LSTM
    assert triton_args(spec.triton_kernels[0])._fields[-3:] == ("T", "B", "U")


def test_unknown_kinds_and_modules_are_refused() -> None:
    with pytest.raises(ValueError, match="expected a cell kind"):
        cells.spec_for("mamba")
    with pytest.raises(TypeError, match=r"nn\.RNN, nn\.LSTM or nn\.GRU"):
        cells.spec_for_torch(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("spec", [s for s in cells.ALL_SPECS if s.torch_module is not None])
def test_torch_weight_mapping_round_trips(spec: cells.CellSpec) -> None:
    units, features = 3, 2
    gen = torch.Generator().manual_seed(0)
    kernel = torch.randn(features, spec.gates * units, generator=gen)
    rec = torch.randn(*spec.recurrent_shape(units), generator=gen)
    bias = torch.randn(*spec.bias_shape(units), generator=gen)
    w_ih, w_hh = spec.to_torch_weights(kernel, rec)
    assert w_ih.shape == (spec.gates * units, features)
    back = spec.from_torch_weights(w_ih, w_hh)
    np.testing.assert_array_equal(back[0].numpy(), kernel.numpy())
    np.testing.assert_array_equal(back[1].numpy(), rec.numpy())
    b_ih, b_hh = spec.to_torch_bias(bias)
    torch.testing.assert_close(spec.from_torch_bias(b_ih, b_hh), bias)
