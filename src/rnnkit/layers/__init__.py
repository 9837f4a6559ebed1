"""Layers with Keras 3 semantics and weight layout, on PyTorch."""

from ._activations import ACTIVATIONS, get_activation
from ._attention import AdditiveAttention, Attention
from ._base import LAYERS, Layer, layer_class, register
from ._cell_loop import StackedRNNCells
from ._cells import GRUCell, IndRNNCell, LSTMCell, RecurrentCell, SimpleRNNCell
from ._conv import (
    AveragePooling1D,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaskedMaxPooling1D,
    MaxPooling1D,
)
from ._core import Activation, Dense, Dropout, Embedding, Flatten, Masking, SpatialDropout1D
from ._initializers import INITIALIZERS, get_initializer
from ._merge import Add, Concatenate
from ._min_cells import MinGRUCell, MinLSTMCell
from ._more_recurrent import LayerNormGRU, LayerNormLSTM, MinGRU, MinLSTM
from ._multi_head import MultiHeadAttention
from ._norm import BatchNormalization, LayerNormalization
from ._norm_cells import LayerNormGRUCell, LayerNormLSTMCell
from ._recurrent import GRU, LSTM, RNN, IndRNN, SimpleRNN
from ._reshape import Permute, RepeatVector, ResampleSteps, Reshape
from ._symbolic import Input, Node, SymbolicTensor
from ._wrappers import Bidirectional, TimeDistributed

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LAYERS",
    "GRU",
    "LSTM",
    "RNN",
    "Activation",
    "Add",
    "AdditiveAttention",
    "Attention",
    "AveragePooling1D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRUCell",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "IndRNN",
    "IndRNNCell",
    "Input",
    "LSTMCell",
    "Layer",
    "LayerNormGRU",
    "LayerNormGRUCell",
    "LayerNormLSTM",
    "LayerNormLSTMCell",
    "LayerNormalization",
    "Masking",
    "MaskedMaxPooling1D",
    "MaxPooling1D",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "MultiHeadAttention",
    "Node",
    "Permute",
    "RecurrentCell",
    "RepeatVector",
    "ResampleSteps",
    "Reshape",
    "SimpleRNN",
    "SimpleRNNCell",
    "SpatialDropout1D",
    "StackedRNNCells",
    "SymbolicTensor",
    "TimeDistributed",
    "get_activation",
    "get_initializer",
    "layer_class",
    "register",
]
