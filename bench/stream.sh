#!/usr/bin/env bash
# Streamed fits against fits in memory, on the same file in the same run:
# peak RSS (GNU time) and the fit's own seconds, from one start, so that the
# log-likelihoods must be equal. Usage: bench/stream.sh [ROWS] [DIR]
# (default 20 000 000 rows x 16 = 2.56 GB in target/stream-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-20000000}"
dir="${2:-target/stream-bench}"
venv="${EMKIT_BENCH_VENV:-target/bench-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r bench/requirements.txt
fi
cargo build --release --quiet -p emkit-cli
emkit=target/release/emkit
mkdir -p "$dir"
[ -f "$dir/big.npy" ] || "$venv/bin/python" bench/make_big_npy.py "$rows" "$dir/big.npy"
"$venv/bin/python" bench/make_big_npy.py 200000 "$dir/small.npy"
"$emkit" fit "$dir/small.npy" -k 8 --max-iter 1 -q -o "$dir/start.json"
# One fit of FILE from the start, 6 iterations, with MODE (--stream or
# nothing): peak RSS, wall time, and the fit's own summary.
fit_once() {
    /usr/bin/time -f "peak RSS %M KB, wall %e s" "$emkit" fit "$1" -k 8 \
        --init-model "$dir/start.json" --max-iter 6 --tol 0 --json -q $2 2>&1 |
        "$venv/bin/python" -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        d = json.loads(line)
        print("%s streamed=%s log_likelihood=%r fit %.3f s" % (sys.argv[1], d["streamed"], d["log_likelihood"], d["seconds"]), end="; ")
    else:
        print(line.strip())' "$(basename "$1")"
}
# The file is read once first, so that every run finds it in the page cache.
cat "$dir/big.npy" > /dev/null
for mode in --stream "" --stream ""; do
    fit_once "$dir/big.npy" "$mode"
done
# The same rows as Parquet (row groups of a million rows, Snappy): streamed
# (decoded page by page on every pass) and in memory; the log-likelihood is
# the .npy one.
[ -f "$dir/big.parquet" ] || "$venv/bin/python" bench/npy_to_parquet.py "$dir/big.npy" "$dir/big.parquet"
cat "$dir/big.parquet" > /dev/null
for mode in --stream "" --stream; do
    fit_once "$dir/big.parquet" "$mode"
done
