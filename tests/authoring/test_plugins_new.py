"""A stranger's path, per language: `easel plugins new` writes a project, its
own build command turns it into a component, its own test (against its fake)
passes through the real `easel`, `easel plugins check` passes it, and
`easel plugins push` publishes it to a local OCI registry (Debian's
docker-registry) from which a plugins.toml with the printed `oci` + `digest`
loads it.

Needs EASEL_BIN, and per language the toolchain the project's README names:
Rust with the wasm32-wasip2 target (cargo on PATH); EASEL_COMPONENTIZE_PY
(componentize-py); EASEL_COMPONENTIZE_JS (componentize-js, whose
node_modules the JS project links instead of running `npm install`).
Each missing one skips its language, saying so; without docker-registry on
PATH the publishing step is skipped (and fails under CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
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


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A docker-registry on 127.0.0.1, or None when it is not installed."""
    binary = shutil.which("docker-registry")
    if not binary:
        assert not os.environ.get("CI"), "docker-registry is not installed; tests/run.sh installs it"
        print("skipped publishing: docker-registry is not installed (apt-get install docker-registry)")
        yield None
        return
    root = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (root / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    child = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.05)
    yield f"127.0.0.1:{port}"
    child.kill()
    child.wait()


def publish(wasm: Path, lang: str, registry: str | None, tmp_path: Path) -> None:
    """Push the component and load it from the registry by the printed entry."""
    if registry is None:
        return
    target = f"{registry}/acme/{NAME}-{lang}:0.1.0"
    result, _ = run([EASEL_BIN, "plugins", "push", str(wasm), f"oci://{target}"], cwd=tmp_path)
    digest = next(line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("digest "))
    assert f'oci = "{target}"\ndigest = "{digest}"' in result.stdout, result.stdout
    config = tmp_path / "published.toml"
    config.write_text(
        f'[plugins.{NAME}]\noci = "{target}"\ndigest = "{digest}"\nallowed_hosts = ["https://api.example.com"]\n'
        f'[plugins.{NAME}.config]\nbase_url = "https://api.example.com"\n'
    )
    listed, _ = run([EASEL_BIN, "--config", str(config), "--cache", str(tmp_path / "oci-cache"), "plugins", "list"], cwd=tmp_path)
    line = next(line for line in listed.stdout.splitlines() if line.startswith(NAME))
    assert "unavailable" not in line, listed.stdout


def record(lang: str, build_s: float, test_s: float, report: dict) -> None:
    facts = report["facts"]
    TIMINGS.append(
        f"{lang}: component {facts['file_bytes'] / 2**20:.1f} MiB, build {build_s:.0f} s, own test {test_s:.0f} s, "
        f"compile {facts['compile_ms'] / 1e3:.1f} s, describe {facts['describe_ms']:.1f} ms, median call {facts['call_ms']:.1f} ms"
    )
    print(TIMINGS[-1])


def test_a_new_rust_plugin_builds_passes_its_test_and_the_check_and_publishes(tmp_path, registry):
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
    publish(wasm, "rust", registry, tmp_path)


def test_a_new_python_plugin_builds_passes_its_test_and_the_check_and_publishes(tmp_path, registry):
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
    publish(project / "acme_images.wasm", "python", registry, tmp_path)


def test_a_new_javascript_plugin_builds_passes_its_test_and_the_check_and_publishes(tmp_path, registry):
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
    publish(project / "acme_images.wasm", "js", registry, tmp_path)
