"""Live tests against the real provider APIs, through the `easel` binary and
the shipped plugins.toml. Each runs only when its key is in the environment
and reports that it was skipped otherwise (pytest -rs prints the reason).
They cost a few cents per run."""

import os
import subprocess

import pytest

from conftest import EASEL_BIN
from imagebytes import dimensions

LIVE = [
    ("openai", ["OPENAI_API_KEY"], ["--width", "1024", "--height", "1024"]),
    ("gemini", ["GEMINI_API_KEY", "GOOGLE_API_KEY"], ["--aspect-ratio", "1:1"]),
    ("fal", ["FAL_KEY"], ["--model", "fal-ai/flux/schnell"]),
    ("replicate", ["REPLICATE_API_TOKEN"], ["--model", "black-forest-labs/flux-schnell"]),
]


@pytest.mark.parametrize("provider, keys, extra", LIVE, ids=[p for p, _, _ in LIVE])
def test_live_generation(provider, keys, extra, tmp_path):
    if not any(os.environ.get(k) for k in keys):
        pytest.skip(f"live {provider} test skipped: set {' or '.join(keys)} to run it against the real service")
    result = subprocess.run(
        [EASEL_BIN, "--store", str(tmp_path / "store"), "--cache", str(tmp_path / "cache"), "generate",
         "a small red bicycle on a white background", "--provider", provider, *extra],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    _, path = result.stdout.strip().splitlines()[0].split("\t")
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\x89PNG" or data[:2] == b"\xff\xd8":
        assert min(dimensions(data)) >= 256
    for key in keys:
        if os.environ.get(key):
            assert os.environ[key] not in result.stderr, "the key never appears in easel's output"
