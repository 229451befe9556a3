#!/usr/bin/env bash
# Every test, Rust and Python, from a fresh clone: the README's test command,
# and what .ci/run runs after fmt and clippy.
#
#   bash scripts/test.sh            all of it
#   bash scripts/test.sh --python   only build the Python package and run pytest
#
# The Python side lives in its own virtualenv (target/test-venv, made on first
# use from python/requirements-test.txt): the package is built by maturin
# into a wheel (target/wheels), installed there, and tested with pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

only_python=false
if [ "${1:-}" = --python ]; then
    only_python=true
    shift
fi

if ! $only_python; then
    # --workspace: the Python crate's dependencies are compiled here with the
    # features maturin will ask for, so the wheel below reuses them.
    cargo test --release --workspace
fi

venv="${EMKIT_TEST_VENV:-target/test-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import maturin, sklearn, hmmlearn, pytest, pandas, dask.array, dask.dataframe, distributed, pyspark" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r python/requirements-test.txt
fi
# The CLI too: the interchange tests run it on the models Python writes
# (cargo test has built it already; alone, --python builds it here).
cargo build --release --quiet --workspace
rm -rf target/wheels
start=$(date +%s)
"$venv/bin/maturin" build --release --quiet --manifest-path python/Cargo.toml \
    --interpreter "$venv/bin/python" --out target/wheels
echo "wheel built in $(( $(date +%s) - start )) s: $(ls -l target/wheels/*.whl | awk '{print $5, $9}')"
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps target/wheels/*.whl
# From outside the source tree, so that `import emkit` is the installed wheel.
cd python/tests
exec "../../$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .
