"""Atomic, verifiable training checkpoints for exact resume (``fit(..., checkpoint_dir=...)``).

A checkpoint is a directory ``checkpoint_dir/epoch-NNNN`` (``NNNN`` = epochs completed)::

    weights.safetensors    module.state_dict()
    optimizer.safetensors  the tensors of optimizer.state_dict() (moments, step counts)
    state.safetensors      other tensors: RNG states (uint8), callback tensors
    state.json             everything else: epoch, History, optimizer hyper-parameters and
                           learning rate per param group, RNG states of numpy / python, the
                           callbacks' state_dict()s, fit's parameters
    manifest.json          written last: size and SHA-256 of each file above

Writing is atomic: the files go to ``checkpoint_dir/.tmp-<random>``, each is fsync'd, the manifest
is written and fsync'd last, the folder is fsync'd and renamed to ``epoch-NNNN``, then
``checkpoint_dir`` is fsync'd. A crash at any moment leaves either the previous checkpoints
or the new one complete; stale ``.tmp-*`` / ``.trash-*`` folders are ignored and removed by the
next write. Only the newest ``keep_last`` checkpoints are kept (older ones are renamed to
``.trash-*`` first, then deleted).

Reading verifies the manifest (every size and hash) before parsing anything, parses only
safetensors and JSON (nothing is unpickled), and checks every value's type. A damaged file
raises :class:`CheckpointCorruptError`; a checkpoint that does not fit the module / optimizer /
callbacks raises :class:`CheckpointMismatchError`. Both name the file and the reason, and
both are raised before anything in memory changes.

The JSON encoding is strict JSON: a dict with string keys is a JSON object; a tensor is
``{"__tensor__": name}`` (its data in a safetensors file), a tuple ``{"__tuple__": [...]}``,
another dict ``{"__dict__": [[key, value], ...]}`` (int keys, as in an optimizer's state), a
non-finite float ``{"__float__": "nan"}``, a numpy array ``{"__ndarray__": {"dtype", "shape",
"data"}}``.

Where the code lives: the file names, errors and JSON encoding in :mod:`.format`; writing,
listing and verified reading of the folders (:class:`Checkpoint`, :func:`read_checkpoint`) in
:mod:`.files`; what a checkpoint captures of a run and how it is put back (RNG states,
:func:`save_training_checkpoint`, the checks and restore of a resume: :func:`check_resume`,
:func:`apply_resume`, :func:`load_checkpoint`) in :mod:`.resume`. Every public name is
importable from this package.
"""

from .files import Checkpoint, latest_checkpoint, list_checkpoints, read_checkpoint
from .format import (
    FILES,
    MANIFEST,
    OPTIMIZER,
    STATE,
    STATE_TENSORS,
    WEIGHTS,
    CheckpointCorruptError,
    CheckpointError,
    CheckpointMismatchError,
    NonFiniteWeightsError,
)
from .resume import apply_resume, check_resume, load_checkpoint, save_training_checkpoint

__all__ = [
    "FILES",
    "MANIFEST",
    "OPTIMIZER",
    "STATE",
    "STATE_TENSORS",
    "WEIGHTS",
    "Checkpoint",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointMismatchError",
    "NonFiniteWeightsError",
    "apply_resume",
    "check_resume",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "read_checkpoint",
    "save_training_checkpoint",
]
