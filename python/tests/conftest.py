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


def pytest_report_header(config):
    import emkit

    return f"emkit {emkit.__version__}, {emkit.get_num_threads()} threads, RAYON_NUM_THREADS={os.environ.get('RAYON_NUM_THREADS')}"
