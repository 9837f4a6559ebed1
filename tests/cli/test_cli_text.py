"""`rnnkit text FILE`: a character model on any text file within a time budget; seeds with
characters the vocabulary lacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import TEXT, invoke


def test_text_trains_on_a_file_within_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text(TEXT + "The end.\n", encoding="utf-8")
    out = tmp_path / "run"
    result = invoke("text", path, "--max-time", "3", "--units", "8", "--seq-length", "20",
                    "--length", "30", "--out", out, "--verbose", "0")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_seconds"] < 60 and metrics["bits_per_char"] > 0
    assert "unigram" in result.output and str(out) in result.output
    assert metrics["sample"].startswith("ROMEO: but soft, what light")
    ok = invoke("generate", out, "--seed", "ROMEO: \u00e9t\u00e9", "--length", "5",
                "--unknown", "skip", "--random-state", "0")
    assert ok.exit_code == 0, ok.output
    unk = invoke("generate", out, "--seed", "ROMEO: \u00e9", "--length", "5", "--unknown",
                 "unk")
    assert unk.exit_code == 0, unk.output
    refused = invoke("generate", out, "--seed", "ROMEO: \u00e9t\u00e9", "--length", "5")
    assert refused.exit_code == 1
    assert "'\u00e9' (U+00E9) at position 7 (2 unknown character(s))" in refused.output
    assert "--unknown skip" in refused.output and "--unknown unk" in refused.output
    assert invoke("generate", out, "--unknown", "drop").exit_code == 2


def test_text_refuses_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    result = invoke("text", path, "--max-time", "1")
    assert result.exit_code == 1 and "expected UTF-8 text, got undecodable" in result.output
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    result = invoke("text", fifo, "--max-time", "1")  # refused at once, never blocks
    assert result.exit_code == 1 and "expected a regular file, got a FIFO" in result.output
