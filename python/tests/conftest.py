import os
import pathlib
import shutil

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
REFERENCE = ROOT / "crates" / "emkit" / "tests" / "reference"


def read_csv(name):
    """A bundled CSV (header row, numbers) as (column names, float64 array)."""
    with open(DATA / name, encoding="utf-8") as f:
        names = f.readline().strip().split(",")
    return names, np.loadtxt(DATA / name, delimiter=",", skiprows=1, ndmin=2)


def cli():
    """The emkit binary built by `cargo build --release`, or None."""
    for profile in ("release", "debug"):
        exe = ROOT / "target" / profile / "emkit"
        if exe.exists():
            return str(exe)
    return shutil.which("emkit")


@pytest.fixture
def iris():
    return read_csv("iris.csv")[1]


@pytest.fixture
def blobs():
    """Three well separated groups in 3-D, seeded."""
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0, 0.0], [8.0, 8.0, 0.0], [0.0, 8.0, 8.0]])
    labels = np.repeat(np.arange(3), 100)
    X = centres[labels] + rng.normal(size=(300, 3))
    return X, labels


#: The fitted attributes of an HMM that its tests compare.
HMM_ATTRS = ("startprob_", "transmat_", "means_", "_covars_", "emissionprob_", "weights_")

#: Sequence lengths of the HMM tests on Dask and Spark (one of length one).
LENGTHS = [50, 1, 120, 33, 77, 10, 200, 9]


def regimes(seed, d=2, symbols=False):
    """Sequences of LENGTHS drawn from a three-state chain that stays in a
    state nine steps in ten: Gaussian observations about each state's mean,
    or (``symbols``) one column of symbols 0..3 that each state favours."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 1.0], [4.0, 1.0, -1.0], [-3.0, 5.0, 2.0]])[:, :d]
    seqs = []
    for n in LENGTHS:
        s, states = int(rng.integers(3)), []
        for _ in range(n):
            if rng.random() < 0.1:
                s = int(rng.integers(3))
            states.append(s)
        states = np.array(states)
        if symbols:
            noise = rng.integers(0, 4, n)
            seqs.append(np.where(rng.random(n) < 0.7, states, noise)[:, None])
        else:
            seqs.append(means[states] + rng.standard_normal((n, d)))
    return seqs


def pytest_report_header(config):
    import emkit

    return f"emkit {emkit.__version__}, {emkit.get_num_threads()} threads, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')}"
