"""A stranger's path, per language: `easel plugins new` writes a project, its
own build command turns it into a component, its own test (against its fake)
passes through the real `easel`, and `easel plugins check` passes it.

Needs EASEL_BIN, and per language the toolchain the project's README names:
Rust with the wasm32-wasip2 target (cargo on PATH); EASEL_COMPONENTIZE_PY
(componentize-py); EASEL_COMPONENTIZE_JS (componentize-js, whose
node_modules the JS project links instead of running `npm install`).
Each missing one skips its language, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

EASEL_BIN = os.environ.get("EASEL_BIN")
if not EASEL_BIN:
    pytest.skip("EASEL_BIN is not set: build the host and point EASEL_BIN at the easel binary", allow_module_level=True)

NAME = "acme-images"
TIMINGS: list[str] = []


def run(args, cwd, env=None, timeout=900):
    started = time.monotonic()
    result = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result, time.monotonic() - started


def new_project(tmp_path: Path, lang: str) -> Path:
    project = tmp_path / NAME
    result, _ = run([EASEL_BIN, "plugins", "new", NAME, "--lang", lang, "--dir", str(project)], cwd=tmp_path)
    assert "next, in" in result.stdout, result.stdout
    assert (project / "wit" / "image-provider.wit").is_file()
    assert (project / "README.md").is_file()
    return project


def check(wasm: Path, tmp_path: Path) -> dict:
    cache = tmp_path / "check-cache"
    result = subprocess.run(
        [EASEL_BIN, "--cache", str(cache), "plugins", "check", str(wasm), "--json", "--set", "base_url=https://api.example.com"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    failed = [f for f in report["findings"] if f["verdict"] == "fail"]
    assert result.returncode == 0 and not failed, json.dumps(report, indent=2)
    steps = {f["step"]: f for f in report["findings"]}
    assert steps["submit: 401"]["verdict"] == "pass", steps["submit: 401"]
    assert steps["poll: 401"]["verdict"] == "pass", steps.get("poll: 401")
    return report


def record(lang: str, build_s: float, test_s: float, report: dict) -> None:
    facts = report["facts"]
    TIMINGS.append(
        f"{lang}: component {facts['file_bytes'] / 2**20:.1f} MiB, build {build_s:.0f} s, own test {test_s:.0f} s, "
        f"compile {facts['compile_ms'] / 1e3:.1f} s, describe {facts['describe_ms']:.1f} ms, median call {facts['call_ms']:.1f} ms"
    )
    print(TIMINGS[-1])


def test_a_new_rust_plugin_builds_passes_its_test_and_the_check(tmp_path):
    if not shutil.which("cargo"):
        pytest.skip("cargo is not on PATH")
    project = new_project(tmp_path, "rust")
    # Its own target directory (EASEL_SCAFFOLD_TARGET keeps it between CI runs).
    target = Path(os.environ.get("EASEL_SCAFFOLD_TARGET") or project / "target")
    env = {"CARGO_TARGET_DIR": str(target), "EASEL_BIN": EASEL_BIN}
    _, build_s = run(["cargo", "build", "--release", "--target", "wasm32-wasip2"], cwd=project, env=env)
    wasm = target / "wasm32-wasip2" / "release" / "acme_images.wasm"
    assert wasm.is_file()
    result, test_s = run(["cargo", "test", "--release"], cwd=project, env=env)
    assert "SKIPPED" not in result.stderr, result.stderr
    record("rust", build_s, test_s, check(wasm, tmp_path))


def test_a_new_python_plugin_builds_passes_its_test_and_the_check(tmp_path):
    tool = os.environ.get("EASEL_COMPONENTIZE_PY")
    if not tool:
        pytest.skip("EASEL_COMPONENTIZE_PY is not set (pip install componentize-py==0.25.1)")
    project = new_project(tmp_path, "python")
    assert "componentize-py==0.25.1" in (project / "requirements-dev.txt").read_text()
    _, build_s = run(
        [tool, "-d", "wit", "-w", "image-provider", "componentize", "--stub-wasi", "app", "-o", "acme_images.wasm"],
        cwd=project,
    )
    python = Path(tool).parent / "python"
    result, test_s = run([str(python), "-m", "unittest", "-v"], cwd=project, env={"EASEL_BIN": EASEL_BIN})
    assert "skipped" not in result.stderr.lower(), result.stderr
    record("python", build_s, test_s, check(project / "acme_images.wasm", tmp_path))


def test_a_new_javascript_plugin_builds_passes_its_test_and_the_check(tmp_path):
    tool = os.environ.get("EASEL_COMPONENTIZE_JS")
    if not tool or not shutil.which("npm"):
        pytest.skip("EASEL_COMPONENTIZE_JS is not set (npm install @bytecodealliance/componentize-js@0.23.0)")
    project = new_project(tmp_path, "js")
    package = json.loads((project / "package.json").read_text())
    assert package["devDependencies"]["@bytecodealliance/componentize-js"] == "0.23.0"
    # The installed toolchain stands in for `npm install` (no download per test run).
    (project / "node_modules").symlink_to(Path(tool).parent.parent)
    _, build_s = run(["npm", "run", "build"], cwd=project)
    result, test_s = run(["npm", "test"], cwd=project, env={"EASEL_BIN": EASEL_BIN})
    assert "# skipped 0" in result.stdout or "skipped" not in result.stdout.lower(), result.stdout
    record("js", build_s, test_s, check(project / "acme_images.wasm", tmp_path))
