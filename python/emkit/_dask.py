"""Gaussian mixtures fitted on Dask collections, on the active scheduler.

``GaussianMixture.fit(X)`` with ``X`` a ``dask.array`` (or a dask DataFrame,
whose numeric columns are used) comes here. Every iteration is one Dask
graph: each partition's E-step runs in Rust on the worker that holds the
partition (``Mixture.expectation``, rows numbered from the partition's
offset in the whole array), the statistics are merged pairwise in a fixed
tree (partition order, so the result does not depend on which worker
finished first), and the M-step runs here, on the client. The data is
persisted once; what travels per iteration is the model (kilobytes) to each
partition and the statistics (kilobytes) back.

The stopping rule is the fit in memory's: EM stops when the mean
log-likelihood per unit of weight changes by less than ``tol`` between two
E-steps (and no component was re-seeded at that step), or after
``max_iter`` M-steps; a last E-step scores the final parameters. From the
same starting parameters the result is therefore the in-memory fit's, up to
the rounding of sums merged in another order (1e-10 relative; bit for bit
with a single partition).

Initialisation: the in-memory initialisation (``init_params``, each restart
with its own seed, as in memory) run on a seeded uniform sample of at most
``SAMPLE_ROWS`` rows, drawn partition by partition. When the data has no more
rows than that, the sample is the whole data in order, and the fit is the
in-memory fit itself. ``means_init`` / ``weights_init`` / ``precisions_init``
and ``warm_start`` are honoured as in memory.

Not here yet: ``verbose`` progress (use Dask's dashboard).
"""

import numpy as np

from . import _emkit
from ._distributed import best_of, mixture_m_step, plain, tree

#: The most rows the initialisation reads.
SAMPLE_ROWS = 1 << 17


def is_dask(X):
    """Whether X is a Dask collection (without importing Dask)."""
    return hasattr(X, "__dask_graph__") and hasattr(X, "__dask_keys__")


def as_dask_rows(X, name="X"):
    """X as a 2-D float64 dask array chunked by rows only, and its row chunks."""
    import dask.array as da

    if not isinstance(X, da.Array):
        # A dask DataFrame: its numeric columns, with known partition lengths.
        frame = getattr(X, "select_dtypes", None)
        if frame is None:
            raise TypeError(f"{name} is a Dask collection emkit does not read: {type(X).__name__}")
        numeric = X.select_dtypes(include="number")
        if len(numeric.columns) == 0:
            raise ValueError(f"{name} has no numeric columns")
        X = numeric.to_dask_array(lengths=True)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array for {name}, got {X.ndim} dimensions")
    if np.isnan(X.shape[0]) or any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, not {X.dtype}")
    X = X.astype(np.float64).rechunk({1: -1})
    return X


def _part_stats(model, block, weights, offset):
    if weights is not None:
        weights = plain(np.ravel(weights))
    return model.expectation(plain(block), weights, int(offset))


def _merge(a, b):
    return a.merged(b)


class _Parts:
    """The persisted partitions of X (and weights) with their row offsets."""

    def __init__(self, X, sample_weight):
        import dask

        # Kept: the persisted data lives as long as its collection.
        X = X.persist()
        self.X = X
        self.n, self.d = int(X.shape[0]), int(X.shape[1])
        self.blocks = list(X.to_delayed().ravel())
        self.offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)
        self.weights = [None] * len(self.blocks)
        if sample_weight is not None:
            import dask.array as da

            w = sample_weight
            if not is_dask(w):
                w = da.from_array(np.asarray(w, dtype=np.float64))
            w = w.astype(np.float64).ravel()
            if int(w.shape[0]) != self.n:
                raise ValueError(
                    f"sample_weight has {int(w.shape[0])} values for {self.n} rows of X; "
                    "give one weight per row"
                )
            # Kept: the persisted data lives as long as its collection.
            self.w = w.rechunk((X.chunks[0],)).persist()
            self.weights = list(self.w.to_delayed().ravel())
        self._dask = dask

    def stats(self, model):
        """Merged E-step statistics of every partition under `model`."""
        part = self._dask.delayed(_part_stats, pure=True)
        parts = [
            part(model, b, w, int(o)) for b, w, o in zip(self.blocks, self.weights, self.offsets)
        ]
        (merged,) = self._dask.compute(tree(parts, self._dask.delayed(_merge, pure=True)))
        return merged

    def sample(self, seed):
        """A seeded uniform sample of at most SAMPLE_ROWS rows (in row order),
        with their weights: all rows when there are no more."""
        if self.n <= SAMPLE_ROWS:
            picks = None
        else:
            rng = np.random.default_rng(seed)
            picks = np.sort(rng.choice(self.n, SAMPLE_ROWS, replace=False))
        rows, weights = [], []
        ends = list(self.offsets[1:]) + [self.n]
        take = self._dask.delayed(lambda b, idx: np.asarray(b)[idx] if idx is not None else b)
        for b, w, o, e in zip(self.blocks, self.weights, self.offsets, ends):
            idx = None if picks is None else picks[(picks >= o) & (picks < e)] - o
            if idx is not None and len(idx) == 0:
                continue
            rows.append(take(b, idx))
            weights.append(None if w is None else take(w, idx))
        rows, weights = self._dask.compute(rows, weights)
        x = plain(np.concatenate(rows))
        if all(w is None for w in weights):
            return x, None
        return x, plain(np.concatenate(weights).ravel())


def fit(est, X, sample_weight, init_kwargs, warm_model, init_name, seed):
    """Fits `est` (an emkit.GaussianMixture) on Dask data; returns the
    library's model and a report shaped as the in-memory fit's."""
    parts = _Parts(X, sample_weight)
    k = int(est.n_components)
    if parts.n < k:
        raise ValueError(
            "Expected n_samples >= n_components "
            f"but got n_components = {k}, n_samples = {parts.n}"
        )
    def starts():
        if warm_model is not None:
            yield warm_model
            return
        x, w = parts.sample(seed)
        for restart in range(int(est.n_init)):
            yield _emkit.fit_mixture(
                x,
                k,
                est.covariance_type,
                float(est.tol),
                float(est.reg_covar),
                0,
                1,
                init_name,
                seed,
                **init_kwargs,
                sample_weight=w,
                restart=restart,
            )[0]

    model, report = best_of(
        starts(),
        parts.stats,
        mixture_m_step(float(est.reg_covar)),
        float(est.tol),
        int(est.max_iter),
        "set reg_covar > 0 or reduce n_components",
    )
    report["n_samples"] = parts.n
    return model, report, parts


def map_rows(model, X, method, k=None):
    """`model.method` over each partition of a dask array, as a dask array."""
    X = as_dask_rows(X)

    def apply(block):
        block = plain(block)
        out = getattr(model, method)(block)
        if method == "predict_proba":
            return out.reshape(block.shape[0], k)
        return out

    if method == "predict_proba":
        return X.map_blocks(apply, dtype=np.float64, chunks=(X.chunks[0], (k,)))
    dtype = np.int64 if method == "predict" else np.float64
    return X.map_blocks(apply, dtype=dtype, drop_axis=1)
