"""fit / evaluate / predict / train_on_batch on plain torch modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from rnnkit.training import (
    Callback,
    NonFiniteLossError,
    evaluate,
    fit,
    losses,
    optimizers,
    predict,
    train_on_batch,
)

from ._helpers import Recorder, mlp, regression_data


def test_regression_is_learned() -> None:
    torch.manual_seed(0)
    x, y = regression_data(256)
    module = mlp()
    before = evaluate(module, x, y, loss="mse", verbose=0)["loss"]
    hist = fit(
        module,
        x,
        y,
        loss="mse",
        optimizer=optimizers.Adam(learning_rate=0.02),
        metrics=["mae"],
        epochs=30,
        batch_size=32,
        verbose=0,
    )
    after = evaluate(module, x, y, loss="mse", metrics=["mae"], verbose=0)
    assert list(hist.history) == ["loss", "mae"] and hist.epoch == list(range(30))
    assert hist.history["loss"][-1] < 0.02 * hist.history["loss"][0]
    assert after["loss"] < 0.02 * before
    assert after["mae"] < 0.2


def test_validation_split_takes_last_fraction_before_shuffling() -> None:
    torch.manual_seed(0)
    x = np.arange(20, dtype=np.float32)[:, None]
    module = Recorder()
    hist = fit(
        module,
        x,
        x.copy(),
        loss="mse",
        optimizer="sgd",
        batch_size=4,
        epochs=2,
        validation_split=0.25,
        verbose=0,
    )
    train_seen, val_seen = module.seen(training=True), module.seen(training=False)
    assert sorted(train_seen) == sorted(list(range(15)) * 2)  # every training sample, twice
    assert train_seen[:15] != list(range(15))  # shuffled
    assert val_seen == list(range(15, 20)) * 2  # the last 25 %, in order, each epoch
    assert list(hist.history) == ["loss", "val_loss"]


def test_validation_split_uses_keras_floor() -> None:
    module = Recorder()
    x = np.arange(7, dtype=np.float32)[:, None]
    fit(module, x, x, loss="mse", optimizer="sgd", validation_split=0.5, verbose=0)
    # Keras: split_at = floor(7 * (1 - 0.5)) = 3, so 4 validation samples
    assert module.seen(training=False) == [3.0, 4.0, 5.0, 6.0]


def test_validation_data_and_modes() -> None:
    x, y = regression_data(32)
    xv, yv = regression_data(8, seed=1)
    module = Recorder(4, 1)
    hist = fit(
        module,
        x,
        y,
        loss="mse",
        optimizer="sgd",
        metrics=["mae"],
        batch_size=16,
        epochs=2,
        validation_data=(xv, yv),
        validation_split=0.5,
        verbose=0,
    )
    assert list(hist.history) == ["loss", "mae", "val_loss", "val_mae"]
    modes = [t for t, _, _ in module.calls]
    assert modes == [True, True, False] * 2  # 2 train batches then validation (eval), per epoch
    logs = evaluate(module, xv, yv, loss="mse", metrics=["mae"], verbose=0)
    assert logs["loss"] == pytest.approx(hist.history["val_loss"][-1], rel=1e-6)
    assert module.training  # the original mode is restored


def test_multi_input_and_int_inputs() -> None:
    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(5, 3)
            self.lin = nn.Linear(3 + 2, 1)

        def forward(self, ids: Tensor, feats: Tensor) -> Tensor:
            assert ids.dtype == torch.int64 and feats.dtype == torch.float32
            return self.lin(torch.cat([self.emb(ids), feats], dim=-1))

    ids = np.arange(10) % 5
    feats = np.ones((10, 2))  # float64 data take the module's float32
    y = np.zeros((10, 1))
    module = TwoInputs()
    hist = fit(module, [ids, feats], y, loss="mse", optimizer="adam", batch_size=4, verbose=0)
    assert len(hist.history["loss"]) == 1
    out = predict(module, (ids, feats), batch_size=3)
    assert out.shape == (10, 1) and out.dtype == np.float32


def test_float64_module_gets_float64_data() -> None:
    module = Recorder(1, 1, dtype=torch.float64)
    x = np.ones((4, 1), np.float32)
    fit(module, x, x, loss="mse", optimizer="sgd", verbose=0)
    assert {d for _, _, d in module.calls} == {torch.float64}


def test_predict_concatenates_batches_and_tuple_outputs() -> None:
    torch.manual_seed(0)
    module = mlp()
    x, _ = regression_data(10)
    full = module.eval()(torch.from_numpy(x)).detach().numpy()
    module.train()
    # a batch of 3 and one of 10 take different GEMM blockings: round-off near zero
    np.testing.assert_allclose(predict(module, x, batch_size=3), full, rtol=1e-6, atol=1e-6)
    assert module.training

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return self.lin(x), x.sum(-1)

    a, b = predict(Pair(), x, batch_size=4)
    assert a.shape == (10, 2) and b.shape == (10,)


def _one_sgd_step(**clip: float) -> list[Tensor]:
    """The per-parameter update of one SGD(lr=1) step on a huge gradient."""
    torch.manual_seed(0)
    module = nn.Linear(3, 2)
    before = [p.detach().clone() for p in module.parameters()]
    x = np.full((8, 3), 100.0, np.float32)
    y = np.zeros((8, 2), np.float32)
    opt = torch.optim.SGD(module.parameters(), lr=1.0)
    fit(module, x, y, loss="mse", optimizer=opt, batch_size=8, verbose=0, **clip)
    return [p.detach() - b for p, b in zip(module.parameters(), before, strict=True)]


def test_global_clipnorm_limits_the_total_step() -> None:
    step = torch.cat([s.flatten() for s in _one_sgd_step(global_clipnorm=0.5)])
    assert float(step.norm()) == pytest.approx(0.5, rel=1e-5)  # huge gradient, clipped to 0.5


def test_clipnorm_clips_each_variable_like_keras() -> None:
    # Keras 3: clipnorm bounds the norm of every parameter's gradient separately.
    w_step, b_step = _one_sgd_step(clipnorm=0.5)
    assert float(w_step.norm()) == pytest.approx(0.5, rel=1e-5)
    assert float(b_step.norm()) == pytest.approx(0.5, rel=1e-5)
    total = float(torch.cat([w_step.flatten(), b_step.flatten()]).norm())
    assert total == pytest.approx(0.5 * 2**0.5, rel=1e-5)  # not the global norm


def test_clipping_leaves_small_gradients_exactly_unchanged() -> None:
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32) * 1e-3
    y = np.zeros((8, 2), np.float32)
    steps = []
    for clip in ({}, {"clipnorm": 1e3}, {"global_clipnorm": 1e3}, {"clipvalue": 1e3}):
        torch.manual_seed(0)
        module = nn.Linear(3, 2)
        fit(module, x, y, loss="mse", optimizer="sgd", batch_size=8, verbose=0, **clip)
        steps.append([p.detach().clone() for p in module.parameters()])
    for other in steps[1:]:
        assert all(torch.equal(a, b) for a, b in zip(steps[0], other, strict=True))


def test_clipvalue_and_exclusive_clipping_arguments() -> None:
    step = torch.cat([s.flatten() for s in _one_sgd_step(clipvalue=0.1)])
    assert float(step.abs().max()) == pytest.approx(0.1)
    module = nn.Linear(3, 2)
    x = np.ones((8, 3), np.float32)
    y = np.zeros((8, 2), np.float32)
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        fit(module, x, y, loss="mse", optimizer="sgd", clipnorm=1.0, clipvalue=1.0, verbose=0)
    with pytest.raises(ValueError, match="only one of"):
        fit(module, x, y, loss="mse", optimizer="sgd", clipnorm=1.0, global_clipnorm=1.0,
            verbose=0)
    with pytest.raises(ValueError, match=r"expected global_clipnorm > 0"):
        fit(module, x, y, loss="mse", optimizer="sgd", global_clipnorm=0.0, verbose=0)


def _run(seed: int) -> tuple[dict[str, list[float]], dict[str, Tensor]]:
    torch.manual_seed(seed)
    module = mlp(dropout=0.2)
    x, y = regression_data(64)
    hist = fit(
        module,
        x,
        y,
        loss="mse",
        optimizer="adam",
        epochs=3,
        batch_size=16,
        validation_split=0.25,
        verbose=0,
    )
    return hist.history, module.state_dict()


def test_same_seed_reproduces_history_and_weights_bit_for_bit() -> None:
    h1, w1 = _run(123)
    h2, w2 = _run(123)
    assert h1 == h2
    for k in w1:
        assert torch.equal(w1[k], w2[k])
    h3, w3 = _run(124)
    assert h3 != h1
    assert not all(torch.equal(w1[k], w3[k]) for k in w1)


def test_shuffle_generator_argument() -> None:
    x = np.arange(12, dtype=np.float32)[:, None]
    orders = []
    for _ in range(2):
        module = Recorder()
        fit(
            module,
            x,
            x,
            loss="mse",
            optimizer="sgd",
            batch_size=12,
            verbose=0,
            generator=torch.Generator().manual_seed(7),
        )
        orders.append(module.seen(training=True))
    assert orders[0] == orders[1] and orders[0] != list(range(12))
    module = Recorder()
    fit(module, x, x, loss="mse", optimizer="sgd", batch_size=5, shuffle=False, verbose=0)
    assert module.seen(training=True) == list(range(12))


def test_terminate_on_nan_raises_before_the_update() -> None:
    x = np.ones((12, 1), np.float32)
    y = np.ones((12, 1), np.float32)
    y[9] = np.nan  # third batch of 4 in the first epoch
    module = nn.Linear(1, 1)
    seen: list[Tensor] = []

    class Snapshot(Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            seen.append(module.weight.detach().clone())

    with pytest.raises(NonFiniteLossError, match=r"epoch 1/2, step 3/3") as info:
        fit(
            module,
            x,
            y,
            loss="mse",
            optimizer="sgd",
            batch_size=4,
            epochs=2,
            shuffle=False,
            terminate_on_nan=True,
            callbacks=[Snapshot()],
            verbose=0,
        )
    assert isinstance(info.value, FloatingPointError)
    assert (info.value.epoch, info.value.step) == (0, 2)
    assert torch.equal(module.weight.detach(), seen[-1])  # unchanged by the bad step
    assert torch.isfinite(module.weight).all()


def test_keras_stop_training_idiom_and_initial_epoch() -> None:
    class Wrapper:
        stop_training = True  # reset by fit at the start

    class StopAtEpoch1(Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                self.model.stop_training = True

    x = np.ones((4, 1), np.float32)
    hist = fit(
        nn.Linear(1, 1),
        x,
        x,
        loss="mse",
        optimizer="sgd",
        epochs=10,
        initial_epoch=0,
        callbacks=[StopAtEpoch1()],
        callback_model=Wrapper(),
        verbose=0,
    )
    assert hist.epoch == [0, 1]
    hist = fit(
        nn.Linear(1, 1), x, x, loss="mse", optimizer="sgd", epochs=4, initial_epoch=2, verbose=0
    )
    assert hist.epoch == [2, 3]


def test_train_on_batch_and_extra_loss() -> None:
    module = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(1.0)
    x = np.array([[1.0, 2.0]], np.float32)
    y = np.array([[0.0]], np.float32)
    logs = train_on_batch(module, x, y, loss="mse", optimizer=optimizers.SGD(0.1), metrics=["mae"])
    assert logs == {"loss": 9.0, "mae": 3.0}  # before the update
    # d/dw (w.x)^2 = 2 * 3 * x = [6, 12] -> w = 1 - 0.1 * [6, 12]
    torch.testing.assert_close(module.weight.detach(), torch.tensor([[0.4, -0.2]]))
    penalty = lambda: module.weight.square().sum()  # noqa: E731
    hist = fit(
        module, x, y, loss="mse", optimizer=optimizers.SGD(0.1), extra_loss=penalty, verbose=0
    )
    assert hist.history["loss"][0] == pytest.approx(0.0**2 + 0.16 + 0.04)


def test_input_errors_are_clear() -> None:
    module = nn.Linear(2, 1)
    x, y = np.ones((4, 2), np.float32), np.ones((4, 1), np.float32)
    kw: dict = {"loss": "mse", "optimizer": "sgd", "verbose": 0}
    with pytest.raises(ValueError, match="expected the same number of samples, got 4 and 3"):
        fit(module, x, y[:3], **kw)
    with pytest.raises(ValueError, match="expected at least one sample, got 0"):
        fit(module, x[:0], y[:0], **kw)
    with pytest.raises(TypeError, match="expected a numpy array or torch tensor, got list"):
        fit(module, x, [[1.0]] * 4, **kw)
    with pytest.raises(TypeError, match="expected a numeric array, got dtype <U1"):
        fit(module, np.array([["a", "b"]] * 4), y, **kw)
    with pytest.raises(TypeError, match="expected a torch.nn.Module, got function"):
        fit(lambda t: t, x, y, **kw)
    with pytest.raises(ValueError, match=r"expected validation_split in \[0, 1\), got 1.0"):
        fit(module, x, y, validation_split=1.0, **kw)
    with pytest.raises(ValueError, match="expected enough samples to split"):
        fit(module, x[:1], y[:1], validation_split=0.5, **kw)
    with pytest.raises(ValueError, match=r"expected validation_data=\(x_val, y_val\)"):
        fit(module, x, y, validation_data=(x, y, y, y), **kw)
    with pytest.raises(ValueError, match="expected batch_size >= 1, got 0"):
        fit(module, x, y, batch_size=0, **kw)
    with pytest.raises(ValueError, match="expected verbose in"):
        fit(module, x, y, loss="mse", optimizer="sgd", verbose=3)
    with pytest.raises(ValueError, match="expected the loss to return a scalar"):
        fit(
            module, x, y, loss=losses.MeanSquaredError(reduction="none"), optimizer="sgd", verbose=0
        )
    with pytest.raises(TypeError, match="expected the module to return a torch.Tensor"):
        fit(_Dict(), x, y, **kw)
    with pytest.raises(ValueError, match="expected distinct metric names"):
        fit(module, x, y, metrics=["mae", "mae"], **kw)


class _Dict(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"y": self.lin(x)}
