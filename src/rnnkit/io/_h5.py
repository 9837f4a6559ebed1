"""Read-only access to untrusted HDF5 files (Keras weights) through h5py, with checks first.

* Only hard links are followed: an external link (another file on disk), a soft link (and so
  a soft-link loop) or a user-defined link is refused, and so are path components ``.``/``..``.
* A dataset is read only if it is a plain float dataset (float16/32/64) whose bytes are all
  stored in this file: no virtual dataset, no external raw storage, no compression or sparse
  chunks (its storage size must cover its shape), and the total read stays within ``capacity``
  (the bytes the container really holds).
* Attributes are read only up to :data:`MAX_ATTR_BYTES` (shape x item size; variable-length
  strings live in the file's heap, bounded by its size).

Every refusal is raised through ``fail(reason)`` (the loader's own error class).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

MAX_ATTR_BYTES = 16 << 20
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def h5py_module() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise ImportError(
            "rnnkit.load_keras needs h5py to read Keras weight files: "
            "pip install 'rnnkit[keras]' (or pip install h5py)"
        ) from e
    return h5py


def text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


class H5Reader:
    """Checked navigation and reads in one HDF5 file. ``capacity``: the most bytes of dataset
    data the file can hold (its size), an upper bound on what all reads together may return."""

    def __init__(self, fail: Callable[[str], Exception], capacity: int) -> None:
        self.h5py = h5py_module()
        self.fail = fail
        self.left = capacity

    def child(self, group: Any, path: str) -> Any:
        """``group[path]`` through hard links only; None when a component is missing."""
        node = group
        for part in path.split("/"):
            if part in ("", ".", ".."):
                raise self.fail(f"expected a plain HDF5 path, got {path!r}")
            if not isinstance(node, self.h5py.Group):
                return None
            key = part.encode("utf-8")
            if not node.id.links.exists(key):
                return None
            kind = node.id.links.get_info(key).type
            if kind != self.h5py.h5l.TYPE_HARD:
                what = {self.h5py.h5l.TYPE_SOFT: "a soft link",
                        self.h5py.h5l.TYPE_EXTERNAL: "an external link (another file)"}
                raise self.fail(
                    f"expected only hard links in the HDF5 file, got {what.get(kind, 'a link')} "
                    f"at {path!r}"
                )
            node = node[part]
        return node

    def group(self, parent: Any, path: str) -> Any:
        node = self.child(parent, path)
        if node is not None and not isinstance(node, self.h5py.Group):
            raise self.fail(f"expected an HDF5 group at {path!r}, got {type(node).__name__}")
        return node

    def attr(self, obj: Any, key: str) -> Any:
        """An attribute's value (None when absent), its storage size checked first."""
        if key not in obj.attrs:
            return None
        aid = obj.attrs.get_id(key)
        size = int(np.prod(aid.shape or (), dtype=object)) * aid.dtype.itemsize
        if size > MAX_ATTR_BYTES:
            raise self.fail(f"expected attribute {key!r} of at most {MAX_ATTR_BYTES} bytes, "
                            f"got {size}")
        return obj.attrs[key]

    def attr_list(self, group: Any, key: str) -> list[str]:
        """A string-list attribute, also when Keras split it into ``key0``, ``key1`` ..."""
        value = self.attr(group, key)
        if value is not None:
            return [text(v) for v in np.atleast_1d(value)]
        out: list[str] = []
        i = 0
        while (part := self.attr(group, f"{key}{i}")) is not None:
            out += [text(v) for v in np.atleast_1d(part)]
            i += 1
        return out

    def dataset_shape(self, ds: Any, where: str) -> tuple[int, ...]:
        """The shape of a dataset that :meth:`read` will accept (checked, nothing read)."""
        if not isinstance(ds, self.h5py.Dataset):
            raise self.fail(f"expected an HDF5 dataset for {where}, got {type(ds).__name__}")
        if ds.is_virtual:
            raise self.fail(f"expected a stored dataset for {where}, got a virtual dataset")
        if ds.id.get_create_plist().get_external_count():
            raise self.fail(f"expected a dataset stored in the file for {where}, got external "
                            "raw storage (another file)")
        if ds.dtype.kind != "f" or ds.dtype.itemsize not in (2, 4, 8) or ds.shape is None:
            raise self.fail(f"expected float16/32/64 weights for {where}, got dtype {ds.dtype} "
                            f"shape {ds.shape}")
        nbytes = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize
        stored = ds.id.get_storage_size()
        if stored < nbytes:
            raise self.fail(f"expected {nbytes} stored bytes for {where} of shape {ds.shape}, got "
                            f"{stored} (compressed, sparse or forged datasets are not read)")
        return tuple(int(d) for d in ds.shape)

    def read(self, ds: Any, where: str) -> np.ndarray:
        shape = self.dataset_shape(ds, where)
        nbytes = int(np.prod(shape, dtype=object)) * ds.dtype.itemsize
        if nbytes > self.left:
            raise self.fail(f"expected datasets that fit in the file, got {where} of {nbytes} "
                            f"bytes with {self.left} left")
        self.left -= nbytes
        return np.asarray(ds[()])
