"""pad_sequences against Keras, and the mask helpers."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import lengths_from_mask, mask_from_lengths, mask_from_padded, pad_sequences

os.environ.setdefault("KERAS_BACKEND", "torch")  # keras (a dev dependency) is the reference
from keras.utils import pad_sequences as keras_pad  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 7), min_size=1, max_size=6),
    maxlen=st.one_of(st.none(), st.integers(1, 9)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    features=st.one_of(st.none(), st.integers(1, 3)),
    value=st.sampled_from([0.0, -1.0, 7.0]),
)
def test_matches_keras(lengths, maxlen, padding, truncating, features, value) -> None:
    if max(lengths) == 0 and maxlen is None:
        lengths = [*lengths, 1]
    seqs = []
    for i, n in enumerate(lengths):
        shape = (n,) if features is None else (n, features)
        seqs.append((np.arange(np.prod(shape)).reshape(shape) + 10 * i + 1).tolist())
    for dtype in ("int32", "float32"):
        ours = pad_sequences(seqs, maxlen=maxlen, dtype=dtype, padding=padding,
                             truncating=truncating, value=value)
        ref = keras_pad(seqs, maxlen=maxlen, dtype=dtype, padding=padding,
                        truncating=truncating, value=value)
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        np.testing.assert_array_equal(ours, ref)


def test_keras_examples_and_dtype() -> None:
    seqs = [[1], [2, 3], [4, 5, 6]]
    assert pad_sequences(seqs).tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert pad_sequences(seqs, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert pad_sequences(seqs, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert pad_sequences(seqs, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]
    assert pad_sequences(seqs).dtype == np.int32
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    x = pad_sequences([np.ones((2, 3)), np.ones((4, 3))], dtype="float32")
    assert x.shape == (2, 4, 3) and x.dtype == np.float32 and x[0, :2].sum() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": "middle"}, "expected padding to be 'pre' or 'post', got 'middle'"),
        ({"truncating": "x"}, "expected truncating to be 'pre' or 'post', got 'x'"),
        ({"value": "pad"}, "expected a numeric padding value for dtype int32, got 'pad'"),
    ],
)
def test_pad_errors(kwargs, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        pad_sequences([[1, 2]], **kwargs)


def test_pad_refuses_silent_truncation_and_ragged_samples() -> None:
    with pytest.raises(ValueError, match="expected whole numbers for dtype int32"):
        pad_sequences([[0.5, 1.0]])
    assert pad_sequences([[0.5, 1.0]], dtype="float32").tolist() == [[0.5, 1.0]]
    with pytest.raises(ValueError, match=re.escape("expected every sample to have shape (2,)")):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))], dtype="float32")
    with pytest.raises(ValueError, match="expected every item to be a sequence, got int"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="expected a list of sequences, got str"):
        pad_sequences("abc")


def test_masks_round_trip_with_padding() -> None:
    lengths = np.array([3, 0, 5, 1])
    for side in ("pre", "post"):
        mask = mask_from_lengths(lengths, maxlen=5, padding=side)
        assert mask.shape == (4, 5) and mask.dtype == np.bool_
        np.testing.assert_array_equal(lengths_from_mask(mask), lengths)
        seqs = [list(range(1, n + 1)) for n in lengths]
        padded = pad_sequences(seqs, maxlen=5, padding=side)
        np.testing.assert_array_equal(mask_from_padded(padded), mask)
        feats = pad_sequences([np.ones((n, 2)) for n in lengths], maxlen=5, padding=side,
                              dtype="float32")
        np.testing.assert_array_equal(mask_from_padded(feats), mask)


def test_mask_helpers_errors_and_nan_value() -> None:
    with pytest.raises(ValueError, match="expected lengths <= maxlen=2, got 3"):
        mask_from_lengths([3], maxlen=2)
    with pytest.raises(ValueError, match="expected lengths >= 0, got -1"):
        mask_from_lengths([-1])
    with pytest.raises(ValueError, match="expected a 1-D array of integer lengths"):
        mask_from_lengths([1.5])
    with pytest.raises(ValueError, match=re.escape("expected a mask of shape (batch, time)")):
        lengths_from_mask([1, 0])
    with pytest.raises(ValueError, match="expected a boolean"):
        lengths_from_mask([[2, 0]])
    assert lengths_from_mask(np.array([[1, 0, 1]])).tolist() == [2]
    x = np.array([[[np.nan, np.nan], [1.0, np.nan]]])
    assert mask_from_padded(x, value=float("nan")).tolist() == [[False, True]]
    with pytest.raises(ValueError, match="expected shape"):
        mask_from_padded(np.zeros(3))
    assert mask_from_lengths([], maxlen=4).shape == (0, 4)
