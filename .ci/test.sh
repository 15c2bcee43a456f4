#!/usr/bin/env bash
# Installs psyco and what its tests need, then runs every test: cargo's unit tests, the pytest
# suite plainly, and the pytest suite again with psyco.full() active for the whole session.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -m pip install --quiet --disable-pip-version-check ".[test]"
LIBDIR="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')"
echo "== cargo test"
PYO3_PYTHON="$(command -v "$PY")" LD_LIBRARY_PATH="${LIBDIR}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    cargo test --quiet
echo "== pytest (plain)"
"$PY" -m pytest -q -p no:cacheprovider tests
echo "== pytest (under psyco.full())"
PSYCO_TEST_FULL=1 "$PY" -m pytest -q -p no:cacheprovider tests
