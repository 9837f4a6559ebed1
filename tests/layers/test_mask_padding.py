"""Padding never changes a masked result: trailing padding is trimmed exactly, and a mask
given in the functional API (``layer(x, mask=m)``) reaches the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.layers import (
    GRU,
    LSTM,
    Conv1D,
    Dense,
    GlobalAveragePooling1D,
    Input,
    MaskedMaxPooling1D,
    ResampleSteps,
)
from rnnkit.model import Model


@pytest.mark.parametrize("layer_cls", [LSTM, GRU])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_trailing_padding_is_exact(layer_cls: type, go_backwards: bool) -> None:
    torch.manual_seed(0)
    layer = layer_cls(5, go_backwards=go_backwards, return_state=True)
    x = torch.randn(3, 9, 2)
    lengths = torch.tensor([4, 2, 6])
    mask = torch.arange(9)[None, :] < lengths[:, None]  # (3, 9)
    padded = layer(x, mask=mask)
    trimmed = layer(x[:, :6], mask=mask[:, :6])
    for a, b in zip(padded, trimmed, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for i, n in enumerate(lengths.tolist()):  # each row as if it stood alone, unpadded
        alone = layer(x[i : i + 1, :n])
        torch.testing.assert_close(padded[0][i : i + 1], alone[0], rtol=1e-6, atol=1e-6)
    none = torch.zeros(3, 9, dtype=torch.bool)  # nothing real: nothing to trim
    assert layer(x, mask=none)[0].shape == (3, 5)


def test_functional_mask_keyword_reaches_the_layer() -> None:
    torch.manual_seed(1)
    x_in, m_in = Input((7, 2)), Input((7,))
    conv = Conv1D(4, 3, padding="same", activation="relu")(x_in)
    h = LSTM(3)(conv, mask=m_in)
    g = GlobalAveragePooling1D()(conv, mask=m_in)
    model = Model([x_in, m_in], [Dense(2)(h), g])
    x = torch.randn(2, 7, 2)
    x[0, 4:] = 0.0  # padding of row 0 (zeros, as the classifier pads)
    mask = torch.ones(2, 7)
    mask[0, 4:] = 0.0
    out, pooled = model(x, mask)
    short, short_pooled = model(x[:1, :4], mask[:1, :4])
    torch.testing.assert_close(out[:1], short, rtol=1e-6, atol=1e-6)
    # the pooled conv features average the real steps only; 'same' padding sees the zeros
    # beyond step 3 either way, so row 0 equals the unpadded sequence exactly
    torch.testing.assert_close(pooled[:1], short_pooled, rtol=1e-6, atol=1e-6)
    unmasked = Model([x_in, m_in], [Dense(2)(LSTM(3)(conv)), g])
    assert not np.allclose(unmasked(x, mask)[0][:1].detach(), out[:1].detach())


def test_resample_steps_reads_real_steps_only() -> None:
    """ResampleSteps interpolates each sequence over its own real steps; a sequence of the
    target length passes unchanged, whatever padding follows it."""
    layer = ResampleSteps(5)
    x = torch.zeros(2, 7, 1)
    x[0, :5, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    x[1, :3, 0] = torch.tensor([0.0, 10.0, 20.0])
    x[:, 5:] = 99.0  # padding, never read
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0]], dtype=torch.float32)
    out = layer(x, mask=mask)
    assert out.shape == (2, 5, 1)
    assert out[0, :, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert out[1, :, 0].tolist() == pytest.approx([0.0, 5.0, 10.0, 15.0, 20.0])
    assert ResampleSteps(7)(x)[0, :, 0].tolist() == x[0, :, 0].tolist()
    with pytest.raises(ValueError, match="positive int"):
        ResampleSteps(0)


def test_masked_max_pooling_ignores_padding_and_pools_the_mask() -> None:
    """Padding never enters a max (even when larger than every real value), windows start at
    step 0, the output mask marks windows holding a real step; without a mask the last,
    shorter window is pooled as it is."""
    layer = MaskedMaxPooling1D(2)
    x = torch.tensor([[[-1.0], [-3.0], [-2.0], [50.0], [50.0]]])  # 3 real steps, then padding
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]])
    assert layer(x, mask=mask)[0, :, 0].tolist() == [-1.0, -2.0, 0.0]
    assert layer.compute_mask(x, mask).tolist() == [[True, True, False]]
    unpadded = layer(x[:, :3])  # the same sequence without padding: same real windows
    assert unpadded[0, :, 0].tolist() == [-1.0, -2.0]
    assert layer.compute_output_shape((None, 5, 1)) == (None, 3, 1)
    with pytest.raises(ValueError, match="positive int"):
        MaskedMaxPooling1D(0)
