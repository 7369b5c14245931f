#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, property, crash,
# tamper, golden, and the real binary in child processes).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
