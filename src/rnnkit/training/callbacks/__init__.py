"""Keras-style callbacks working on any ``torch.nn.Module``.

The loop gives every callback (before ``on_train_begin``):

* ``callback.model``: the object passed as ``callback_model`` to ``fit`` (default: the module);
* ``callback.state``: the :class:`TrainState` of the run (module, torch optimizer, params,
  ``stop_training`` flag, metric directions, progress writer);
* ``callback.params``: ``{"epochs", "steps", "verbose", "batch_size", "samples"}``;
* ``callback.optimizer``: shortcut for ``callback.state.optimizer`` (the torch optimizer).

To stop training call ``self.stop()`` (sets ``state.stop_training``); Keras's idiom
``self.model.stop_training = True`` also works when ``model`` carries such an attribute.
Training stops after the current batch (batch hooks) or epoch (epoch hooks); the interrupted
epoch still gets its validation and ``on_epoch_end``, like Keras.

Epoch indices passed to hooks are 0-based (Keras); messages and file names use ``epoch + 1``.

Resumable state: a callback whose behaviour depends on earlier epochs (counters, best values)
overrides :meth:`Callback.state_dict` / :meth:`Callback.load_state_dict`, so that
``fit(..., checkpoint_dir=...)`` can store it in a checkpoint and restore it on resume. The state
holds JSON-compatible values (None, bool, int, float, str, lists, tuples, dicts) and tensors.

Where the code lives: the protocol (:class:`TrainState`, :class:`Callback`, the hook dispatch)
in :mod:`.base`; the simple callbacks (:class:`History`, :class:`TerminateOnNaN`,
:class:`CSVLogger`) in :mod:`.basic`; the monitoring ones (:class:`EarlyStopping`,
:class:`ReduceLROnPlateau`) in :mod:`.monitor` and :class:`ModelCheckpoint` in
:mod:`.model_checkpoint`; the experiment loggers in :mod:`.loggers`. Every public callback name
is importable from this package.
"""

from .base import Callback, TrainState
from .basic import CSVLogger, History, TerminateOnNaN
from .loggers import JSONLogger, TensorBoardLogger, default_loggers
from .model_checkpoint import ModelCheckpoint, save_state_dict
from .monitor import EarlyStopping, ReduceLROnPlateau

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "JSONLogger",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TensorBoardLogger",
    "TerminateOnNaN",
    "TrainState",
    "default_loggers",
    "save_state_dict",
]
