#!/usr/bin/env bash
# Every test of lienthong, on a fresh Debian machine as root: installs what the tests need, then
# runs formatting and lint checks, the whole test suite, and a bounded fuzzing run.
#
#   FUZZ_SECONDS=N   how long the fuzzer runs (default 60; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n== %s ==\n' "$*"; }

install_debian_packages() {
    # g++: libFuzzer is C++; python3 (+ venv): the independent XML reader and the validators'
    # virtual environment; openssl: the independent verifier of certificates and CRLs;
    # softhsm2 + opensc: a PKCS#11 device for the CA's keys, and pkcs11-tool to inspect it;
    # curl: an independent HTTP client for the CA's JSON API; sqlite3: tampering tests;
    # xmlsec1: the independent signer and verifier of XML signatures on edXML packages;
    # chromium + nodejs/npm: the web inbox's end-to-end test drives headless Chromium from Node.
    local wanted=(g++ python3 python3-venv openssl ca-certificates softhsm2 opensc curl sqlite3 xmlsec1 chromium) missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    # Node may come from elsewhere (NodeSource's nodejs includes npm and conflicts with Debian's):
    # Debian's packages only when the commands are missing.
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
    if ((${#missing[@]})); then
        say "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

start_postgresql() {
    # The storage conformance story also runs on PostgreSQL at 127.0.0.1:5432 (user postgres,
    # trust auth); start the cluster if it is installed and down.
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
        say "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        export LIENTHONG_TEST_POSTGRES="${LIENTHONG_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
    fi
}

require_rust() {
    if ! command -v cargo >/dev/null; then
        echo "cargo is not installed: lienthong needs Rust 1.91 or newer (rustup, or the machine image's toolchain)." >&2
        exit 1
    fi
    rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy 2>/dev/null || true
}

install_python_validators() {
    # Independent validators (../shared/spec/validators.md), pinned, in the project's own venv.
    local venv=.venv
    if ! "$venv/bin/lint_pkix_cert" --help >/dev/null 2>&1; then
        say "installing Python validators into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check pkilint==0.13.3
    fi
}

# The S3-compatible test server the blob store's object-storage tests run against (moto's
# standalone server), pinned, in the project's venv.
MOTO_VERSION=5.2.6

install_moto() {
    local venv=.venv
    if ! "$venv/bin/pip" show moto 2>/dev/null | grep -qx "Version: $MOTO_VERSION" || [ ! -x "$venv/bin/moto_server" ]; then
        say "installing moto[server]==$MOTO_VERSION into $venv"
        [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
        if ! "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"; then
            echo "could not install moto[server]==$MOTO_VERSION: the blob store's S3 tests need it" >&2
            exit 1
        fi
    fi
}

start_moto() {
    # On a free port, for this run only; stopped when the script exits, whatever the outcome.
    local port log=${TMPDIR:-/tmp}/lienthong-moto.log
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    say "starting moto_server on 127.0.0.1:$port"
    .venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    MOTO_PID=$!
    trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
    for _ in $(seq 1 60); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
            export LIENTHONG_TEST_S3="http://127.0.0.1:$port"
            return
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then break; fi
        sleep 0.5
    done
    echo "moto_server did not start on 127.0.0.1:$port (see $log):" >&2
    tail -n 20 "$log" >&2 || true
    exit 1
}

install_browser_test_modules() {
    # The web inbox's end-to-end test (crates/gateway/tests/web.rs) runs tests/web/e2e.mjs with
    # playwright-core, pinned by its package-lock.json.
    say "npm ci for the web inbox's browser test"
    (cd crates/gateway/tests/web && npm ci --no-audit --no-fund --loglevel=error)
}

install_debian_packages
install_python_validators
install_moto
install_browser_test_modules
start_postgresql
start_moto
require_rust

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test"
cargo test --workspace --locked

if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
    say "fuzzing the edxml parser for ${FUZZ_SECONDS:-60} s"
    FUZZ_SECONDS="${FUZZ_SECONDS:-60}" scripts/fuzz.sh
fi

say "all tests passed"
