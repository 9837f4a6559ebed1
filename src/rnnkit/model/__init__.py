"""Models: ``Sequential`` and the functional ``Model``, with Keras's compile/fit/evaluate/predict.

The models are ``torch.nn.Module`` graphs of rnnkit layers that carry masks from layer to layer.
Training is delegated to :mod:`rnnkit.training`, which works on any module.

The package, one module per idea: ``_base`` (compile/fit/evaluate/predict, weights, summary,
save), ``_sequential`` (Sequential), ``_functional`` (Model and its graph orders), ``_loading``
(``model_from_config``, ``load_model``), ``_entries`` (a layer's call, mask and config entries)
and ``_exporters`` (the writers ``rnnkit.io`` registers).
"""

from ._base import ArrayLike
from ._exporters import EXPORTERS, register_exporter
from ._functional import Model
from ._loading import MAX_LAYERS, count_layer_entries, load_model, model_from_config
from ._sequential import Sequential

__all__ = [
    "EXPORTERS",
    "MAX_LAYERS",
    "ArrayLike",
    "Model",
    "Sequential",
    "count_layer_entries",
    "load_model",
    "model_from_config",
    "register_exporter",
]
