"""Writes the Parquet fixtures of crates/emkit/tests/parquet.rs with pyarrow, the
writer most users' files come from. Run from the repository root:

    python -m venv target/pa-venv && target/pa-venv/bin/pip install pyarrow numpy
    target/pa-venv/bin/python crates/emkit/tests/parquet/make.py

Each fixture but the refused ones has a CSV twin (types.csv) or reads as an
existing CSV (iris*.parquet hold data/iris.csv), so the test compares what
emkit reads from Parquet with what it reads from text.
"""
import csv
import datetime
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..", "..", "..")

with open(os.path.join(root, "data", "iris.csv")) as f:
    rows = list(csv.reader(f))
names, values = rows[0], np.array(rows[1:], dtype=float)
iris = pa.table({n: values[:, j] for j, n in enumerate(names)})
# Snappy (pyarrow's default codec), dictionary pages, three row groups.
pq.write_table(iris, os.path.join(here, "iris.parquet"), row_group_size=64)
# Data pages v2, gzip, no dictionary, pages of a few rows.
pq.write_table(iris, os.path.join(here, "iris_v2_gzip.parquet"), data_page_version="2.0",
               compression="gzip", use_dictionary=False, data_page_size=128)
# Brotli, which emkit refuses by name.
pq.write_table(iris.slice(0, 10), os.path.join(here, "iris_brotli.parquet"),
               compression="brotli")

rng = np.random.default_rng(7)
n = 300
cols = {
    "i8": pa.array(rng.integers(-128, 128, n), pa.int8()),
    "u16": pa.array(rng.integers(0, 2**16, n), pa.uint16()),
    "i32": pa.array(rng.integers(-2**31, 2**31, n), pa.int32()),
    "u32": pa.array(rng.integers(0, 2**32, n), pa.uint32()),
    "i64": pa.array(rng.integers(-2**53, 2**53, n), pa.int64()),
    "u64": pa.array(rng.integers(2**63, 2**64 - 2**11, n, dtype=np.uint64), pa.uint64()),
    "f32": pa.array(rng.standard_normal(n).astype(np.float32)),
    "f16": pa.array(rng.standard_normal(n).astype(np.float16)),
    "flag": pa.array(rng.integers(0, 2, n).astype(bool)),
    # A column of few values, so that its pages are dictionary-encoded.
    "level": pa.array(rng.integers(0, 4, n).astype(float) * 0.5),
    "label": pa.array([f"row{i}" for i in range(n)]),
    "when": pa.array([datetime.datetime(2020, 1, 1) + datetime.timedelta(hours=i)
                      for i in range(n)]),
}
types = pa.table(cols)
pq.write_table(types, os.path.join(here, "types_zstd.parquet"), compression="zstd",
               row_group_size=128, data_page_size=256)
numeric = [c for c in cols if c not in ("label", "when")]
with open(os.path.join(here, "types.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(numeric)
    for i in range(n):
        # repr of the value as a Python float: the exact double emkit must read.
        w.writerow([repr(float(cols[c][i].as_py())) for c in numeric])

# A null in row 5 of column "b".
b = pa.array([1.0, 2.0, 3.0, 4.0, 5.0, None, 7.0, 8.0])
pq.write_table(pa.table({"a": np.arange(8.0), "b": b}), os.path.join(here, "nulls.parquet"))
