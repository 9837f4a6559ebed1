"""The Triton engine under Triton's interpreter (CPU tensors), against the loop and fused engines.

No GPU is needed: ``run_triton`` on CPU tensors runs the same kernels through Triton's numpy
interpreter, and the dispatch routes CPU calls to "triton" only when it is forced and
``TRITON_INTERPRET=1``. Sizes stay small: every interpreted step costs milliseconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

import rnnkit.kernels as K  # noqa: E402
from rnnkit import layers  # noqa: E402
from rnnkit.kernels import (  # noqa: E402
    ENGINE_ENV,
    _triton,
    _triton_launch,
    run_loop,
    run_recurrent,
    run_triton,
    select_engine,
)

from .reference import (
    CELL_IDS,
    CELLS,
    assert_close,
    forward_backward,
    make_step,
    random_call,
)
from .reference import plan as reference_plan  # noqa: E402

#: Each cell runs every one of these: masks (right and left padding, holes), initial states or
#: zeros, go_backwards, return_sequences, zero_output_for_mask, dropout, recurrent dropout.
OPTIONS = [
    {},
    {"mask": "post", "return_sequences": True},
    {"mask": "pre", "go_backwards": True, "return_sequences": True, "dropout": True},
    {
        "mask": "random",
        "zero_output_for_mask": True,
        "return_sequences": True,
        "recurrent_dropout": True,
    },
    {
        "mask": "random",
        "go_backwards": True,
        "recurrent_dropout": True,
        "initial_states": False,
        "use_bias": False,
    },
    {"mask": "random", "dropout": True, "recurrent_dropout": True},
    {"mask": "post", "go_backwards": True, "zero_output_for_mask": True, "initial_states": False},
]
SIZES = {"batch": 4, "time": 5, "features": 3, "units": 5}


@pytest.fixture(autouse=True)
def _interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_triton.INTERPRET_ENV, "1")
    monkeypatch.delenv(ENGINE_ENV, raising=False)




@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_triton_matches_loop_and_fused_float64(cell: str, opts: dict) -> None:
    """Outputs, final states and the gradients of x, W, U, b and the initial states."""
    for i, extra in enumerate(OPTIONS):
        call = random_call(cell, seed=i, **SIZES, **opts, **extra)
        got = forward_backward(call, "triton")
        for engine in ("loop", "fused"):
            want = forward_backward(call, engine)
            assert_close(got[0], want[0], 1e-12)
            assert_close(got[1], want[1], 1e-11)


@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_triton_float32_matches_float64_loop(cell: str, opts: dict) -> None:
    extra = {"mask": "random", "recurrent_dropout": True, "return_sequences": True}
    call32 = random_call(cell, dtype=torch.float32, seed=3, **SIZES, **opts, **extra)
    call64 = random_call(cell, dtype=torch.float64, seed=3, **SIZES, **opts, **extra)
    got = forward_backward(call32, "triton")
    want = forward_backward(call64, "loop")
    assert all(t.dtype == torch.float32 for t in got[0] + got[1])
    assert_close(got[0], want[0], 1e-5)
    assert_close(got[1], want[1], 1e-4)


@pytest.mark.parametrize(("cell", "opts"), CELLS[:4], ids=["lstm", "gru", "gru_v1", "simple_rnn"])
def test_several_unit_blocks_and_programs(cell: str, opts: dict, monkeypatch) -> None:
    """20 units in blocks of 16 (a partial block) and 18 rows (two programs of 16 rows)."""
    monkeypatch.setattr(_triton_launch, "MAX_BLOCK_UNITS", 16)
    assert _triton_launch._blocks(20, torch.float64) == 16
    extra = {"mask": "random", "recurrent_dropout": True, "return_sequences": True}
    call = random_call(cell, batch=18, time=3, features=2, units=20, seed=5, **opts, **extra)
    got = forward_backward(call, "triton")
    want = forward_backward(call, "loop")
    assert_close(got[0], want[0], 1e-12)
    assert_close(got[1], want[1], 1e-11)


ACTIVATIONS = [
    ("lstm", {"activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    ("gru", {"activation": "linear", "recurrent_activation": "tanh"}),
    ("gru", {"reset_after": False, "activation": "sigmoid", "recurrent_activation": "linear"}),
    ("simple_rnn", {"activation": "relu"}),
    ("indrnn", {"activation": "tanh"}),
]


@pytest.mark.parametrize(("cell", "opts"), ACTIVATIONS, ids=CELL_IDS)
def test_triton_activations(cell: str, opts: dict) -> None:
    call = random_call(cell, seed=7, mask="pre", return_sequences=True, **SIZES, **opts)
    got = forward_backward(call, "triton")
    want = forward_backward(call, "loop")
    assert_close(got[0], want[0], 1e-12)
    assert_close(got[1], want[1], 1e-11)


@pytest.mark.parametrize(("cell", "opts"), CELLS, ids=CELL_IDS)
def test_inference_without_storage(cell: str, opts: dict) -> None:
    """Without gradients the per-step buffers have one step (the kernels' scratch)."""
    call = random_call(
        cell,
        seed=2,
        mask="random",
        recurrent_dropout=True,
        go_backwards=True,
        return_sequences=True,
        requires_grad=False,
        **SIZES,
        **opts,
    )
    with torch.no_grad():
        got = run_triton(call)
    want = run_loop(call, make_step(call))
    assert_close([got.outputs, *got.states], [want.outputs, *want.states], 1e-12)


def test_dispatch_forces_triton_on_cpu_only_when_interpreted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    call = random_call("gru", reset_after=False, mask="post", return_sequences=True, **SIZES)
    assert select_engine(call).name == "fused"  # never chosen on CPU by "auto"
    assert select_engine(call, "triton").name == "triton"
    result = run_recurrent(call, make_step(call), "triton")
    assert result.engine == "triton"
    want = run_loop(call, make_step(call))
    assert_close([result.outputs], [want.outputs], 1e-12)
    monkeypatch.setenv(ENGINE_ENV, "triton")
    assert run_recurrent(call, make_step(call)).engine == "triton"
    monkeypatch.setenv(_triton.INTERPRET_ENV, "0")
    choice = select_engine(call)
    assert choice.name == "fused"
    assert "'triton' forced" in choice.reason and "TRITON_INTERPRET" in choice.reason


def test_plan_on_cuda_and_blockers() -> None:
    def plan(cell: str = "lstm", **kw: object) -> K.EngineChoice:
        return reference_plan(cell, device="cuda", **kw)

    assert plan().name == "torch"  # cuDNN computes it exactly
    masked = plan(has_mask=True)
    assert masked.name == "triton" and "no mask" in masked.reason
    assert plan("indrnn", activation="relu").name == "triton"
    assert plan("gru", reset_after=False, dtype=torch.float64).name == "triton"
    assert plan(requested="triton").reason == "forced by the engine argument"
    elu = plan(has_mask=True, activation="elu")
    assert elu.name == "loop" and "'elu'" in elu.reason
    half = plan(has_mask=True, dtype=torch.float16)
    assert half.name == "loop" and "float16" in half.reason
    assert "triton" in K.ENGINES


def test_layer_with_engine_triton() -> None:
    torch.manual_seed(0)
    layer = layers.LSTM(4, return_sequences=True, engine="triton", dtype="float64")
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 1]], dtype=torch.bool)
    got = layer(x, mask=mask)
    assert layer.last_engine == "triton"
    layer.engine = "loop"
    want = layer(x, mask=mask)
    assert torch.allclose(got, want, atol=1e-12)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kernel", torch.zeros(2, 20)),
        ("recurrent_kernel", torch.zeros(4, 12)),
        ("mask", torch.ones(5, 4, dtype=torch.bool)),
        ("states", (torch.zeros(4, 5),)),
        ("x", torch.zeros(4, 5)),
    ],
)
def test_triton_rejects_bad_shapes(field: str, value: object) -> None:
    call = random_call("lstm", dtype=torch.float32, requires_grad=False, **SIZES)
    with pytest.raises(ValueError, match="expected"):
        run_triton(dataclasses.replace(call, **{field: value}))


def test_triton_rejects_other_dtypes() -> None:
    call = random_call("simple_rnn", dtype=torch.float32, requires_grad=False, **SIZES)
    with pytest.raises(TypeError, match="expected kernel as torch.float32"):
        run_triton(dataclasses.replace(call, kernel=call.kernel.double()))
    half = random_call("simple_rnn", dtype=torch.float16, requires_grad=False, **SIZES)
    with pytest.raises(TypeError, match="expected x as float32 or float64"):
        run_triton(half)


_FLAGS = {
    "HAS_MASK": True,
    "HAS_RD": True,
    "HAS_BREC": True,
    "BACKWARDS": True,
    "ZERO_OUT": False,
    "RET_SEQ": True,
    "STORE": 1,
    "ACT": 1,
    "RACT": 2,
    "BLOCK_B": _triton_launch.BLOCK_B,
    "BLOCK_N": _triton_launch.MAX_BLOCK_UNITS,
    "BLOCK_K": _triton_launch.MAX_BLOCK_UNITS,
    "KIND": 1,  # the min cells' kernels: MinLSTM
    "BLOCK_T": 32,
    # the split kernels (_triton_ext): layer norm, projection, zoneout; whole-row tiles
    "LN": True,
    "HAS_PROJ": True,
    "HAS_ZK": True,
    "BLOCK_U": 64,
    "BLOCK_P": 64,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", _triton_launch._KERNEL_FNS)
def test_kernels_compile_for_a_gpu(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each kernel compiles with Triton's real (not interpreted) compiler down to an H100 binary
    (sm_90 cubin, float32, every option on): no GPU is needed to compile, only to run. The
    shared memory stays small with the engine's launch options (no software pipelining)."""
    pytest.importorskip("triton.backends.nvidia")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    fn = _triton_launch._kernels(False)[name]
    signature: dict[str, str] = {}
    constants: dict[str, object] = {}
    for param in fn.params:
        if param.is_constexpr:
            signature[param.name] = "constexpr"
            constants[param.name] = _FLAGS[param.name]
        elif param.name in ("T", "B", "U", "P"):
            signature[param.name] = "i32"
        else:
            signature[param.name] = "*i8" if param.name == "mask" else "*fp32"
    compiled = triton.compile(
        ASTSource(fn, signature, constants),
        target=GPUTarget("cuda", 90, 32),
        options=dict(_triton_launch._LAUNCH),
    )
    assert "cubin" in compiled.asm
    # the split kernels hold whole rows (64 units): above the 48 KiB a block gets without
    # opting in, which Triton's launcher does; sm_80 and later allow 163 KiB and more
    limit = 100 * 1024 if name.startswith("_ext_") else 48 * 1024
    assert compiled.metadata.shared <= limit
