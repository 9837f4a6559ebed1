"""Reader of the UEA/UCR ``.ts`` text format (the time-series classification archives that
sktime and aeon read).

A ``.ts`` file holds comment lines (``#``), header lines (``@problemName``, ``@univariate``,
``@classLabel true A B C``, ..., ``@data``) and then one case per line: the channels separated
by ``:``, each channel's values by ``,``, the class label last. ``?`` is a missing value.
Cases may differ in length (``@equalLength false``); the channels of one case may not.

Every malformed line is refused with its line number: the reader never guesses, pads or drops.
:func:`read_ts` opens only regular files and reads one line at a time; each channel's values
are parsed in C without a Python object per value (a channel with anything but plain numbers
and '?' is parsed token by token, without a list of its tokens). Peak memory: about 8x the
longest line (measured: 630 MB above the import for one 80 MB line) plus the float64 result.
"""

from __future__ import annotations

import array
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from .. import _bounded
from ..errors import DataFileError

__all__ = ["TsData", "parse_ts", "read_ts"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, eq=False)
class TsData:
    """The cases of a ``.ts`` file.

    Attributes:
        X: one float64 array ``(length_i, channels)`` per case (``?`` is NaN).
        y: the class label of each case (``str``).
        classes: the labels the header declares (``@classLabel true ...``), in its order.
        header: the header values by lower-case name (``"problemname"``, ``"equallength"``...).

    >>> data = parse_ts("@classLabel true a b\\n@data\\n1,2,3:4,5,6:a\\n7,8:9,10:b\\n")
    >>> [x.shape for x in data.X], data.y.tolist(), data.classes
    ([(3, 2), (2, 2)], ['a', 'b'], ('a', 'b'))
    """

    X: list[NDArray[np.float64]]
    y: NDArray[np.str_]
    classes: tuple[str, ...]
    header: dict[str, str] = field(default_factory=dict)


def _number(token: str, where: str) -> float:
    if token == "?":
        return float("nan")
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"expected numbers (or '?') separated by ',', got {token!r} "
                         f"{where}") from None
    if not np.isfinite(value):
        raise ValueError(f"expected finite numbers (or '?' for missing), got {token!r} {where}")
    return value


MAX_LABEL = 256
_NOT_PLAIN = re.compile(r"nan|inf|x", re.IGNORECASE)  # strtod accepts them, float() differs


def _exact(text: str, c: int, where: str) -> NDArray[np.float64]:
    """The values of channel ``c`` one token at a time (no list of tokens), raising at the
    first empty value or non-number: the path for what the fast one does not accept."""
    out = array.array("d")
    start = 0
    while True:
        end = text.find(",", start)
        token = (text[start:] if end < 0 else text[start:end]).strip()
        if not token:
            raise ValueError(f"expected plain values separated by ',' in channel {c}, got an "
                             f"empty value {where}")
        out.append(_number(token, f"in channel {c} {where}"))
        if end < 0:
            return np.array(out, dtype=np.float64)
        start = end + 1


def _channel(text: str, c: int, where: str) -> NDArray[np.float64]:
    """The values of channel ``c`` ('?' is NaN), parsed by numpy in C when the text holds only
    plain numbers and '?' (then NaN can only come from '?'); else by :func:`_exact`."""
    if text.lstrip().startswith("("):
        raise ValueError(f"expected plain values separated by ',' in channel {c}, got "
                         f"time-stamped (t,v) values {where}")
    if _NOT_PLAIN.search(text) is None:
        try:
            values = np.fromstring(text.replace("?", "nan"), dtype=np.float64, sep=",")
        except ValueError:
            values = None
        if values is not None and len(values) == text.count(",") + 1 \
                and not np.isinf(values).any():
            return values
    return _exact(text, c, where)


def _case(line: str, where: str, channels: int | None) -> tuple[NDArray[np.float64], str]:
    """One ``@data`` line -> ``(length, channels)`` values and its label."""
    parts = line.split(":")
    if len(parts) < 2:
        raise ValueError(f"expected channels separated by ':' and a class label last, got a "
                         f"line without ':' {where}")
    label = parts[-1].strip()
    if not label:
        raise ValueError(f"expected a class label after the last ':', got none {where}")
    if len(label) > MAX_LABEL:  # the labels become one fixed-width array: 4 bytes/char each
        raise ValueError(f"expected a class label of at most {MAX_LABEL} characters, got "
                         f"{len(label)} {where}")
    if channels is not None and len(parts) - 1 != channels:
        raise ValueError(f"expected {channels} channel(s) (as @dimensions or the first case "
                         f"says), got {len(parts) - 1} {where}")
    series = []
    for c, text in enumerate(parts[:-1]):
        series.append(_channel(text, c, where))
    lengths = {len(s) for s in series}
    if len(lengths) > 1:
        raise ValueError(f"expected the channels of one case to have one length, got lengths "
                         f"{[len(s) for s in series]} {where}")
    return np.stack(series, axis=1), label  # (length, channels)


def _header(line: str, where: str, header: dict[str, str]) -> None:
    key, _, value = line[1:].partition(" ")
    key = key.strip().lower()
    if not key:
        raise ValueError(f"expected a header name after '@', got {line!r} {where}")
    if key == "timestamps" and value.strip().lower() == "true":
        raise ValueError(f"expected values without time stamps (@timeStamps false), got "
                         f"@timeStamps true {where}; rnnkit reads plain values only")
    if key == "targetlabel" and value.strip().lower() == "true":
        raise ValueError(f"expected a classification file (@classLabel), got @targetLabel "
                         f"true {where}: regression .ts files are not supported")
    header[key] = value.strip()


def _classes(header: dict[str, str], name: str) -> tuple[str, ...]:
    words = header.get("classlabel", "").split()
    if not words or words[0].lower() != "true":
        raise ValueError(f"expected '@classLabel true <labels>' in the header of {name}, got "
                         f"{('@classLabel ' + header['classlabel']) if words else 'none'}")
    return tuple(words[1:])


def parse_ts(text: str, name: str = "<text>") -> TsData:
    """Parse the text of a ``.ts`` file (``name`` appears in errors). See :func:`read_ts`.

    >>> parse_ts("@classLabel true x\\n@data\\n1,2:x\\n").X[0].tolist()
    [[1.0], [2.0]]
    >>> parse_ts("@classLabel true x\\n@data\\n1,2:3:x\\n")
    Traceback (most recent call last):
    ValueError: expected the channels of one case to have one length, got lengths [2, 1] \
at line 3 of <text>
    """
    return _parse(enumerate(text.splitlines(), start=1), name)


def _parse(lines: Iterable[tuple[int, str]], name: str) -> TsData:
    """The cases of numbered lines (see :func:`parse_ts`)."""
    header: dict[str, str] = {}
    xs: list[NDArray[np.float64]] = []
    labels: list[str] = []
    in_data = False
    channels: int | None = None
    classes: tuple[str, ...] = ()
    for number, raw in lines:
        line = raw.strip()
        where = f"at line {number} of {name}"
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"expected a header line starting with '@' (or '#') before "
                                 f"@data, got {line[:40]!r} {where}")
            _header(line, where, header)
            if line[1:].strip().lower() == "data":
                in_data = True
                dims = header.get("dimensions")
                channels = int(dims) if dims and dims.isdigit() else None
                classes = _classes(header, name)
            continue
        x, label = _case(line, where, channels)
        if channels is None:
            channels = x.shape[1]
        if classes and label not in classes:
            raise ValueError(f"expected a class label among {list(classes)} (@classLabel), "
                             f"got {label!r} {where}")
        xs.append(x)
        labels.append(label)
    if not in_data:
        raise ValueError(f"expected an '@data' line in {name}, got none")
    if not xs:
        raise ValueError(f"expected at least one case after @data in {name}, got none")
    return TsData(xs, np.asarray(labels, dtype=str), classes, header)


def read_ts(path: PathLike) -> TsData:
    """Read a UEA/UCR ``.ts`` classification file (UTF-8 text).

    Returns a :class:`TsData`: ``X`` a list of float64 arrays ``(length_i, channels)`` (cases
    may differ in length; ``?`` becomes NaN), ``y`` the labels, ``classes`` as declared.
    Refused with :class:`rnnkit.errors.DataFileError` naming the file and the line (a
    missing file is a ``FileNotFoundError``; a FIFO, device or folder is refused unread): a
    line that is not a header before ``@data``, a case without a
    label, a channel count that differs from ``@dimensions`` (or the first case), channels of
    different lengths within a case, a value that is not a number, a label the header does
    not declare, time-stamped values, regression files.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.ts"
    >>> _ = p.write_text("@problemName toy\\n@classLabel true up down\\n@data\\n"
    ...                  "1,2,3:up\\n3,2:down\\n")
    >>> data = read_ts(p)
    >>> [x.ravel().tolist() for x in data.X], data.y.tolist()
    ([[1.0, 2.0, 3.0], [3.0, 2.0]], ['up', 'down'])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected path to be a str or os.PathLike, got {type(path).__name__}")
    name = os.fsdecode(path)

    def fail(reason: str) -> DataFileError:
        return DataFileError(reason, path=name)

    with _bounded.open_regular(path, fail) as f:
        try:
            return _parse(_lines(f), "this file")
        except ValueError as err:
            raise fail(str(err)) from None
        except MemoryError:
            raise fail("expected cases that fit in memory, got more") from None


def _lines(f: IO[bytes]) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(f, start=1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"expected UTF-8 text, got undecodable bytes at line {number}, "
                             f"byte {err.start} (a binary file?)") from None


def _labels_as_ids(data: TsData) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Class ids in the order the header declares them (private, for the bundled loader)."""
    classes = data.classes or tuple(sorted(set(data.y.tolist())))
    lookup: dict[str, Any] = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup[label] for label in data.y.tolist()], dtype=np.int64), classes
