"""The classifier's networks: the default for numeric sequences, the text/token networks and
the non-recurrent baselines.

Numeric sequences (``mode == "features"``) come as two inputs, the padded values
``(batch, T, F)`` and their mask ``(batch, T)`` (1 on real steps). The default network is a
convolutional front end before the recurrent layers (the CNN-LSTM of seed 003, and the
LSTM-FCN family's pooled convolutional branch beside the recurrent one)::

    x -> Conv1D(f1, k, same, relu) -> MaskedMaxPooling1D(p) -> Conv1D(f2, ...) -> ... -> c
    c -> LSTM(u1, return_sequences) ... -> LSTM(un)        (mask: the input mask, pooled)
    c -> GlobalAveragePooling1D                            (mean over the real steps)
    [last LSTM output, pooled c] -> Dense(relu)... -> Dropout -> Dense(softmax)

Long sequences are pooled: a convolution is followed by a max pooling of ``p`` steps
(``pool_size``; 1: none) when the longest training sequence, pooled so far, still has at
least :data:`POOL_FROM` steps. The recurrent layer then reads up to ``p ** len(filters)``
times fewer steps: it trains several times faster per epoch and leaves the plateau at
chance sooner (ArrowHead's 251 steps), while short sequences (8 rows of a digit) keep every
step. The pooling reads the real steps only and zeroes the padding, and the convolutions
after it see zeros past a sequence's end whether it is padded or not; the masked layers
skip the padding, so a sequence's prediction does not depend on how far it is padded.
With ``filters=()`` the recurrent layers read the inputs directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..layers import (
    Bidirectional,
    Concatenate,
    Conv1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    Input,
    MaskedMaxPooling1D,
    ResampleSteps,
    Reshape,
)
from ..model import Model, Sequential
from ._base import Network, build_layer
from ._forecaster import RNN_CELLS

__all__ = ["POOL_FROM", "NetSpec", "build_baseline", "build_network"]

#: the least number of (already pooled) training steps that is pooled after a convolution
POOL_FROM = 32


@dataclass(frozen=True)
class NetSpec:
    """What the classifier's constructor says about its network, plus the fitted shapes."""

    cell: str
    units: tuple[int, ...]
    filters: tuple[int, ...]
    kernel_size: int
    pooling: bool
    pool_size: int
    dense: tuple[int, ...]
    dropout: float
    bidirectional: bool
    layers: Sequence[dict[str, Any]] | None
    input_shape: tuple[int, ...]
    n_classes: int
    vocab: int = 0
    embedding_dim: int = 0


def _recurrent(spec: NetSpec) -> list[Any]:
    rnn = RNN_CELLS[spec.cell.lower()]
    out = []
    for i, u in enumerate(spec.units):
        layer = rnn(u, return_sequences=i < len(spec.units) - 1)
        out.append(Bidirectional(layer) if spec.bidirectional else layer)
    return out


def _head(spec: NetSpec) -> list[Any]:
    out: list[Any] = [Dense(int(d), activation="relu") for d in spec.dense]
    if spec.dropout:
        out.append(Dropout(float(spec.dropout)))
    return [*out, Dense(spec.n_classes, activation="softmax")]


def _features_network(spec: NetSpec) -> Model:
    x = Input(spec.input_shape, name="values")
    mask = Input(spec.input_shape[:1], name="mask")
    c, steps, m = x, Reshape((-1, 1))(mask), mask  # steps: (batch, T, 1)
    length = int(spec.input_shape[0])
    for f in spec.filters:
        c = Conv1D(int(f), spec.kernel_size, padding="same", activation="relu")(c)
        if spec.pool_size > 1 and length >= POOL_FROM:
            length = -(-length // spec.pool_size)
            c = MaskedMaxPooling1D(spec.pool_size)(c, mask=m)  # (batch, ceil(T / p), f)
            steps = MaskedMaxPooling1D(spec.pool_size)(steps)  # (batch, ceil(T / p), 1)
            m = Reshape((-1,))(steps)  # (batch, ceil(T / p)): the pooled mask
    h = c
    for layer in _recurrent(spec):
        h = layer(h, mask=m)  # (batch, units) after the last layer
    if spec.pooling and spec.filters:
        h = Concatenate()([h, GlobalAveragePooling1D()(c, mask=m)])  # (batch, u + f)
    for layer in _head(spec):
        h = layer(h)
    return Model([x, mask], h, name="classifier")


def build_network(spec: NetSpec, mode: str) -> Network:
    """The classifier's network for ``mode`` (``features``: inputs ``[values, mask]``;
    ``text``/``tokens``: ids into an ``Embedding(mask_zero=True)``). Hidden layers given as
    ``layers`` specs run in a ``Sequential`` that receives the mask with the values."""
    if spec.layers is not None:
        hidden = [build_layer(s) for s in spec.layers]
        head = Dense(spec.n_classes, activation="softmax")
        return Sequential([*_inputs(spec, mode), *hidden, head], name="classifier")
    if mode == "features":
        return _features_network(spec)
    return Sequential([*_inputs(spec, mode), *_recurrent(spec), *_head(spec)],
                      name="classifier")


def _inputs(spec: NetSpec, mode: str) -> list[Any]:
    if mode == "features":
        return [Input(spec.input_shape)]
    return [Input(spec.input_shape, dtype="int64"),
            Embedding(spec.vocab, spec.embedding_dim, mask_zero=True)]


def build_baseline(spec: NetSpec, mode: str) -> Network:
    """The non-recurrent baseline: multinomial logistic regression on the flattened scaled
    sequence (numeric: each sequence's real steps resampled to the longest training length,
    so sequences of any length are read, and one of that length is read as it is) or the
    mean of the word embeddings (text/tokens), trained like the network."""
    head = Dense(spec.n_classes, activation="softmax")
    if mode == "features":  # called as model(values, mask): the mask marks the real steps
        steps = ResampleSteps(int(spec.input_shape[0]))  # (batch, T_fit, F)
        return Sequential([*_inputs(spec, mode), steps, Flatten(), head], name="baseline")
    return Sequential([*_inputs(spec, mode), GlobalAveragePooling1D(), head], name="baseline")
