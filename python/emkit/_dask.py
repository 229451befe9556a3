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


def _plain(a):
    """`a` as an aligned C-contiguous float64 array: what a worker receives
    may lie unaligned in a network buffer, which the library cannot read in
    place (such a block is copied once)."""
    return np.require(a, np.float64, ["C_CONTIGUOUS", "ALIGNED"])


def _part_stats(model, block, weights, offset):
    if weights is not None:
        weights = _plain(np.ravel(weights))
    return model.expectation(_plain(block), weights, int(offset))


def _merge(a, b):
    return a.merged(b)


def _tree(parts):
    """Merges delayed statistics pairwise, neighbours first, in partition order."""
    import dask

    merge = dask.delayed(_merge, pure=True)
    while len(parts) > 1:
        nxt = [merge(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0]


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
        (merged,) = self._dask.compute(_tree(parts))
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
        x = _plain(np.concatenate(rows))
        if all(w is None for w in weights):
            return x, None
        return x, _plain(np.concatenate(weights).ravel())


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
    n_init = 1 if warm_model is not None else int(est.n_init)
    best = None
    first_error = None
    sample = None
    for restart in range(n_init):
        if warm_model is not None:
            model = warm_model
        else:
            if sample is None:
                sample = parts.sample(seed)
            x, w = sample
            model, _ = _emkit.fit_mixture(
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
            )
        try:
            model, report = _run(parts, model, est)
        except ValueError as e:
            first_error = first_error or e
            continue
        if best is None or report["log_likelihood"] > best[1]["log_likelihood"]:
            best = (model, report, restart)
    if best is None:
        raise first_error
    model, report, restart = best
    report["best_init"] = restart
    report["n_samples"] = parts.n
    return model, report, parts


def _run(parts, model, est):
    """One restart of EM from `model`, the driver's loop."""
    tol, reg, max_iter = float(est.tol), float(est.reg_covar), int(est.max_iter)
    bounds, reseeded = [], []
    previous = None
    converged = False
    total = None
    for iteration in range(1, max_iter + 1):
        stats = parts.stats(model)
        total = stats.total_weight
        mean = stats.log_likelihood / total
        if not np.isfinite(mean):
            raise ValueError(
                f"the log-likelihood is not finite at iteration {iteration}; the model "
                "collapsed onto single points: set reg_covar > 0 or reduce n_components"
            )
        bounds.append(mean)
        model, fresh = model.maximization(stats, reg)
        reseeded.extend((iteration, int(c)) for c in fresh)
        if previous is not None and abs(mean - previous) < tol and not fresh:
            converged = True
            break
        previous = mean
    stats = parts.stats(model)
    ll = stats.log_likelihood
    return model, {
        "converged": converged,
        "n_iter": len(bounds),
        "lower_bounds": bounds,
        "stop_reason": "converged" if converged else "max_iter",
        "reseeded": reseeded,
        "log_likelihood": ll,
        "total_weight": stats.total_weight if total is None else total,
    }


def map_rows(model, X, method, k=None):
    """`model.method` over each partition of a dask array, as a dask array."""
    X = as_dask_rows(X)

    def apply(block):
        block = _plain(block)
        out = getattr(model, method)(block)
        if method == "predict_proba":
            return out.reshape(block.shape[0], k)
        return out

    if method == "predict_proba":
        return X.map_blocks(apply, dtype=np.float64, chunks=(X.chunks[0], (k,)))
    dtype = np.int64 if method == "predict" else np.float64
    return X.map_blocks(apply, dtype=dtype, drop_axis=1)
