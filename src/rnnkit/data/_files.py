"""Untrusted data files read with bounded memory: ``.npy``/``.npz`` arrays and UTF-8 text.

An array is allocated only after its ``.npy`` header was checked against the bytes that hold
it: the header's shape x item size must equal what the file (or the ``.npz`` member, as its
central directory declares, itself bounded by the archive's size) holds after the header.
Only plain dtypes are accepted (bool, integers, floats, complex, fixed-width strings): object
arrays (pickles) and structured dtypes are refused, never unpickled. Only regular files are
opened (a FIFO is refused, not read). Every problem is a :class:`rnnkit.errors.DataFileError`
naming the file; a missing file is a ``FileNotFoundError``.
"""

from __future__ import annotations

import os
import tokenize
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from .. import _bounded
from ..errors import DataFileError

PathLike = str | os.PathLike[str]
MAX_NPY_HEADER = 1 << 16
MAX_NPZ_MEMBERS = 256
_KINDS = "biufcUS"
_ZIP_ERRORS = _bounded.ZIP_READ_ERRORS


def _failer(path: PathLike) -> _bounded.Fail:
    def fail(reason: str) -> DataFileError:
        return DataFileError(reason, path=os.fsdecode(path))

    return fail


def _check_path(path: Any) -> None:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"expected path to be a str or os.PathLike, got {type(path).__name__}")


def _header(stream: IO[bytes], fail: _bounded.Fail, name: str) -> tuple[np.dtype, tuple, bool]:
    """(dtype, shape, fortran_order) of a ``.npy`` header, refusing pickles and odd dtypes."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream, MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream, MAX_NPY_HEADER)
        else:
            raise fail(f"expected .npy format 1.0 or 2.0 in {name}, got {version}")
    except DataFileError:
        raise
    except (ValueError, TypeError, SyntaxError, EOFError, OverflowError, MemoryError,
            RecursionError, UnicodeError, tokenize.TokenError, *_ZIP_ERRORS) as e:
        raise fail(f"expected a .npy header in {name}, got {type(e).__name__}: {e}") from None
    if dtype.hasobject:
        raise fail(f"expected numeric arrays in {name}, got a pickled (object) array; rnnkit "
                   "never unpickles files: save numeric arrays, e.g. "
                   "np.savez(path, X=X.astype('float32'), y=y)")
    if dtype.kind not in _KINDS or dtype.names is not None or dtype.shape != ():
        raise fail(f"expected a plain numeric or string dtype in {name}, got {dtype}")
    return dtype, tuple(shape), bool(fortran)


def _read_array(stream: IO[bytes], size: int, fail: _bounded.Fail, name: str) -> NDArray[Any]:
    """One ``.npy`` of ``size`` bytes (as declared by the file system or the zip directory)."""
    dtype, shape, fortran = _header(stream, fail, name)
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    body = size - stream.tell()
    if nbytes != body:
        raise fail(f"expected {body} bytes of data in {name} after its header, got a header "
                   f"declaring {nbytes} ({shape} {dtype}): truncated, padded or forged")
    try:
        buf = _bounded.read_exact(stream, nbytes, fail, name)
    except _ZIP_ERRORS as e:
        raise fail(f"expected intact data in {name}, got {type(e).__name__}: {e}") from None
    flat = np.frombuffer(buf, dtype=dtype)
    return flat.reshape(shape, order="F" if fortran else "C")


def load_npy(path: PathLike) -> NDArray[Any]:
    """The array of a ``.npy`` file (checked header, bounded read)."""
    _check_path(path)
    fail = _failer(path)
    with _bounded.open_regular(path, fail) as f:
        return _read_array(f, _bounded.file_size(f), fail, "the file")


def is_npz(path: PathLike) -> bool:
    """Whether ``path`` starts like a zip archive (an ``.npz``) rather than a ``.npy``."""
    _check_path(path)
    with _bounded.open_regular(path, _failer(path)) as f:
        return f.read(2) == b"PK"


def read_npz_arrays(path: PathLike, keys: Sequence[str] | None = None) -> dict[str, NDArray[Any]]:
    """Arrays of an ``.npz`` archive (all, or ``keys``; a missing key is a DataFileError).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
    >>> np.savez_compressed(p, X=np.zeros((3, 4, 2)), y=np.array([0, 1, 1]))
    >>> {k: v.shape for k, v in read_npz_arrays(p).items()}
    {'X': (3, 4, 2), 'y': (3,)}
    >>> np.save(p.with_suffix(".npy"), np.zeros(3))
    >>> read_npz_arrays(p.with_suffix(".npy"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rnnkit.errors.DataFileError: data file '...d.npy': expected a zip archive, got no \
end-of-central-directory record
    """
    _check_path(path)
    fail = _failer(path)
    with _bounded.open_regular(path, fail) as f, _bounded.open_zip(f, fail, MAX_NPZ_MEMBERS) as z:
        members = {n.removesuffix(".npy"): n for n in z.namelist()}
        wanted = list(members) if keys is None else list(keys)
        missing = [k for k in wanted if k not in members]
        if missing:
            raise fail(f"expected arrays {missing} in the .npz archive, got {sorted(members)}")
        out = {}
        for key in wanted:
            info = z.getinfo(members[key])
            try:
                with z.open(info) as stream:
                    out[key] = _read_array(stream, info.file_size, fail, f"member {key!r}")
            except _ZIP_ERRORS as e:
                raise fail(f"expected an intact member {key!r}, got {type(e).__name__}: {e}"
                           ) from None
        return out


def read_text(path: PathLike, limit: int = 1 << 30) -> str:
    r"""A UTF-8 text file (at most ``limit`` bytes), refusing undecodable bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
    >>> _ = p.write_bytes("héllo".encode("utf-8"))
    >>> read_text(p)
    'héllo'
    >>> _ = p.write_bytes(b"\xff\xfe")
    >>> read_text(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rnnkit.errors.DataFileError: data file '...t.txt': expected UTF-8 text, got undecodable ...
    """
    _check_path(path)
    fail = _failer(path)
    data = _bounded.read_file(path, limit, fail)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise fail(f"expected UTF-8 text, got undecodable bytes at offset {err.start} "
                   "(a binary file?)") from None
