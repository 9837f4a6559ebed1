"""MinGRU and MinLSTM: the parallel scan, the fused CPU kernels and the step loop against a
float64 numpy reference written from the paper's equations, float32 precision at 4,096 steps,
gradients, streaming, Bidirectional and save/load."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit import kernels, layers
from rnnkit.kernels import _min_fused, _threads

B, T, D, U = 3, 9, 4, 5
NAMES = {"min_gru": layers.MinGRU, "min_lstm": layers.MinLSTM}


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _g(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, v + 0.5, _sigmoid(v))


def reference(
    kind: str,
    x: np.ndarray,
    W: np.ndarray,
    b: np.ndarray,
    h0: np.ndarray,
    mask: np.ndarray | None = None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(outputs in processing order, final h): Feng et al.'s equations, one step at a time."""
    u = h0.shape[1]
    h, prev, outs = h0.copy(), np.zeros_like(h0), []
    for t in reversed(range(x.shape[1])) if go_backwards else range(x.shape[1]):
        p = [x[:, t] @ W[:, k * u : (k + 1) * u] + b[k * u : (k + 1) * u] for k in range(3)]
        if kind == "min_gru":
            z = _sigmoid(p[0])
            h_new = (1 - z) * h + z * _g(p[1])
        else:
            f, i = _sigmoid(p[0]), _sigmoid(p[1])
            h_new = f / (f + i) * h + i / (f + i) * _g(p[2])
        out = h_new
        if mask is not None:
            m = mask[:, t][:, None]
            out = np.where(m, h_new, 0.0 if zero_output_for_mask else prev)
            h_new = np.where(m, h_new, h)
        h, prev = h_new, out
        outs.append(out)
    return np.stack(outs, axis=1), h


def make_layer(name: str, seed: int = 0, **kw: object) -> layers.RNN:
    torch.manual_seed(seed)
    layer = NAMES[name](U, dtype="float64", return_sequences=True, return_state=True, **kw)
    layer.ensure_built((None, T, D))
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p) * 0.8)
    return layer


def _mask(kind: str, rng: np.random.Generator) -> np.ndarray | None:
    if kind == "none":
        return None
    steps = np.arange(T)[None, :]
    lengths = np.array([T, 4, 1])[:, None]
    if kind == "post":
        return steps < lengths
    if kind == "pre":
        return steps >= T - lengths
    m = rng.random((B, T)) > 0.4
    m[0, :3] = False  # a row that starts with skipped steps: zeros out, initial state kept
    return m


CASES = list(
    itertools.product(
        NAMES,
        ["fused", "scan", "loop"],
        ["none", "post", "pre", "random"],
        [False, True],
        [False, True],
    )
)


@pytest.mark.parametrize("name,engine,mask_kind,go_backwards,zero_out", CASES)
def test_equals_reference(
    name: str, engine: str, mask_kind: str, go_backwards: bool, zero_out: bool
) -> None:
    _check_reference(name, engine, mask_kind, go_backwards, zero_out)


@pytest.fixture
def blocks_of_two_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused engine's blocks of steps as short as allowed (T = 9: five blocks, the last of
    one step): the state and its gradient carried across blocks."""
    monkeypatch.setattr(_min_fused, "BLOCK_BYTES", 1)
    monkeypatch.setattr(_min_fused, "MIN_BLOCK_STEPS", 2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mask_kind", ["none", "random"])
def test_fused_blocks_give_the_same_gradients(
    name: str, mask_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(8)
    mask = _mask(mask_kind, rng)
    x = torch.from_numpy(rng.standard_normal((B, T, D))).requires_grad_()
    h0 = torch.from_numpy(rng.standard_normal((B, U))).requires_grad_()
    grads = []
    for block_bytes in (_min_fused.BLOCK_BYTES, 1):  # one block; blocks of two steps
        monkeypatch.setattr(_min_fused, "BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(_min_fused, "MIN_BLOCK_STEPS", 2)
        layer = make_layer(name, seed=3, go_backwards=True)
        y, h = layer(x, mask=None if mask is None else torch.from_numpy(mask), initial_state=[h0])
        (y.square().sum() + h.sum()).backward()
        grads.append([x.grad.clone(), h0.grad.clone(), *(p.grad for p in layer.parameters())])
        x.grad, h0.grad = None, None
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def _check_reference(
    name: str, engine: str, mask_kind: str, go_backwards: bool, zero_out: bool
) -> None:
    rng = np.random.default_rng(7)
    layer = make_layer(
        name, go_backwards=go_backwards, zero_output_for_mask=zero_out, engine=engine
    )
    x = rng.standard_normal((B, T, D))
    h0 = rng.standard_normal((B, U))  # any sign: the scan takes h0 outside log space
    mask = _mask(mask_kind, rng)
    y, h = layer(
        torch.from_numpy(x),
        mask=None if mask is None else torch.from_numpy(mask),
        initial_state=[torch.from_numpy(h0)],
    )
    assert layer.last_engine == engine
    cell = layer.cell
    ref_y, ref_h = reference(
        name,
        x,
        cell.kernel.detach().numpy(),
        cell.bias.detach().numpy(),
        h0,
        mask,
        go_backwards,
        zero_out,
    )
    np.testing.assert_allclose(y.detach().numpy(), ref_y, atol=1e-12, rtol=0)
    np.testing.assert_allclose(h.detach().numpy(), ref_h, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("engine", ["scan", "fused"])
def test_float32_is_stable_at_4096_steps(name: str, engine: str) -> None:
    time = 4096
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, time, D, generator=gen)
    layer = NAMES[name](16, return_sequences=True, bias_initializer="ones", engine=engine)
    y = layer(x).detach().double().numpy()
    cell = layer.cell
    W = cell.kernel.detach().double().numpy()
    b = cell.bias.detach().double().numpy()
    W16 = np.concatenate([W, np.zeros((D, 48 - W.shape[1]))], axis=1)  # reference takes 3 blocks
    b16 = np.concatenate([b, np.zeros(48 - b.shape[0])])
    ref, _ = reference(name, x.double().numpy(), W16, b16, np.zeros((2, 16)))
    assert np.isfinite(y).all()
    rel = np.abs(y - ref) / np.maximum(np.abs(ref), 1e-3)
    assert rel.max() < 2e-5, rel.max()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("fused", [False, True])
def test_gradcheck(name: str, go_backwards: bool, fused: bool) -> None:
    _gradcheck(name, go_backwards, fused)


@pytest.mark.usefixtures("blocks_of_two_steps")
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_fused_blocks(name: str) -> None:
    _gradcheck(name, go_backwards=True, fused=True)


def _gradcheck(name: str, go_backwards: bool, fused: bool) -> None:
    layer = make_layer(name, seed=2)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 7, D, dtype=torch.float64, generator=gen, requires_grad=True)
    h0 = torch.randn(2, U, dtype=torch.float64, generator=gen, requires_grad=True)
    W = layer.cell.kernel.detach().clone().requires_grad_(True)
    b = layer.cell.bias.detach().clone().requires_grad_(True)
    mask = torch.tensor([[True] * 7, [False, False, True, False, True, True, False]])

    def fn(x: torch.Tensor, h0: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        call = kernels.RecurrentCall(
            cell=name,  # type: ignore[arg-type]
            x=x,
            kernel=W,
            recurrent_kernel=W.new_empty(U, 0),
            bias=b,
            states=(h0,),
            mask=mask,
            go_backwards=go_backwards,
            return_sequences=True,
        )
        return kernels.run_scan(call, fused=fused).outputs

    assert torch.autograd.gradcheck(fn, (x, h0, W, b), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_engines_gradients_agree_with_dropout(name: str) -> None:
    x = torch.randn(4, 70, D, dtype=torch.float64)  # more than one chunk of the scan
    grads = []
    for engine in ("fused", "scan", "loop"):
        layer = make_layer(name, seed=5, engine=engine, dropout=0.3)
        torch.manual_seed(11)  # the same dropout mask for both engines
        y, h = layer(x, training=True)
        (y.square().sum() + h.sum()).backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_fused_equals_loop_on_whole_register_tiles(name: str) -> None:
    """Shapes the fused kernels' tiled products cover with whole tiles and remainders (10
    batch rows: 8 + 1 + 1; 20 units: 40 or 60 projection columns, 32 per tile; 9 features: 10
    weight-gradient rows), with a mask: outputs and every gradient against the loop."""
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(10, 13, 9, dtype=torch.float64, generator=gen)
    mask = torch.rand(10, 13, generator=gen) > 0.3
    got = []
    for engine in ("fused", "loop"):
        torch.manual_seed(4)
        layer = NAMES[name](20, dtype="float64", return_sequences=True, engine=engine)
        xe = x.clone().requires_grad_()
        y = layer(xe, mask=mask)
        assert layer.last_engine == engine
        (y.square().sum() + y[:, -1].sum()).backward()
        got.append([y.detach(), xe.grad, *(p.grad for p in layer.parameters())])
    for a, b in zip(*got, strict=True):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-11)


@pytest.mark.parametrize("name", NAMES)
def test_streaming_one_step_at_a_time_equals_whole_sequence(name: str) -> None:
    layer = make_layer(name)
    x = torch.randn(B, T, D, dtype=torch.float64)
    y, h = layer(x)
    stream = make_layer(name, stateful=True)
    steps = [stream(x[:, t : t + 1])[0] for t in range(T)]
    torch.testing.assert_close(torch.cat(steps, dim=1), y)
    state = (torch.zeros(B, U, dtype=torch.float64),)
    for t in range(T):  # the cell's plain step
        out, state = layer.cell(x[:, t], state)
    torch.testing.assert_close(state[0], h)
    assert layer.last_engine == "fused"


@pytest.mark.parametrize("name", NAMES)
def test_bidirectional_and_save_load(name: str, tmp_path: Path) -> None:
    model = rnnkit.Sequential(
        [
            layers.Input((None, D)),
            layers.Bidirectional(NAMES[name](U, return_sequences=True)),
            NAMES[name](3),
        ]
    )
    x = torch.randn(B, T, D)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 5:] = False
    bi = model.layers[0]
    fw = bi.forward_layer(x, mask=mask)
    bw = bi.backward_layer(x, mask=mask).flip(1)
    both = bi(x, mask=mask)
    torch.testing.assert_close(both, torch.cat([fw, bw], dim=-1))
    assert both[1, 5:].abs().max() == 0  # masked steps give zero outputs in Bidirectional
    path = tmp_path / "m.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    torch.testing.assert_close(loaded(x), model(x))
    assert type(loaded.layers[1]) is NAMES[name]


def test_recurrent_dropout_is_refused() -> None:
    with pytest.raises(ValueError, match="expected recurrent_dropout=0 for MinGRU"):
        layers.MinGRU(4, recurrent_dropout=0.2)


def test_engine_plan_of_the_min_cells() -> None:
    layer = layers.MinLSTM(4, engine="torch")
    layer(torch.randn(2, 3, 2))
    assert layer.last_engine == "fused"
    assert "'torch' forced by the engine argument" in layer.engine_plan().reason
    half = layers.MinGRU(4, dtype="bfloat16")
    assert half.engine_plan().name == "scan"  # the fused kernels run float32/float64
    assert layers.MinGRU(4).count_params() == 0  # unbuilt
    built = layers.MinGRU(4)
    built(torch.randn(1, 2, 3))
    assert built.count_params() == 2 * 4 * (3 + 1)


@pytest.mark.parametrize("name", NAMES)
def test_fused_row_split_gives_identical_results(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large enough to split over two threads (batch rows in the kernels, feature rows in the
    weight gradient): the same bits as one thread. (The thread policy, which may run a call on
    one thread under load, is off: every call splits.)"""
    monkeypatch.setattr(_threads.POLICY, "enabled", False)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(32, 96, 24, generator=gen, requires_grad=True)
    w = torch.randn(32, 96, 32, generator=gen)
    before = torch.get_num_threads()
    got = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            # the forward's work (the smallest): MinGRU's 64 projection columns, 24 + 5 per row
            assert len(_min_fused.row_chunks(32, 32 * 96 * 64 * 29)) == threads
            torch.manual_seed(0)
            layer = NAMES[name](32, return_sequences=True)
            y = layer(x)
            (y * w).sum().backward()
            got.append([y.detach(), x.grad.clone(), *(p.grad for p in layer.parameters())])
            x.grad = None
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*got, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
