"""Padding never changes a masked result: trailing padding is trimmed exactly, and a mask
given in the functional API (``layer(x, mask=m)``) reaches the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.layers import GRU, LSTM, Conv1D, Dense, GlobalAveragePooling1D, Input
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
