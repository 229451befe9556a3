"""``emkit.spark.GaussianMixture``: Spark ML's Gaussian mixture, fitted by emkit;
``emkit.spark.fit_hmm``: emkit's HMMs fitted on a DataFrame of sequences.

A Spark user swaps one import::

    from pyspark.ml.clustering import GaussianMixture   # before
    from emkit.spark import GaussianMixture             # after

with ``pyspark.ml``'s parameter names (``k, featuresCol, predictionCol,
probabilityCol, maxIter, tol, seed, weightCol``, each with ``setX``/``getX``)
plus emkit's ``covarianceType`` (full, tied, diag, spherical), ``nInit`` and
``regCovar``. ``fit(df)`` returns a :class:`GaussianMixtureModel` with
``weights``, ``gaussiansDF``, ``transform(df)``, ``summary`` and
``save``/``load`` in emkit's model-file format.

How it runs. The features (a vector or array column) are read once into
numpy blocks, one per partition. Each E-step runs in Rust on the executors
(``Mixture.expectation``, rows numbered from the partition's offset); the
statistics (kilobytes) of every partition are merged in partition order by a
fixed pairwise tree and the M-step follows, with the stopping rule of the fit
in memory: EM stops when the mean log-likelihood per unit of weight changes
by less than ``tol`` (Spark ML's ``tol`` is on the same mean), or after
``maxIter`` M-steps. Two execution modes, measured in ``bench/spark.py``:

- ``"barrier"`` (the default): one barrier job for the whole fit. Every task
  keeps its partition in memory across iterations and exchanges only its
  serialised statistics: ``BarrierTaskContext.allGather`` once, to learn
  where task 0 listens, then plain TCP (``allGather`` itself waits in steps
  of one second); task 0 merges in task order and returns the merged
  statistics to all, and every task takes the same M-step, so all hold the
  same model at every step (the pattern of XGBoost's Spark integration).
  Needs no more partitions than task slots (adjacent partitions are joined
  in order by one shuffle).
- ``"collect"``: one Spark job per iteration over cached blocks; the
  partitions' statistics are collected in partition order and merged on the
  driver.

Initialisation, chosen by ``initMode`` (Spark ML's name; each of ``nInit``
restarts initialises with its own seed derived from ``seed``, as in memory):

- ``"sample"``: emkit's in-memory initialisation (k-means++ then k-means)
  on a seeded uniform sample of at most ``SAMPLE_ROWS`` rows gathered on
  the driver (one Spark job): all rows, in partition order, when there are
  no more, so that a fit of a small DataFrame is the in-memory fit of
  ``df.collect()``'s rows (to 1e-10; the partitions' sums merge in another
  order).
- ``"k-means||"``: k-means‖ (Bahmani et al., "Scalable k-means++", 2012)
  on the cluster, inside the fit's barrier job, over the resident
  partitions, with the fit's TCP exchange (no Spark job of its own; in the
  collect mode each of its ``2·initSteps + 3`` exchanges per restart is a
  Spark job instead). One row drawn with probability ∝ its weight, then
  ``initSteps`` rounds (Spark ML's name; default 5, the paper's, not Spark
  ML's 2: on 200 000 x 16, k = 8 it reached the best fit from 3 of 3
  seeds, 2 from 2 of 3, for 0.08 s more; bench/README.md) that draw every row
  independently with probability ``min(1, l·w·d²/φ)``, ``l = 2k`` as Spark
  ML, ``d²`` the squared distance to the nearest candidate so far and ``φ``
  their weighted sum; each candidate is weighted by the weight of the rows
  nearest to it, and emkit's in-memory k-means (weighted k-means++ then
  k-means, the restart's seed) picks k centres among them, in one task.
  Every row is then assigned to its nearest centre and one M-step of those
  hard labels gives the start, as the in-memory k-means initialisation
  does with its own labels. Every draw is a function of the seed, the
  restart, the round and the row's place in the DataFrame, never of the
  partitioning or of the task order: the same rows in other partitions, or
  in the collect mode, give the same candidates and centres (φ is a sum of
  per-partition sums, so a row whose draw lies within rounding of its
  threshold could differ: ~1e-16 of the time).
- ``None`` (the default): ``"sample"`` when the data has at most
  ``SAMPLE_ROWS`` rows (the exact in-memory initialisation), ``"k-means||"``
  above, where the sample would see only part of the data.

Measured on 200 000 x 16, k = 8 (``bench/spark.py init``, bench/README.md).

HMMs: ``emkit.spark.fit_hmm(estimator, df, sequenceCol="sequence")`` fits an
``emkit.hmm`` estimator (``GaussianHMM``, ``CategoricalHMM``, ``GMMHMM``)
on a DataFrame holding one whole sequence per row, and returns that
estimator fitted, with the attributes of its in-memory ``fit``
(``startprob_``, ``transmat_``, the emission's, ``monitor_``,
``stop_reason_``, ``reseeded_``, ``lower_bounds_``). A function over the
estimator rather than a pyspark.ml wrapper with its own parameter names: the
HMMs' parameters are many and emission-specific (hmmlearn's, already
documented and checked by the estimator), and what a fitted HMM is used for
(``predict``, ``decode``, ``score``, ``sample``, ``save``) is per sequence,
which the estimator does on the driver or in a UDF. The column is an array
of symbols (``array<double>`` or ``array<int>``) for ``CategoricalHMM``, and
for Gaussian emissions an array of observations, each an array of doubles
(``array<array<double>>``) or a pyspark.ml vector; a row's array is the
sequence in time order. Rows are read in the DataFrame's order (partition
by partition).

How it runs: the Dask HMM fit's (``emkit._dask_hmm``), with Spark jobs.
Each partition's sequences are checked and packed once into one contiguous
numpy array with its lengths, and cached. Each iteration is one Spark job:
every partition's E-step in Rust (``Hmm.expectation``, the model
broadcast), the statistics (kilobytes) collected and merged in partition
order by the fixed pairwise tree, and the M-step on the driver
(``HmmFitter``). The stopping rule is the in-memory fit's (``tol`` on the
total log-likelihood, as hmmlearn; ``n_iter`` M-steps at most).
Initialisation: the in-memory one on all sequences gathered on the driver
when they hold at most 131 072 observations (then the fit is the in-memory
``fit(np.concatenate(seqs), lengths)`` of the sequences in the DataFrame's
order, to 1e-10), else on a seeded sample of whole sequences. A sequence
with a NaN, a negative symbol or a different number of features is refused
with a ValueError naming its partition. Not here: ``verbose`` progress,
the barrier mode, decoding of a DataFrame (use the fitted estimator in a
UDF).
"""

import json
import pickle
import secrets
import socket
import time

import numpy as np

from . import _dask_hmm, _emkit
from ._common import seed_from
from ._distributed import best_of, mixture_m_step, plain, tree

#: The most rows the initialisation gathers on the driver.
SAMPLE_ROWS = 1 << 17

_KINDS = ("full", "tied", "diag", "spherical")

_INIT_MODES = ("k-means||", "sample")


def _features(rows, col, weight_col):
    """(X, weights or None) of an iterator of Rows: a vector or array column."""
    xs, ws = [], []
    for r in rows:
        v = r[col]
        xs.append(v.toArray() if hasattr(v, "toArray") else np.asarray(v, dtype=np.float64))
        if weight_col is not None:
            ws.append(float(r[weight_col]))
    if not xs:
        return None, None
    x = plain(np.vstack(xs))
    w = None if weight_col is None else np.asarray(ws, dtype=np.float64)
    return x, w


def _joined(items):
    """One block of the (index, (x, w)) blocks of a partition, in index order."""
    parts = [b for _, (_, b) in sorted(items, key=lambda t: t[1][0]) if b[0] is not None]
    if not parts:
        return [(None, None)]
    x = np.vstack([b[0] for b in parts])
    w = None if parts[0][1] is None else np.concatenate([b[1] for b in parts])
    return [(x, w)]


def _tree_merge(stats):
    """Merges statistics in the Dask path's fixed order."""
    return tree(stats, lambda a, b: a.merged(b))


def _best_of(starts, stats_of, tol, reg, max_iter):
    return best_of(
        starts, stats_of, mixture_m_step(reg), tol, max_iter, "set regCovar > 0 or reduce k"
    )


class _Timed:
    """The starts, read lazily, with the seconds spent making them."""

    def __init__(self, starts):
        self._starts, self.seconds = iter(starts), 0.0

    def __iter__(self):
        return self

    def __next__(self):
        began = time.perf_counter()
        try:
            return next(self._starts)
        finally:
            self.seconds += time.perf_counter() - began


_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(*values):
    """A 64-bit key of `values` (ints) by SplitMix64's finaliser."""
    z = 0
    for v in values:
        z = (z ^ (int(v) & _MASK)) + _GOLDEN & _MASK
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK
        z ^= z >> 31
    return z


def _uniforms(key, offset, n):
    """Uniforms in [0, 1) of rows `offset..offset + n` under `key`: a
    function of the row's index in the whole DataFrame alone (SplitMix64 of
    ``key + index·golden``), so every draw is the same however the rows are
    split into partitions and whichever task runs first."""
    z = np.arange(offset, offset + n, dtype=np.uint64) * np.uint64(_GOLDEN) + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


class _Part:
    """One partition's rows (`x` None when it has none) at row `offset` of
    the DataFrame, and what k-means‖ keeps about them between its passes:
    each row's squared distance to the nearest candidate and that
    candidate. In a barrier task this lives across passes, and each pass
    measures distances to the new candidates only; in a plain Spark job it
    starts empty and the pass measures them all (the same numbers: a
    minimum is exact)."""

    def __init__(self, x, w, offset):
        self.x, self.w, self.offset = x, w, offset
        self.closest = self.label = None
        self.covered = 0

    def first(self, key):
        """(draw key, row index, row) of this part's candidate for the first
        centre: the largest ``log(u)/w`` (Efraimidis and Spirakis), so the
        largest over all parts is drawn with probability ∝ w, and a row of
        weight 0 never is; or None."""
        self.closest = self.label = None
        self.covered = 0
        if self.x is None:
            return None
        u = _uniforms(key, self.offset, len(self.x))
        if self.w is None:
            keys = u
        else:
            with np.errstate(divide="ignore"):
                keys = np.where(self.w > 0, np.log(u) / np.where(self.w > 0, self.w, 1.0), -np.inf)
        i = int(np.argmax(keys))
        if keys[i] == -np.inf:
            return None
        return float(keys[i]), self.offset + i, self.x[i].copy()

    def _update(self, cands):
        if self.covered >= len(cands) and self.closest is not None:
            return
        new = plain(cands[self.covered :])
        labels, dist = _emkit.nearest_centres(self.x, new)
        labels += self.covered
        if self.closest is None:
            self.closest, self.label = dist, labels
        else:
            # Ties keep the older (lower-numbered) candidate, as one pass
            # over all candidates would.
            nearer = dist < self.closest
            self.closest = np.where(nearer, dist, self.closest)
            self.label = np.where(nearer, labels, self.label)
        self.covered = len(cands)

    def cost(self, cands):
        """φ of this part: Σ w·d² to the nearest candidate."""
        if self.x is None:
            return 0.0
        self._update(cands)
        return float(self.closest.sum() if self.w is None else self.w @ self.closest)

    def draw(self, cands, key, scale):
        """The rows drawn, each independently with probability
        ``min(1, scale·w·d²)``, in row order (none: None)."""
        if self.x is None:
            return None
        self._update(cands)
        p = scale * self.closest if self.w is None else scale * self.w * self.closest
        chosen = _uniforms(key, self.offset, len(self.x)) < p
        return self.x[chosen] if chosen.any() else None

    def weights(self, cands):
        """The weight of this part's rows nearest each candidate."""
        if self.x is None:
            return np.zeros(len(cands))
        self._update(cands)
        return np.bincount(self.label, weights=self.w, minlength=len(cands)).astype(np.float64)


class _KMeansParallel:
    """k-means‖ (Bahmani, Moseley, Vattani, Kumar and Vassilvitskii, 2012)
    over the partitions, as Spark ML's KMeans runs it, then emkit's k-means
    on the weighted candidates.

    Written once for both execution modes: ``run(f, combine)`` applies `f`
    to every part and gives ``combine`` of the results in part order,
    computed in one place; a barrier task runs this same code in lockstep
    with the others (`run` is an exchange over TCP), the collect mode on
    the driver (`run` is a Spark job). A restart makes ``2·steps + 3``
    such calls: the first centre, then per step φ and the draw, then the
    candidates' weights (whose combine runs the k-means) and the start's
    statistics.
    """

    def __init__(self, k, kind, seed, steps, reg):
        self.k, self.kind, self.seed, self.steps, self.reg = k, kind, seed, steps, reg

    def starts(self, run, n_init):
        for restart in range(n_init):
            yield self.start(run, restart)

    def start(self, run, restart):
        k, key = self.k, _mix(self.seed, restart)
        pick = run(lambda p: p.first(_mix(key, 0)), _first_of)
        cands = pick[None, :]
        # Spark ML's oversampling factor: about 2k candidates a step.
        oversample = 2.0 * k
        for step in range(1, self.steps + 1):
            phi = run(lambda p: p.cost(cands), sum)
            if not phi > 0:
                break  # every row of positive weight is a candidate
            new = run(
                lambda p: p.draw(cands, _mix(key, step), oversample / phi),
                lambda got: [g for g in got if g is not None],
            )
            if new:
                cands = np.vstack([cands] + new)
        centres = run(
            lambda p: p.weights(cands),
            lambda got: self.centres(cands, np.sum(got, axis=0), restart),
        )
        d = centres.shape[1]
        carrier = _emkit.Mixture.from_params(
            np.full(k, 1.0 / k), centres.ravel(), d, self.kind, _identity(self.kind, k, d)
        )
        stats = run(
            lambda p: None if p.x is None else carrier.nearest_expectation(p.x, p.w, p.offset),
            lambda got: _tree_merge([g for g in got if g is not None]),
        )
        model, _ = carrier.maximization(stats, self.reg)
        return model

    def centres(self, cands, weights, restart):
        """k centres of the weighted candidates: emkit's in-memory
        initialisation (weighted k-means++ then k-means) with this restart's
        seed. With k or fewer candidates of positive weight (data with
        fewer distinct rows), those candidates, the first repeated: the
        repeats own no rows, and the M-step re-seeds them as it does any
        empty component."""
        keep = weights > 0
        c, w = plain(cands[keep]), plain(weights[keep])
        if len(c) <= self.k:
            return np.vstack([c] + [c[:1]] * (self.k - len(c)))
        # Only the means of this start are read; a variance floor of 1 keeps
        # a candidate alone in its cluster from failing to factor.
        start, _ = _emkit.fit_mixture(
            c, self.k, "spherical", 0.0, 1.0, 0, 1, "kmeans", self.seed,
            sample_weight=w, restart=restart,
        )
        return np.asarray(start.means).reshape(self.k, -1)


def _first_of(picks):
    """The pick of largest draw key, the lower row index on ties."""
    picks = [p for p in picks if p is not None]
    if not picks:
        raise ValueError("every row has weight 0; give some rows a positive weight")
    return max(picks, key=lambda p: (p[0], -p[1]))[2]


def _identity(kind, k, d):
    """Identity covariances of `kind`, flat in the model's layout."""
    eye = np.eye(d).ravel()
    return {
        "full": np.tile(eye, k),
        "tied": eye,
        "diag": np.ones(k * d),
        "spherical": np.ones(k),
    }[kind]


class _Params:
    """pyspark.ml-style parameters: ``setX``/``getX`` and ``copy``."""

    _defaults = {}

    def __init__(self, **kwargs):
        self._values = dict(self._defaults)
        for name, value in kwargs.items():
            self._set(name, value)

    def _set(self, name, value):
        if name not in self._defaults:
            raise TypeError(f"{type(self).__name__} has no parameter {name!r}")
        self._values[name] = value
        return self

    def __getattr__(self, attr):
        values = self.__dict__.get("_values", {})
        for prefix, setter in (("set", True), ("get", False)):
            if attr.startswith(prefix) and len(attr) > 3:
                name = attr[3].lower() + attr[4:]
                if name in values:
                    if setter:
                        return lambda value: self._set(name, value)
                    return lambda: values[name]
        raise AttributeError(attr)

    def copy(self, extra=None):
        other = type(self)(**self._values)
        for name, value in (extra or {}).items():
            other._set(name, value)
        return other


class GaussianMixture(_Params):
    """Spark ML's ``GaussianMixture`` estimator, fitted by emkit."""

    _defaults = {
        "k": 2,
        "featuresCol": "features",
        "predictionCol": "prediction",
        "probabilityCol": "probability",
        "maxIter": 100,
        "tol": 0.01,
        "seed": None,
        "weightCol": None,
        "covarianceType": "full",
        "nInit": 1,
        "regCovar": 1e-6,
        "mode": "barrier",
        "initMode": None,
        "initSteps": 5,
    }

    def fit(self, df):
        """Fits on the DataFrame `df`; returns a :class:`GaussianMixtureModel`."""
        p = self._values
        k, kind = int(p["k"]), p["covarianceType"]
        if kind not in _KINDS:
            raise ValueError(f"covarianceType must be one of {', '.join(_KINDS)}, got {kind!r}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if p["mode"] not in ("barrier", "collect"):
            raise ValueError(f"mode must be 'barrier' or 'collect', got {p['mode']!r}")
        init_mode, steps = p["initMode"], p["initSteps"]
        if init_mode not in (None,) + _INIT_MODES:
            raise ValueError(
                f"initMode must be one of {', '.join(map(repr, _INIT_MODES))} or None, "
                f"got {init_mode!r}"
            )
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"initSteps must be an int >= 1, got {steps!r}")
        col, wcol = p["featuresCol"], p["weightCol"]
        for c in [col] + ([wcol] if wcol else []):
            if c not in df.columns:
                raise ValueError(f"the DataFrame has no column {c!r} (its columns: {df.columns})")
        seed = seed_from(p["seed"])
        sc = df.sparkSession.sparkContext
        rdd = df.select(*([col] + ([wcol] if wcol else []))).rdd
        blocks = rdd.mapPartitions(lambda it: [_features(it, col, wcol)])
        parts, slots = blocks.getNumPartitions(), sc.defaultParallelism
        if p["mode"] == "barrier" and parts > slots:
            # A barrier stage takes no coalesce: adjacent blocks are joined
            # through one shuffle instead, in their order.
            blocks = (
                blocks.zipWithIndex()
                .map(lambda t: (t[1] * slots // parts, (t[1], t[0])))
                .partitionBy(slots, lambda key: key)
                .mapPartitions(_joined)
            )
        blocks = blocks.cache()
        counts = blocks.map(lambda b: 0 if b[0] is None else b[0].shape[0]).collect()
        n = int(sum(counts))
        if n < k:
            blocks.unpersist()
            raise ValueError(f"Expected n_samples >= k but got k = {k}, n_samples = {n}")
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
        tol, reg, max_iter = float(p["tol"]), float(p["regCovar"]), int(p["maxIter"])
        init_mode = init_mode or ("sample" if n <= SAMPLE_ROWS else "k-means||")
        try:
            if init_mode == "sample":
                began = time.perf_counter()
                starts = _Timed(self._starts(blocks, counts, n, seed))
                starts.seconds = time.perf_counter() - began
                starts_of = lambda run: starts  # noqa: E731
            else:
                init = _KMeansParallel(k, kind, seed, steps, reg)
                starts_of = lambda run: _Timed(init.starts(run, int(p["nInit"])))  # noqa: E731
            if p["mode"] == "collect":
                model, report = self._fit_collect(
                    sc, blocks, offsets, starts_of, tol, reg, max_iter
                )
            else:
                model, report = self._fit_barrier(blocks, offsets, starts_of, tol, reg, max_iter)
        finally:
            blocks.unpersist()
        report["n_samples"] = n
        report["init_mode"] = init_mode
        return GaussianMixtureModel(model, report, self._values)

    def _starts(self, blocks, counts, n, seed):
        """The start of every restart: emkit's initialisation on the sample."""
        p = self._values
        if n <= SAMPLE_ROWS:
            picks = None
        else:
            rng = np.random.default_rng(seed)
            picks = np.sort(rng.choice(n, SAMPLE_ROWS, replace=False))
        ends = np.cumsum(counts)
        starts_at = ends - np.asarray(counts)

        def take(i, it):
            for x, w in it:
                if x is None:
                    continue
                if picks is None:
                    yield i, x, w
                else:
                    idx = picks[(picks >= starts_at[i]) & (picks < ends[i])] - starts_at[i]
                    yield i, x[idx], None if w is None else w[idx]

        parts = sorted(blocks.mapPartitionsWithIndex(take).collect(), key=lambda t: t[0])
        x = plain(np.vstack([t[1] for t in parts]))
        w = None
        if p["weightCol"]:
            w = plain(np.concatenate([t[2] for t in parts]))
        starts = []
        for restart in range(int(p["nInit"])):
            model, _ = _emkit.fit_mixture(
                x, int(p["k"]), p["covarianceType"], float(p["tol"]), float(p["regCovar"]),
                0, 1, "kmeans", seed, sample_weight=w, restart=restart,
            )
            starts.append(model)
        return starts

    @staticmethod
    def _fit_collect(sc, blocks, offsets, starts_of, tol, reg, max_iter):
        indexed = blocks.zipWithIndex().map(lambda t: (t[1], t[0])).cache()

        def run(f, combine):
            # One Spark job: `f` on every partition, combined on the driver
            # in partition order.
            got = indexed.map(
                lambda t: (t[0], f(_Part(t[1][0], t[1][1], offsets[t[0]])))
            ).collect()
            return combine([r for _, r in sorted(got, key=lambda t: t[0])])

        def stats_of(model):
            bc = sc.broadcast(model)
            parts = indexed.map(
                lambda t: (t[0], bc.value.expectation(t[1][0], t[1][1], offsets[t[0]]))
                if t[1][0] is not None
                else (t[0], None)
            ).collect()
            bc.unpersist()
            parts = [s for _, s in sorted(parts, key=lambda t: t[0]) if s is not None]
            return _tree_merge(parts)

        try:
            starts = starts_of(run)
            model, report = _best_of(starts, stats_of, tol, reg, max_iter)
            report["init_seconds"] = starts.seconds
            return model, report
        finally:
            indexed.unpersist()

    @staticmethod
    def _fit_barrier(blocks, offsets, starts_of, tol, reg, max_iter):
        secret = secrets.token_bytes(16)

        def train(index, it):
            from pyspark import BarrierTaskContext

            ctx = BarrierTaskContext.get()
            parts = list(it)
            x, w = parts[0] if parts else (None, None)
            part = _Part(x, w, offsets[index])
            with _Exchange(ctx, index, secret) as exchange:

                def stats_of(model):
                    mine = model.expectation(x, w, offsets[index]) if x is not None else None
                    return exchange.merged(mine)

                def run(f, combine):
                    return exchange.reduce(f(part), combine)

                try:
                    starts = starts_of(run)
                    model, report = _best_of(starts, stats_of, tol, reg, max_iter)
                    report["init_seconds"] = starts.seconds
                    result = (model, report, None)
                except ValueError as e:
                    result = (None, None, str(e))
            if index == 0:
                yield result

        ((model, report, error),) = blocks.barrier().mapPartitionsWithIndex(train).collect()
        if error is not None:
            raise ValueError(error)
        return model, report


class _Exchange:
    """The statistics of every barrier task, merged in task order, handed to
    every task at each E-step.

    Spark's own ``allGather`` waits in steps of a second (its barrier RPC
    polls), which would cost a second per iteration; it is used once, to
    tell every task where task 0 listens. Then each task sends its
    statistics to task 0 over a plain TCP connection, task 0 merges them in
    task order (the fixed pairwise tree) and sends the merged statistics
    back: kilobytes per iteration. Connections prove themselves with a
    secret drawn on the driver for this fit.
    """

    def __init__(self, ctx, index, secret):
        self.index, self.secret = index, secret
        infos = ctx.getTaskInfos()
        self.n = len(infos)
        self.peers, self.sock, self.server = [], None, None
        if index == 0:
            self.server = socket.create_server(("", 0), backlog=self.n)
            host = infos[0].address.rsplit(":", 1)[0]
            where = f"{host}:{self.server.getsockname()[1]}"
        else:
            where = ""
        addresses = ctx.allGather(where)
        if index == 0:
            self.server.settimeout(_TIMEOUT)
            by_index = {}
            while len(by_index) < self.n - 1:
                conn, _ = self.server.accept()
                conn.settimeout(_TIMEOUT)
                hello = _recv(conn)
                if hello[:16] != secret:
                    conn.close()
                    continue
                by_index[int.from_bytes(hello[16:], "little")] = conn
            self.peers = [by_index[i] for i in sorted(by_index)]
        else:
            host, port = addresses[0].rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)), timeout=_TIMEOUT)
            _send(self.sock, secret + index.to_bytes(8, "little"))

    def merged(self, mine):
        """The merged statistics of every task (`mine`: this task's, or None)."""
        if self.n == 1:
            return mine
        if self.index != 0:
            _send(self.sock, b"" if mine is None else mine.to_bytes())
            return _emkit.MixtureStats.from_bytes(_recv(self.sock))
        got = [mine] + [
            _emkit.MixtureStats.from_bytes(b) if b else None
            for b in (_recv(p) for p in self.peers)
        ]
        merged = _tree_merge([s for s in got if s is not None])
        payload = merged.to_bytes()
        for p in self.peers:
            _send(p, payload)
        return merged

    def reduce(self, mine, combine):
        """``combine`` of every task's `mine` (in task order), computed by
        task 0 and handed to every task; a ValueError there is raised in
        every task, so that all leave the fit's lockstep together. Values
        travel pickled: only tasks that proved the fit's secret send them."""
        if self.n == 1:
            return combine([mine])
        if self.index != 0:
            _send(self.sock, pickle.dumps(mine))
            ok, value = pickle.loads(_recv(self.sock))
        else:
            got = [mine] + [pickle.loads(_recv(p)) for p in self.peers]
            try:
                ok, value = True, combine(got)
            except ValueError as e:
                ok, value = False, str(e)
            payload = pickle.dumps((ok, value))
            for p in self.peers:
                _send(p, payload)
        if not ok:
            raise ValueError(value)
        return value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for s in self.peers + [self.sock, self.server]:
            if s is not None:
                s.close()


#: Seconds a task waits for another before it gives up (a fit's iteration
#: takes far less; Spark kills the other tasks of a failed barrier stage).
_TIMEOUT = 3600


def _send(sock, payload):
    sock.sendall(len(payload).to_bytes(8, "little") + payload)


def _recv(sock):
    size = int.from_bytes(_recv_exactly(sock, 8), "little")
    return _recv_exactly(sock, size)


def _recv_exactly(sock, size):
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("a barrier task closed its connection mid-fit")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class GaussianMixtureModel(_Params):
    """A fitted mixture: Spark ML's ``GaussianMixtureModel`` attributes and
    ``transform``, backed by an emkit model."""

    _defaults = GaussianMixture._defaults

    def __init__(self, model, report, params):
        super().__init__(**params)
        self._model = model
        self._report = report

    @property
    def weights(self):
        return [float(v) for v in self._model.weights]

    @property
    def hasSummary(self):
        return self._report is not None

    @property
    def summary(self):
        """``logLikelihood`` (total, weighted), ``numIter``, ``converged``, ``k``;
        emkit adds ``emSeconds``: the wall time of the best restart's EM
        passes (its E-steps with their exchanges and M-steps, the final
        E-step included), which over ``numIter + 1`` passes is the time per
        iteration without the fit's fixed costs; ``initSeconds``: the wall
        time of every restart's initialisation (the sample's: gathering it
        and its k-means on the driver; k-means‖'s: its passes in the
        fit's barrier job, or its jobs in the collect mode) and
        ``initMode``, the one used."""
        r = self._report or {}
        return _Summary(
            logLikelihood=float(r.get("log_likelihood", float("nan"))),
            numIter=int(r.get("n_iter", 0)),
            converged=bool(r.get("converged", False)),
            k=int(self._model.n_components),
            emSeconds=float(r.get("em_seconds", float("nan"))),
            initSeconds=float(r.get("init_seconds", float("nan"))),
            initMode=r.get("init_mode"),
        )

    def toEmkit(self):
        """The same model as an ``emkit.GaussianMixture`` (fitted)."""
        from .mixture import GaussianMixture as Local

        return Local.from_json(self._model.to_json())

    @property
    def gaussiansDF(self):
        """One row per component: ``mean`` (DenseVector) and ``cov`` (DenseMatrix)."""
        from pyspark.ml.linalg import DenseMatrix, DenseVector
        from pyspark.sql import SparkSession

        local = self.toEmkit()
        k, d = local.means_.shape
        covs = {
            "full": lambda j: local.covariances_[j],
            "tied": lambda j: local.covariances_,
            "diag": lambda j: np.diag(local.covariances_[j]),
            "spherical": lambda j: np.eye(d) * local.covariances_[j],
        }[self._model.covariance_type]
        rows = [
            (DenseVector(local.means_[j]), DenseMatrix(d, d, covs(j).T.ravel().tolist()))
            for j in range(k)
        ]
        return SparkSession.getActiveSession().createDataFrame(rows, ["mean", "cov"])

    def transform(self, df):
        """`df` with the prediction (int) and probability (vector) columns."""
        from pyspark.ml.linalg import Vectors, VectorUDT
        from pyspark.sql.types import IntegerType, StructField, StructType

        col = self.getFeaturesCol()
        pred, prob = self.getPredictionCol(), self.getProbabilityCol()
        model, k = self._model, int(self._model.n_components)
        schema = StructType(
            df.schema.fields + [StructField(pred, IntegerType()), StructField(prob, VectorUDT())]
        )

        def apply(rows):
            rows = list(rows)
            if not rows:
                return
            x, _ = _features(rows, col, None)
            p = model.predict_proba(x).reshape(len(rows), k)
            labels = p.argmax(axis=1)
            for r, label, pr in zip(rows, labels, p):
                yield tuple(r) + (int(label), Vectors.dense(pr))

        return df.sparkSession.createDataFrame(df.rdd.mapPartitions(apply), schema)

    def predict(self, value):
        """The component of one feature vector."""
        x = np.require(np.asarray(value.toArray() if hasattr(value, "toArray") else value,
                                  dtype=np.float64)[None, :], np.float64, ["C_CONTIGUOUS"])
        return int(self._model.predict(x)[0])

    def save(self, path):
        """Writes the model file (emkit's format, on the driver's file system)."""
        self.toEmkit().save(path)

    write = save

    @classmethod
    def load(cls, path):
        """Reads a model file written by ``save`` (or by ``emkit fit -o``)."""
        from . import load as load_file

        local = load_file(path)
        params = dict(cls._defaults)
        params.update(k=int(local.n_components), covarianceType=local.covariance_type)
        return cls(local._model(), None, params)


class _Summary:
    def __init__(self, **values):
        self.__dict__.update(values)

    def __repr__(self):
        return "GaussianMixtureSummary(" + json.dumps(self.__dict__) + ")"


# ------------------------------------------------------------------ HMMs


def _sequence(value):
    """One sequence of a row as numpy: an array of numbers (symbols, or one
    feature), an array of arrays or an array of pyspark.ml vectors."""
    if value is None:
        raise ValueError("a sequence is null")
    rows = [v.toArray() if hasattr(v, "toArray") else v for v in value]
    return np.asarray(rows, dtype=np.float64)


class _SparkParts:
    """A DataFrame's sequences packed once per partition (``_dask_hmm``'s
    packing: checked as the in-memory fit checks them) and cached; what
    ``_dask_hmm.fit_parts`` reads. Empty partitions are left out; the others
    keep their order, and within each the rows keep theirs."""

    def __init__(self, est, df, col):
        template = type(est)()
        self._sc = df.sparkSession.sparkContext

        def pack(index, rows):
            try:
                packed = _dask_hmm._pack(template, (_sequence(r[0]) for r in rows))
                yield index, packed, None
            except ValueError as e:
                yield index, None, f"partition {index}: {e}"

        self.packed = df.select(col).rdd.mapPartitionsWithIndex(pack).cache()
        got = sorted(
            self.packed.map(
                lambda t: (t[0], None if t[1] is None else _dask_hmm._summary(t[1]), t[2])
            ).collect(),
            key=lambda t: t[0],
        )
        errors = [e for _, _, e in got if e is not None]
        if errors:
            self.close()
            raise ValueError(errors[0])
        keep = [(i, s) for i, s, _ in got if s[1]]
        if not keep:
            self.close()
            raise ValueError(f"column {col!r} holds no sequence; give at least one")
        widths = {s[0] for _, s in keep}
        if len(widths) > 1:
            self.close()
            raise ValueError(
                f"the sequences have different numbers of columns ({sorted(widths)}); every "
                "observation needs the same features"
            )
        self.d = widths.pop()
        self.index = [i for i, _ in keep]
        self.lengths = [s[1] for _, s in keep]
        self.top = max(s[2] for _, s in keep)
        self.n = int(sum(sum(lengths) for lengths in self.lengths))

    def stats(self, model):
        """One Spark job: each partition's E-step in Rust, collected, merged
        in partition order by the fixed tree."""
        bc = self._sc.broadcast(model)
        try:
            got = self.packed.map(
                lambda t: (t[0], None if t[1][0] is None else _dask_hmm._part_stats(bc.value, t[1]))
            ).collect()
        finally:
            bc.unpersist()
        parts = [s for _, s in sorted(got, key=lambda t: t[0]) if s is not None]
        return tree(parts, _dask_hmm._merge)

    def sample(self, seed):
        """``(x, lengths)`` of the initialisation's sequences
        (``_dask_hmm.sample_picks``): one Spark job."""
        picks = dict(zip(self.index, _dask_hmm.sample_picks(self.lengths, self.n, seed)))
        picks = {i: p for i, p in picks.items() if p}
        got = sorted(
            self.packed.filter(lambda t: t[0] in picks)
            .map(lambda t: (t[0], _dask_hmm._take(t[1], picks[t[0]])))
            .collect(),
            key=lambda t: t[0],
        )
        x = plain(np.concatenate([x for _, (x, _) in got]))
        return x, [n for _, (_, lengths) in got for n in lengths]

    def close(self):
        self.packed.unpersist()


def fit_hmm(estimator, df, sequenceCol="sequence"):
    """Fits `estimator` (an ``emkit.hmm`` ``GaussianHMM``, ``CategoricalHMM``
    or ``GMMHMM``) on the sequences of the DataFrame `df`, one whole sequence
    per row in the array column `sequenceCol`, and returns the estimator,
    fitted as by its in-memory ``fit`` (see the module's docstring)."""
    if sequenceCol not in df.columns:
        raise ValueError(
            f"the DataFrame has no column {sequenceCol!r} (its columns: {df.columns})"
        )
    if not hasattr(estimator, "_emission") or not hasattr(estimator, "_fitted"):
        raise TypeError(
            f"estimator must be an emkit.hmm GaussianHMM, CategoricalHMM or GMMHMM, got "
            f"{type(estimator).__name__}"
        )
    estimator._check_params()
    parts = _SparkParts(estimator, df, sequenceCol)
    try:
        model, report, n = _dask_hmm.fit_parts(estimator, parts)
    finally:
        parts.close()
    estimator._init_monitor()
    estimator._fitted(model, report, n, record=True)
    return estimator
