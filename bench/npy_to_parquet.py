"""Copies a 2-D .npy array into a Parquet file, a million rows (one row
group) at a time, so memory stays small: the Parquet data of
bench/stream.sh. Columns x0, x1, ... as float64; codec as given (snappy, the
default of pyarrow and Spark).
Usage: python bench/npy_to_parquet.py IN.npy OUT.parquet [CODEC]"""
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

src, out = sys.argv[1], sys.argv[2]
codec = sys.argv[3] if len(sys.argv) > 3 else "snappy"
a = np.load(src, mmap_mode="r")
names = [f"x{j}" for j in range(a.shape[1])]
schema = pa.schema([(n, pa.float64()) for n in names])
with pq.ParquetWriter(out, schema, compression=codec) as w:
    for s in range(0, a.shape[0], 1_000_000):
        block = np.ascontiguousarray(a[s:s + 1_000_000])
        w.write_table(pa.table({n: block[:, j] for j, n in enumerate(names)}, schema=schema))
