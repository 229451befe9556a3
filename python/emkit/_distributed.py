"""What the Dask and Spark fits share: the EM loop over merged statistics,
the restarts, the fixed merge order, and blocks the library reads in place.

The loop serves every model: it needs statistics with ``log_likelihood``
and ``total_weight`` and an M-step ``m_step(model, stats) -> (model,
reseeded)``; :func:`mixture_m_step` is the mixtures' (``reg_covar`` added).
"""

import time

import numpy as np


def plain(a):
    """`a` as an aligned C-contiguous float64 array: what a worker receives
    may lie unaligned in a network buffer, which the library cannot read in
    place (such a block is copied once)."""
    return np.require(a, np.float64, ["C_CONTIGUOUS", "ALIGNED"])


def tree(parts, merge):
    """Merges `parts` pairwise with `merge`, neighbours first, in the order
    given, so the result never depends on which part was ready first."""
    while len(parts) > 1:
        nxt = [merge(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    return parts[0]


def mixture_m_step(reg):
    """The mixtures' M-step with ``reg_covar = reg``."""
    return lambda model, stats: model.maximization(stats, reg)


def em(model, stats_of, m_step, tol, max_iter, hint):
    """One restart of EM from `model`: the in-memory driver's loop. `stats_of`
    gives the merged statistics of every row under a model, `m_step` the next
    model and what it re-seeded (or left as it was); `hint` ends the message
    of a collapsed fit (the caller's parameter names)."""
    bounds, reseeded, previous, converged = [], [], None, False
    began = time.perf_counter()
    for iteration in range(1, max_iter + 1):
        stats = stats_of(model)
        mean = stats.log_likelihood / stats.total_weight
        if not np.isfinite(mean):
            raise ValueError(
                f"the log-likelihood is not finite at iteration {iteration}; the model "
                f"collapsed onto single points: {hint}"
            )
        bounds.append(mean)
        model, fresh = m_step(model, stats)
        reseeded.extend((iteration, int(c)) for c in fresh)
        if previous is not None and abs(mean - previous) < tol and not fresh:
            converged = True
            break
        previous = mean
    final = stats_of(model)
    return model, {
        "em_seconds": time.perf_counter() - began,
        "converged": converged,
        "n_iter": len(bounds),
        "lower_bounds": bounds,
        "stop_reason": "converged" if converged else "max_iter",
        "reseeded": reseeded,
        "log_likelihood": final.log_likelihood,
        "total_weight": final.total_weight,
    }


def best_of(starts, stats_of, m_step, tol, max_iter, hint):
    """Runs EM from every start (an iterable, read lazily); the best by final
    log-likelihood, the first on ties, with its index as ``best_init``. A
    restart that fails is skipped; when all fail, the first error is raised."""
    best, first_error = None, None
    for restart, start in enumerate(starts):
        try:
            model, report = em(start, stats_of, m_step, tol, max_iter, hint)
        except ValueError as e:
            first_error = first_error or e
            continue
        if best is None or report["log_likelihood"] > best[1]["log_likelihood"]:
            report["best_init"] = restart
            best = (model, report)
    if best is None:
        raise first_error
    return best
