"""The split Triton kernels (layer-norm kinds, zoneout, LSTM projection) under Triton's
interpreter (CPU tensors) against the reference loop: outputs and every gradient."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton")

from rnnkit.kernels import _triton, plan_engine  # noqa: E402

from .test_fused_ext import KINDS, NO_TRITON, _assert_close, _layer, _mask, _run  # noqa: E402

#: (layer options, training, mask): every option once, in training and in inference
CASES: list[tuple[dict[str, object], bool, str | None]] = [
    ({"recurrent_dropout": 0.3, "go_backwards": True, "dropout": 0.2}, True, "random"),
    ({"zero_output_for_mask": True, "use_bias": False}, False, "post"),
    ({}, True, None),
]


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_triton.INTERPRET_ENV, "1")


FAST = ("ln_lstm", "ln_gru")


@pytest.mark.parametrize(
    "name",
    [
        n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
        for n in KINDS
        if n not in NO_TRITON
    ],
)
def test_triton_equals_loop_float64(name: str) -> None:
    x = torch.randn(5, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for opts, training, mask in CASES:
        layer = _layer(name, "float64", 4, 3, **opts)
        m = _mask(5, 4, mask)
        _assert_close(
            _run(layer, "triton", x, m, training), _run(layer, "loop", x, m, training), 1e-11
        )


@pytest.mark.parametrize("name", ["ln_lstm_zoneout", "ln_gru"])
def test_triton_float32_with_padded_tiles(name: str) -> None:
    """Units and batch that fill no tile exactly (20 units in 32-wide tiles, 17 rows)."""
    x = torch.randn(17, 5, 3, generator=torch.Generator().manual_seed(2))
    layer = _layer(name, "float32", 20, 3, recurrent_dropout=0.2)
    m = _mask(17, 5, "random")
    _assert_close(_run(layer, "triton", x, m, True), _run(layer, "loop", x, m, True), 2e-4)


def test_planner_sends_forced_triton_calls_to_the_split_kernels() -> None:
    kw: dict[str, object] = {
        "activation": "tanh", "recurrent_activation": "sigmoid", "dtype": torch.float32,
        "device": "cuda", "training": True, "batch": 32, "has_mask": True, "dropout": 0.0,
        "recurrent_dropout": 0.0, "units": 64,
    }  # fmt: skip
    if not _triton.available():
        pytest.fail("triton imported above")
    assert plan_engine("layer_norm_lstm", **kw).name == "triton"  # type: ignore[arg-type]
    assert plan_engine("lstm", options=("projection", "zoneout"), **kw).name == "triton"  # type: ignore[arg-type]
    wide = plan_engine("layer_norm_gru", **{**kw, "units": 65})  # type: ignore[arg-type]
    assert wide.name == "loop" and "up to 64 units" in wide.reason
    v1 = plan_engine("gru", options=("zoneout",), reset_after=False, **kw)  # type: ignore[arg-type]
    assert v1.name == "loop" and "no split Triton kernels for zoneout" in v1.reason
