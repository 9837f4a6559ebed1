"""Reader of the UEA/UCR ``.ts`` text format (the time-series classification archives that
sktime and aeon read).

A ``.ts`` file holds comment lines (``#``), header lines (``@problemName``, ``@univariate``,
``@classLabel true A B C``, ..., ``@data``) and then one case per line: the channels separated
by ``:``, each channel's values by ``,``, the class label last. ``?`` is a missing value.
Cases may differ in length (``@equalLength false``); the channels of one case may not.

Every malformed line is refused with its line number: the reader never guesses, pads or drops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

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


def _case(line: str, where: str, channels: int | None) -> tuple[NDArray[np.float64], str]:
    """One ``@data`` line -> ``(length, channels)`` values and its label."""
    parts = line.split(":")
    if len(parts) < 2:
        raise ValueError(f"expected channels separated by ':' and a class label last, got a "
                         f"line without ':' {where}")
    label = parts[-1].strip()
    if not label:
        raise ValueError(f"expected a class label after the last ':', got none {where}")
    if channels is not None and len(parts) - 1 != channels:
        raise ValueError(f"expected {channels} channel(s) (as @dimensions or the first case "
                         f"says), got {len(parts) - 1} {where}")
    series = []
    for c, text in enumerate(parts[:-1]):
        tokens = [t.strip() for t in text.split(",")]
        if text.strip().startswith("(") or any(not t for t in tokens):
            what = "time-stamped (t,v) values" if "(" in text else "an empty value"
            raise ValueError(f"expected plain values separated by ',' in channel {c}, got "
                             f"{what} {where}")
        series.append([_number(t, f"in channel {c} {where}") for t in tokens])
    lengths = {len(s) for s in series}
    if len(lengths) > 1:
        raise ValueError(f"expected the channels of one case to have one length, got lengths "
                         f"{[len(s) for s in series]} {where}")
    return np.asarray(series, dtype=np.float64).T, label  # (length, channels)


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
    header: dict[str, str] = {}
    xs: list[NDArray[np.float64]] = []
    labels: list[str] = []
    in_data = False
    channels: int | None = None
    classes: tuple[str, ...] = ()
    for number, raw in enumerate(text.splitlines(), start=1):
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
    Refused, naming the line: a line that is not a header before ``@data``, a case without a
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
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"expected a UTF-8 text .ts file, got undecodable bytes at offset "
                         f"{err.start} of {name!r} (a binary file?)") from None
    return parse_ts(text, repr(name))


def _labels_as_ids(data: TsData) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Class ids in the order the header declares them (private, for the bundled loader)."""
    classes = data.classes or tuple(sorted(set(data.y.tolist())))
    lookup: dict[str, Any] = {c: i for i, c in enumerate(classes)}
    return np.asarray([lookup[label] for label in data.y.tolist()], dtype=np.int64), classes
