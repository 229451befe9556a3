#!/usr/bin/env bash
# Side-by-side speed of emkit and scikit-learn on the same data in the same run.
# Usage: bench/run.sh [--repeats N] [--only W1-full,W4-full] [--no-rss]   (mixtures vs scikit-learn)
#        bench/run.sh hmm [--repeats N] [--only H1,H3]                     (HMMs vs hmmlearn)
# Creates its own virtualenv (target/bench-venv) with the peers on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${EMKIT_BENCH_VENV:-target/bench-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sklearn, threadpoolctl, hmmlearn, maturin" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r bench/requirements.txt
fi
# --workspace: the same features as the test build, so a tested tree rebuilds nothing.
cargo build --release --quiet --workspace
# The Python package, built into the same virtualenv: the tables time its
# classes beside the CLI and the peer.
"$venv/bin/maturin" build --release --quiet --manifest-path python/Cargo.toml \
    --interpreter "$venv/bin/python" --out target/bench-wheels
"$venv/bin/pip" install --quiet --force-reinstall --no-deps target/bench-wheels/emkit-*.whl
rm -rf target/bench-wheels
# Older OpenBLAS builds need OPENBLAS_CORETYPE on some CPUs; it slows a current
# numpy, so the peer runs without it (bench/peers.py reports the kernel used).
script=bench/peers.py
if [ "${1:-}" = hmm ]; then
    script=bench/hmm_peers.py
    shift
fi
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venv/bin/python" "$script" "$@"
