"""What every emkit estimator shares: input checks, seeds, files."""

import os
import tempfile

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from . import _emkit


def as_data(estimator, X, *, reset, ensure_min_samples=1):
    """X as a C-contiguous float64 array, checked the scikit-learn way.

    scikit-learn's ``validate_data`` checks the shape, the dtype, sparse and
    complex input, and records (``reset=True``) or compares ``n_features_in_``
    and ``feature_names_in_``. Non-finite values are found here instead, so
    that the message names the first bad cell. A C-contiguous float64 array
    (a read-only ``np.memmap`` too) passes through without a copy; other
    dtypes and Fortran order are converted once.
    """
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
        ensure_min_samples=ensure_min_samples,
    )
    if X.dtype != np.float64 or not X.flags.c_contiguous:
        X = np.ascontiguousarray(X, dtype=np.float64)
    check_finite(X, "X")
    return X


def check_finite(X, name):
    """Raises ValueError naming the first NaN or infinite cell of X (2-D,
    C-contiguous float64), found without a copy of X."""
    where = _emkit.first_non_finite(X)
    if where is None:
        return
    row, column = where
    kind = "NaN" if np.isnan(X[row, column]) else "infinity"
    raise ValueError(
        f"Input {name} contains {kind} at row {row}, column {column} (0-based); "
        "remove or impute missing values before fitting (emkit does not yet fit "
        "incomplete rows)"
    )


def seed_from(random_state):
    """The 64-bit emkit seed for scikit-learn's ``random_state``.

    An int is the seed itself, so ``random_state=N`` fits exactly what
    ``emkit fit --seed N`` fits; a RandomState gives its next draw, None a
    fresh one. The same ``random_state`` therefore gives the same emkit
    result, though not scikit-learn's draws (the generators differ).
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= random_state < 2**64:
            raise ValueError(f"random_state must be an int in [0, 2**64), got {random_state}")
        return int(random_state)
    rng = check_random_state(random_state)
    return int(rng.randint(0, np.iinfo(np.int64).max, dtype=np.int64))


def read_only(a):
    """a, marked read-only: the model is rebuilt from the attributes when one
    is replaced, which an in-place edit would bypass."""
    a = np.asarray(a)
    a.flags.writeable = False
    return a


def write_atomic(path, text):
    """Writes text to path through a temporary file in the same folder and a
    rename, so that a reader never sees half a model and a failure leaves the
    old file whole."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file private; a model file gets the mode of the
        # file it replaces, or the usual rw-r--r--.
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            mode = 0o644
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
