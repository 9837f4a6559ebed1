"""Test-wide set-up: Keras (the parity oracle) runs on the torch backend, without TensorFlow."""

import os

os.environ["KERAS_BACKEND"] = "torch"
