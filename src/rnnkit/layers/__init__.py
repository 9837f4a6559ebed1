"""Layers with Keras 3 semantics and weight layout, on PyTorch."""

from ._activations import ACTIVATIONS, get_activation
from ._base import LAYERS, Layer, layer_class, register
from ._cells import GRUCell, IndRNNCell, LSTMCell, RecurrentCell, SimpleRNNCell
from ._conv import Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from ._core import Activation, Dense, Dropout, Embedding, Flatten, Masking
from ._initializers import INITIALIZERS, get_initializer
from ._merge import Add, Concatenate
from ._recurrent import GRU, LSTM, RNN, IndRNN, SimpleRNN
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
    "Masking",
    "MaxPooling1D",
    "Node",
    "RecurrentCell",
    "SimpleRNN",
    "SimpleRNNCell",
    "SymbolicTensor",
    "TimeDistributed",
    "get_activation",
    "get_initializer",
    "layer_class",
    "register",
]
