"""Writes N rows x 16 features of an 8-component mixture to a .npy file,
a million rows at a time (memory stays small): the data of bench/stream.sh.
Usage: python bench/make_big_npy.py N OUT.npy"""
import numpy as np, sys
n = int(sys.argv[1]); d = 16; k = 8; out = sys.argv[2]
rng = np.random.default_rng(0)
means = rng.normal(0, 3, (k, d))
mm = np.lib.format.open_memmap(out, mode='w+', dtype='<f8', shape=(n, d))
step = 1_000_000
for s in range(0, n, step):
    e = min(n, s + step)
    lab = rng.integers(0, k, e - s)
    mm[s:e] = means[lab] + rng.normal(0, 1, (e - s, d))
mm.flush()
