"""HMMs fitted on Dask collections of sequences, on the active scheduler.

``fit(X)`` of ``emkit.hmm.GaussianHMM``, ``CategoricalHMM`` and ``GMMHMM``
with ``X`` a ``dask.bag`` whose items are sequences, or a list of
``dask.delayed`` sequences, comes here. A sequence is what the in-memory
``fit`` takes for one sequence: a 2-D array of observations in time order
(for ``CategoricalHMM`` one column of integer symbols, or a 1-D array of
them). There are no ``lengths``: each item is one sequence.

Parts: the bag's partitions, in order; a list of delayed sequences is cut
into parts of ``DELAYED_PER_PART`` consecutive sequences, so that the parts
(and the order of every sum) are fixed by the data, never by the cluster.
Each part is checked and packed once on its worker (one contiguous array
and its lengths) and persisted. Every iteration is one Dask graph: each
part's E-step runs in Rust on the worker that holds it
(``Hmm.expectation``: forward–backward per sequence), the statistics are
merged pairwise in a fixed tree in part order, and the M-step runs on the
client (``HmmFitter.maximization``: the fit's learned parameters, priors,
variance floor and unvisited-state policy). What travels per iteration is
the model to each part and the statistics (kilobytes) back.

The stopping rule is the in-memory fit's: Baum–Welch stops when the mean
log-likelihood per observation changes by less than ``tol / n`` (``n`` the
number of observations; hmmlearn's ``tol`` is on the total) between two
E-steps and no state was left unvisited at that M-step, or after
``n_iter`` M-steps; a last E-step scores the final parameters. From the
same start the fit is therefore the in-memory fit's up to the rounding of
sums merged in another order (1e-10 relative; bit for bit with one part).

Initialisation: the in-memory one (``init_params``: uniform start and
transitions, k-means means and the data covariance for Gaussian emissions,
the library's for categorical and mixture emissions, seeded by
``random_state``) on the gathered sequences when they hold at most
``SAMPLE_ROWS`` observations in all, otherwise on a seeded sample of whole
sequences (drawn uniformly without replacement until they hold
``SAMPLE_ROWS`` observations, kept in their order). When the sample holds
every sequence the start, and so the fit, is the in-memory fit's on
``np.concatenate(sequences)`` with their lengths. Parameters set by the user
and left out of ``init_params`` are kept, as in memory.

``score`` takes such collections too (the total log-likelihood, summed in
the same fixed order), and ``predict`` / ``decode`` / ``predict_proba``
return a bag (or list of delayed) of per-sequence results. Not here yet:
``verbose`` progress (use Dask's dashboard).
"""

import numpy as np

from . import _emkit
from ._common import seed_from
from ._distributed import best_of, plain, tree

#: The most observations the initialisation reads.
SAMPLE_ROWS = 1 << 17
#: Consecutive delayed sequences packed into one part.
DELAYED_PER_PART = 32


def is_sequences(X):
    """Whether X is a dask bag or a non-empty list of dask.delayed values."""
    if hasattr(X, "__dask_graph__"):
        return type(X).__module__.startswith("dask.bag")
    if isinstance(X, (list, tuple)) and X:
        return all(type(x).__module__.startswith("dask.delayed") for x in X)
    return False


def _pack(template, seqs):
    """Checks each sequence as the in-memory fit does (``template._data``)
    and packs them: ``(x, lengths, top symbol + 1)``; ``(None, [], 0)`` for
    an empty part."""
    xs, lengths = [], []
    for i, s in enumerate(seqs):
        # What a worker receives may lie unaligned in a network buffer.
        s = np.require(s, requirements=["C_CONTIGUOUS", "ALIGNED"])
        if s.ndim == 1 and template._emission == "categorical":
            s = s[:, None]
        try:
            s = template._data(s)
        except ValueError as e:
            raise ValueError(f"sequence {i} of a part: {e}") from None
        if xs and s.shape[1] != xs[0].shape[1]:
            raise ValueError(
                f"sequence {i} of a part has {s.shape[1]} columns, the first {xs[0].shape[1]}; "
                "every observation needs the same features"
            )
        xs.append(template._library_data(s))
        lengths.append(int(s.shape[0]))
    if not xs:
        return None, [], 0
    x = plain(np.concatenate(xs))
    top = int(x.max()) + 1 if template._emission == "categorical" else 0
    return x, lengths, top


def _summary(packed):
    x, lengths, top = packed
    return (None if x is None else x.shape[1]), lengths, top


def _take(packed, picks):
    """The sequences `picks` (indices in the part, increasing) of a part."""
    x, lengths, _ = packed
    ends = np.cumsum(lengths)
    starts = ends - np.asarray(lengths)
    rows = [x[starts[i] : ends[i]] for i in picks]
    return np.concatenate(rows), [lengths[i] for i in picks]


def _part_stats(model, packed):
    x, lengths, _ = packed
    return model.expectation(plain(x), lengths)


def _part_score(model, packed):
    x, lengths, _ = packed
    return 0.0 if x is None else model.score(plain(x), lengths)


def _merge(a, b):
    return a.merged(b)


def sample_picks(lengths, n, seed):
    """Which sequences of each part the initialisation reads (indices in the
    part, increasing; `lengths`: each part's sequence lengths, `n` their
    total): all of them when they hold at most SAMPLE_ROWS observations,
    else whole sequences drawn uniformly without replacement by `seed` until
    they hold SAMPLE_ROWS, kept in their order."""
    if n <= SAMPLE_ROWS:
        return [list(range(len(part))) for part in lengths]
    flat = np.concatenate([np.asarray(part) for part in lengths])
    order = np.random.default_rng(seed).permutation(len(flat))
    enough = int(np.searchsorted(np.cumsum(flat[order]), SAMPLE_ROWS)) + 1
    picked = np.sort(order[:enough])
    picks, first = [], 0
    for part in lengths:
        mine = picked[(picked >= first) & (picked < first + len(part))] - first
        picks.append([int(i) for i in mine])
        first += len(part)
    return picks


class _Parts:
    """The persisted, packed parts of a collection of sequences."""

    def __init__(self, est, X):
        import dask

        self._dask = dask
        template = type(est)()
        pack = dask.delayed(_pack, pure=True)
        if hasattr(X, "to_delayed"):
            groups = X.to_delayed()
        else:
            X = list(X)
            groups = [
                X[i : i + DELAYED_PER_PART] for i in range(0, len(X), DELAYED_PER_PART)
            ]
        # Kept: the persisted data lives as long as its collection.
        self.packed = list(dask.persist(*[pack(template, g) for g in groups]))
        summaries = dask.compute(*[dask.delayed(_summary)(p) for p in self.packed])
        keep = [i for i, s in enumerate(summaries) if s[1]]
        if not keep:
            raise ValueError("X holds no sequence; give at least one")
        self.packed = [self.packed[i] for i in keep]
        summaries = [summaries[i] for i in keep]
        widths = {s[0] for s in summaries}
        if len(widths) > 1:
            raise ValueError(
                f"the sequences have different numbers of columns ({sorted(widths)}); every "
                "observation needs the same features"
            )
        self.d = widths.pop()
        self.lengths = [s[1] for s in summaries]
        self.top = max(s[2] for s in summaries)
        self.n = int(sum(sum(lengths) for lengths in self.lengths))
        self.n_sequences = sum(len(lengths) for lengths in self.lengths)

    def stats(self, model):
        """Merged E-step statistics of every part under `model`."""
        part = self._dask.delayed(_part_stats, pure=True)
        parts = [part(model, p) for p in self.packed]
        (merged,) = self._dask.compute(tree(parts, self._dask.delayed(_merge, pure=True)))
        return merged

    def sample(self, seed):
        """Whole sequences holding about SAMPLE_ROWS observations, drawn
        without replacement, in their order: all sequences when they hold
        no more. Returns ``(x, lengths)``."""
        take = self._dask.delayed(_take, pure=True)
        pieces = [
            take(p, mine)
            for p, mine in zip(self.packed, sample_picks(self.lengths, self.n, seed))
            if mine
        ]
        pieces = self._dask.compute(*pieces)
        x = plain(np.concatenate([x for x, _ in pieces]))
        return x, [n for _, lengths in pieces for n in lengths]


def fit(est, X):
    """Fits `est` (an emkit.hmm model, parameters checked) on a Dask
    collection of sequences; returns the library's model, the fit's report
    and the number of observations."""
    return fit_parts(est, _Parts(est, X))


def fit_parts(est, parts):
    """The fit of `est` on `parts`, packed sequences anywhere (the Dask and
    Spark fits' parts): ``parts.d`` (columns), ``parts.top`` (largest symbol
    + 1), ``parts.n`` (observations), ``parts.sample(seed)`` (``(x,
    lengths)`` of the initialisation's sequences, see :func:`sample_picks`)
    and ``parts.stats(model)`` (the merged E-step statistics of every part,
    in part order). Returns the library's model, the report and ``n``."""
    if est._emission == "categorical":
        est._check_and_set_n_features(np.array([[parts.top - 1]]))
    else:
        est._check_and_set_n_features(np.empty((0, parts.d)))
    learn = est._learn_checked()
    seed = seed_from(est.random_state)
    n = parts.n
    x0, lengths0 = parts.sample(seed)
    init, init_parts = est._initial(x0, lengths0, seed)
    fitter = _emkit.HmmFitter(
        est._emission,
        int(est.n_components),
        # hmmlearn's tol is on the total log-likelihood; the library's on its mean.
        float(est.tol) / n,
        int(est.n_iter),
        1,
        seed,
        est._learn_letters(learn),
        init=init,
        init_parts=init_parts,
        **est._fit_kwargs(),
    )
    start = fitter.initial(x0, lengths0)
    model, report = best_of(
        [start],
        parts.stats,
        fitter.maximization,
        float(est.tol) / n,
        int(est.n_iter),
        "set a positive covars_prior / min_covar, or reduce n_components",
    )
    return model, report, n


def score(model, est, X):
    """Total log-likelihood of a collection of sequences, summed per part
    in part order (a fixed tree)."""
    import dask

    pack = dask.delayed(_pack, pure=True)
    template = type(est)()
    if hasattr(X, "to_delayed"):
        groups = X.to_delayed()
    else:
        X = list(X)
        groups = [X[i : i + DELAYED_PER_PART] for i in range(0, len(X), DELAYED_PER_PART)]
    part = dask.delayed(_part_score, pure=True)
    scores = [part(model, pack(template, g)) for g in groups]
    (total,) = dask.compute(tree(scores, dask.delayed(lambda a, b: a + b, pure=True)))
    return float(total)


def map_sequences(est, X, method):
    """``est.method`` of each sequence: a bag for a bag, delayed values for
    a list of delayed sequences."""
    import dask

    def apply(seq):
        seq = np.require(seq, requirements=["C_CONTIGUOUS", "ALIGNED"])
        if seq.ndim == 1 and est._emission == "categorical":
            seq = seq[:, None]
        return getattr(est, method)(seq)

    if hasattr(X, "to_delayed"):
        return X.map(apply)
    return [dask.delayed(apply, pure=True)(s) for s in X]
