#!/usr/bin/env bash
# The streamed commands beyond fit: anomalies (scores spilled, the
# contamination quantile by passes over them), hmm fit (a sequence per
# task), hmm decode (a batch of sequences at a time), each against the same
# command in memory on the same file in the same run: peak RSS (GNU time),
# wall time, and whether the outputs are the same bytes (they must be).
# Usage: bench/stream_apps.sh [ROWS] [DIR] (default 3 000 000 x 16 = 384 MB
# in target/stream-bench; sequences of 1000 rows).
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-3000000}"
dir="${2:-target/stream-bench}"
venv="${EMKIT_BENCH_VENV:-target/bench-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r bench/requirements.txt
fi
cargo build --release --quiet -p emkit-cli
emkit=target/release/emkit
mkdir -p "$dir"
data="$dir/apps.npy"
[ -f "$data" ] || "$venv/bin/python" bench/make_big_npy.py "$rows" "$data"
"$venv/bin/python" -c "import sys; open(sys.argv[1], 'w').write('1000\n' * (int(sys.argv[2]) // 1000))" \
    "$dir/apps_lengths.txt" "$rows"
cat "$data" > /dev/null
# The models every run starts from: fitted once, in memory.
"$emkit" fit "$data" -k 8 --covariance diag --max-iter 5 -q -o "$dir/apps_gmm.json"
"$emkit" hmm fit "$data" --states 4 --covariance diag --lengths "$dir/apps_lengths.txt" \
    --max-iter 1 -q -o "$dir/apps_hmm_start.json"
# Runs a command in memory then streamed, writing OUT and OUT.stream, and
# compares the two when they are tables (a model file holds its fit's seconds).
pair() {
    local what="$1" out="$2"
    shift 2
    for mode in "" --stream; do
        /usr/bin/time -f "$what ${mode:-in-memory}: peak RSS %M KB, wall %e s" \
            "$emkit" "$@" -o "$out${mode:+.stream}" $mode
    done
    case "$out" in
    *.csv) if cmp -s "$out" "$out.stream"; then echo "$what: the same bytes"; else echo "$what: DIFFERENT"; fi ;;
    esac
}
pair "anomalies --contamination 0.01" "$dir/apps_anomalies.csv" \
    anomalies "$data" --model "$dir/apps_gmm.json" --contamination 0.01 -q
pair "hmm fit, 5 iterations" "$dir/apps_hmm.json" \
    hmm fit "$data" --states 4 --lengths "$dir/apps_lengths.txt" \
    --init-model "$dir/apps_hmm_start.json" --max-iter 5 --tol 0 -q
# The fit summaries hold the seconds and the mode: compare the models.
"$venv/bin/python" -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
print("hmm fit: log-likelihoods", a["fit"]["log_likelihood"], b["fit"]["log_likelihood"],
      "fit seconds", a["fit"]["seconds"], b["fit"]["seconds"])
a.pop("fit"); b.pop("fit")
print("hmm fit: the same model" if a == b else "hmm fit: DIFFERENT models")' \
    "$dir/apps_hmm.json" "$dir/apps_hmm.json.stream"
pair "hmm decode --algorithm posterior" "$dir/apps_decode.csv" \
    hmm decode "$dir/apps_hmm.json" "$data" --lengths "$dir/apps_lengths.txt" --algorithm posterior
