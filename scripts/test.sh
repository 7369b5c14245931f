#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, property, crash,
# tamper, golden, the real binary in child processes, and the dashboard in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The host-scraping tests run a real node_exporter: Debian's, installed once if missing.
if [ ! -x /usr/bin/prometheus-node-exporter ]; then
    echo "installing prometheus-node-exporter for the host-scraping tests" >&2
    (
        # Its package would start the exporter as a service; a policy-rc.d that answers
        # 101 ("not allowed") keeps the install from starting anything, and goes after it.
        policy=/usr/sbin/policy-rc.d
        if [ ! -e "$policy" ]; then
            trap 'rm -f "$policy"' EXIT
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod +x "$policy"
        fi
        install_exporter() {
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                prometheus-node-exporter >/dev/null
        }
        # Stale package lists are the usual reason it fails: refresh them once and retry.
        install_exporter 2>/dev/null || { apt-get update -qq && install_exporter; }
    )
fi
# The /metrics test checks the exposition with promtool: Debian's prometheus package,
# installed once if missing, with the same policy-rc.d so its service does not start.
if ! command -v promtool >/dev/null; then
    echo "installing prometheus (for promtool) for the /metrics test" >&2
    (
        policy=/usr/sbin/policy-rc.d
        if [ ! -e "$policy" ]; then
            trap 'rm -f "$policy"' EXIT
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod +x "$policy"
        fi
        install_prometheus() {
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                prometheus >/dev/null
        }
        install_prometheus 2>/dev/null || { apt-get update -qq && install_prometheus; }
    )
fi
# The PostgreSQL event-store tests start their own server (initdb and postgres in a temp
# dir, on a free loopback port): Debian's postgresql, installed once if missing, with the
# same policy-rc.d so the package's own cluster service does not start.
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    echo "installing postgresql for the PostgreSQL event-store tests" >&2
    (
        policy=/usr/sbin/policy-rc.d
        if [ ! -e "$policy" ]; then
            trap 'rm -f "$policy"' EXIT
            printf '#!/bin/sh\nexit 101\n' >"$policy"
            chmod +x "$policy"
        fi
        install_postgresql() {
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                postgresql >/dev/null
        }
        install_postgresql 2>/dev/null || { apt-get update -qq && install_postgresql; }
    )
fi
# The notification tests run a real SMTP server: Python's aiosmtpd (STARTTLS, TLS, AUTH).
python3 -c 'import aiosmtpd' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'aiosmtpd==1.4.6'
# The OpenAPI test validates /api/v1/openapi.json, and the live answers against its schemas,
# with Python's openapi-spec-validator (it brings openapi-schema-validator); offline once installed.
python3 -c 'import openapi_spec_validator, openapi_schema_validator' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'openapi-spec-validator==0.9.0'
# The dashboard's browser tests drive Debian's Chromium (headless) with playwright-core.
if [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium for the dashboard's browser tests" >&2
    install_chromium() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium fonts-dejavu-core >/dev/null
    }
    install_chromium 2>/dev/null || { apt-get update -qq && install_chromium; }
fi
# cargo's build script installs web/'s locked npm packages and builds the dashboard.
cargo test --locked
# The dashboard's own unit tests, then the dashboard end to end: the debug binary cargo
# test built, a real browser.
(cd web && npm run --silent test && npm run --silent e2e)
