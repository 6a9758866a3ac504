"""Building the int8 encoder leaves Python's logging as it found it: onnxruntime's quantizer
logs through the module-level ``logging.warning``, which set up the root logger's default
handler the first time, and every later warning of that CLI run then printed with a raw
``WARNING:engine.training:`` prefix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = """
import logging, sys
from pathlib import Path
from engine.encoders import export_int8_onnx, _packaged_minilm
export_int8_onnx(str(_packaged_minilm()), Path(sys.argv[1]))
print("handlers", len(logging.getLogger().handlers))
"""


def test_building_the_int8_encoder_sets_up_no_logging(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "model.onnx")],
        capture_output=True, text=True, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.onnx").stat().st_size > 0
    assert "handlers 0" in done.stdout, done.stdout
    assert "WARNING:" not in done.stderr, done.stderr
