"""SQUAREM against plain EM and against the peer, from one start per case.

For every case one starting model is made (mixtures: emkit's k-means
initialisation, `max_iter=0`, random_state=0; HMMs: hmmlearn's own
initialisation, `n_iter=0`, random_state=0), and from that identical start
three fits run to convergence:

- emkit plain EM (`accel='none'`),
- emkit SQUAREM (`accel='squarem'`),
- the peer: scikit-learn's GaussianMixture (weights_init, means_init,
  precisions_init; its k-means is then skipped) or hmmlearn (init_params='',
  the parameters set by hand, implementation='scaling', its faster one).

Tolerance: `--tol` (default 1e-8) is the change of the mean log-likelihood
per row, scikit-learn's meaning; hmmlearn's tol is on the total, so HMMs get
tol * n on both sides (emkit's HMM classes take hmmlearn's meaning). A second
table repeats plain against SQUAREM at the default tolerances (1e-3 for
mixtures, hmmlearn's 1e-2 total for HMMs), where the default `accel` is
decided. Mixtures use reg_covar 1e-6 on both sides (scikit-learn's default);
HMMs use hmmlearn's default priors on both sides (emkit's classes copy them).

Costs: EM steps are passes over the data (E-steps): emkit's `n_em_steps_`
(plain EM: equal to its iterations), the peer's iterations (scikit-learn's
extra final E-step is not counted; nor is emkit's final scoring). Seconds are
whole `fit` calls in this process, 2 threads each (RAYON_NUM_THREADS and
OpenBLAS/OMP threads set before numpy is imported, threadpoolctl on top).
emkit's two fits run in alternating pairs, median of >= --repeats pairs
(more pairs for short fits, until about 1 s of fitting or 41 pairs); the
peer runs --peer-repeats times (once when a fit takes over 5 s). Final mean
log-likelihood: each fitted model's own `score` (per row).

"others' CPU": the share of the host's CPUs used by other processes while
the case ran (from /proc/stat less this process's own CPU time): the
development machine is shared, and a build beside the benchmark slows
OpenBLAS's threaded calls most.

Same answer: SQUAREM's final mean log-likelihood >= plain's - 1e-7 * |plain's|.

    target/test-venv/bin/python bench/accel.py            # the suite, ~10 min
    target/test-venv/bin/python bench/accel.py --quick    # < 1 min, small cases
"""

import os

THREADS = 2
for var in ("RAYON_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)

import argparse  # noqa: E402
import copy  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # the environment variables above still hold
    threadpool_limits = None

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
if not (DATA / "iris.csv").exists():  # a worktree without data/: the main checkout's
    DATA = Path("/work/main/data")
MAX_ITER = 100_000
SAME = 1e-7


# ----------------------------------------------------------------- data


def blobs(n, d, k, scale, seed, weights=None, shape=1.0):
    """k Gaussian blobs, centres ~ N(0, scale^2), random full covariances
    I + shape * A with A's entries ~ N(0, 1/d) (shape large: the components
    differ in orientation as much as in place, which EM separates quickly)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=scale, size=(k, d))
    p = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
    labels = rng.choice(k, size=n, p=p / p.sum())
    x = np.empty((n, d))
    for j in range(k):
        rows = labels == j
        a = np.eye(d) + shape * rng.normal(size=(d, d)) / np.sqrt(d)
        x[rows] = centres[j] + rng.normal(size=(rows.sum(), d)) @ a.T
    return x


def csv(name):
    return np.loadtxt(DATA / name, delimiter=",", skiprows=1)


def wine4():
    """scikit-learn's bundled wine data, standardised, first 4 principal components."""
    from sklearn.datasets import load_wine

    x = load_wine().data
    x = (x - x.mean(0)) / x.std(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, :4] * s[:4]


def sticky(rng, k, stay):
    t = rng.dirichlet(np.ones(k), size=k) * (1 - stay) + np.eye(k) * stay
    return t / t.sum(axis=1, keepdims=True)


def hmm_states(rng, trans, lengths):
    k = len(trans)
    cum = np.cumsum(trans, axis=1)
    out = []
    for t_len in lengths:
        s = np.empty(t_len, dtype=np.int64)
        s[0] = rng.integers(k)
        u = rng.random(t_len)
        for t in range(1, t_len):
            s[t] = min(np.searchsorted(cum[s[t - 1]], u[t]), k - 1)
        out.append(s)
    return np.concatenate(out)


def hmm_gaussian(seed, n_seq, t_len, k=3, d=2, scale=1.0):
    """Sticky k-state chain, Gaussian emissions with centres ~ N(0, scale^2) and
    random full covariances: the emissions overlap."""
    rng = np.random.default_rng(seed)
    lengths = [t_len] * n_seq
    s = hmm_states(rng, sticky(rng, k, 0.9), lengths)
    means = rng.normal(scale=scale, size=(k, d))
    a = rng.normal(size=(k, d, d)) / np.sqrt(d)
    x = means[s] + np.einsum("tij,tj->ti", a[s], rng.normal(size=(len(s), d)))
    return x, np.array(lengths)


def hmm_categorical(seed, n_seq, t_len, k=3, m=6):
    rng = np.random.default_rng(seed)
    lengths = [t_len] * n_seq
    s = hmm_states(rng, sticky(rng, k, 0.9), lengths)
    b = rng.dirichlet(np.ones(m), size=k)  # flat Dirichlet: overlapping symbol sets
    cum = np.cumsum(b, axis=1)
    sym = np.minimum((cum[s] < rng.random(len(s))[:, None]).sum(axis=1), m - 1)
    return sym.reshape(-1, 1).astype(np.int64), np.array(lengths)


def hmm_gmm(seed, n_seq, t_len, k=2, mix=2, d=2, scale=1.5):
    """Each state a 2-component mixture; the four components overlap."""
    rng = np.random.default_rng(seed)
    lengths = [t_len] * n_seq
    s = hmm_states(rng, sticky(rng, k, 0.9), lengths)
    means = rng.normal(scale=scale, size=(k, mix, d))
    sd = rng.uniform(0.5, 1.2, size=(k, mix, d))
    c = rng.integers(mix, size=len(s))
    x = means[s, c] + sd[s, c] * rng.normal(size=(len(s), d))
    return x, np.array(lengths)


# name, model, loader, k, covariance type (mixtures, Gaussian and GMM HMMs),
# extra constructor arguments, in --quick
CASES = [
    # The 100 000 x 8, k = 6: unit covariances, centres ~ N(0, 0.7^2),
    # so that plain EM (and scikit-learn) needs hundreds of iterations at tol
    # 1e-8 (566). The milder one beside it: centres ~ N(0, 1), covariances
    # I + 0.3 A (52 iterations). With centres ~ N(0, 1.5^2) and random
    # covariances both took under 15.
    ("blobs100k", "gmm", lambda: blobs(100_000, 8, 6, 0.7, 831, shape=0.0), 6, "full", {}, False),
    ("blobs100k-mild", "gmm", lambda: blobs(100_000, 8, 6, 1.0, 831, shape=0.3), 6, "full", {},
     False),
    ("faithful", "gmm", lambda: csv("faithful_std.csv"), 3, "full", {}, True),
    ("faithful", "gmm", lambda: csv("faithful_std.csv"), 3, "diag", {}, True),
    ("iris", "gmm", lambda: csv("iris.csv"), 3, "full", {}, True),
    ("iris", "gmm", lambda: csv("iris.csv"), 3, "tied", {}, True),
    ("unequal20k", "gmm",
     lambda: blobs(20_000, 4, 5, 1.5, 20, weights=[0.4, 0.25, 0.2, 0.1, 0.05]), 5, "diag", {}, False),
    ("unequal20k", "gmm",
     lambda: blobs(20_000, 4, 5, 1.5, 20, weights=[0.4, 0.25, 0.2, 0.1, 0.05]), 5, "spherical", {},
     False),
    ("wine-pca4", "gmm", wine4, 3, "full", {}, True),
    ("hmm-gauss", "GaussianHMM", lambda: hmm_gaussian(1, 20, 1000), 3, "full", {}, False),
    ("hmm-gauss", "GaussianHMM", lambda: hmm_gaussian(1, 20, 1000), 3, "diag", {}, False),
    ("hmm-gauss-small", "GaussianHMM", lambda: hmm_gaussian(1, 4, 500), 3, "full", {}, True),
    ("hmm-cat", "CategoricalHMM", lambda: hmm_categorical(2, 20, 1000), 3, None, {}, False),
    ("hmm-cat-small", "CategoricalHMM", lambda: hmm_categorical(2, 4, 500), 3, None, {}, True),
    ("hmm-gmm", "GMMHMM", lambda: hmm_gmm(3, 20, 1000), 2, "diag", {"n_mix": 2}, False),
]


# ------------------------------------------------------------ the fits


def limits():
    if threadpool_limits is None:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(THREADS)


class Mixture:
    def __init__(self, x, k, cov, extra):
        import emkit

        self.x, self.k, self.cov = x, k, cov
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            init = emkit.GaussianMixture(k, covariance_type=cov, max_iter=0, random_state=0,
                                         init_params="kmeans").fit(x)
        self.start = dict(weights_init=np.array(init.weights_), means_init=np.array(init.means_),
                          precisions_init=np.array(init.precisions_))
        self.n = len(x)

    def emkit(self, accel, tol):
        import emkit

        gm = emkit.GaussianMixture(self.k, covariance_type=self.cov, tol=tol, reg_covar=1e-6,
                                   max_iter=MAX_ITER, accel=accel, **self.start)
        t = time.perf_counter()
        gm.fit(self.x)
        elapsed = time.perf_counter() - t
        return dict(seconds=elapsed, iters=gm.n_iter_, steps=gm.n_em_steps_,
                    ll=gm.score(self.x), converged=gm.converged_)

    def peer(self, tol):
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(self.k, covariance_type=self.cov, tol=tol, reg_covar=1e-6,
                             max_iter=MAX_ITER, **self.start)
        with limits(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            gm.fit(self.x)
            elapsed = time.perf_counter() - t
            ll = gm.score(self.x)
        return dict(seconds=elapsed, iters=gm.n_iter_, steps=gm.n_iter_, ll=ll,
                    converged=gm.converged_)


class Hmm:
    def __init__(self, data, model, k, cov, extra):
        from hmmlearn import hmm

        self.x, self.lengths = data
        self.model, self.k, self.cov, self.extra = model, k, cov, extra
        self.n = len(self.x)
        kw = dict(extra)
        if cov is not None:
            kw["covariance_type"] = cov
        with limits(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            init = getattr(hmm, model)(k, n_iter=0, random_state=0, **kw).fit(self.x, self.lengths)
        names = {"GaussianHMM": ["startprob_", "transmat_", "means_", "covars_"],
                 "CategoricalHMM": ["startprob_", "transmat_", "emissionprob_"],
                 "GMMHMM": ["startprob_", "transmat_", "weights_", "means_", "covars_"]}[model]
        # covars_ reads back in full form for GaussianHMM; set it in the
        # covariance type's own shape.
        self.start = {}
        for name in names:
            value = getattr(init, "_covars_" if name == "covars_" and model == "GaussianHMM"
                            else name)
            self.start[name] = np.array(value, copy=True)

    def _make(self, cls, tol, **kw):
        args = dict(self.extra)
        if self.cov is not None:
            args["covariance_type"] = self.cov
        if self.model == "CategoricalHMM":
            args["n_features"] = int(self.x.max()) + 1
        m = cls(self.k, n_iter=MAX_ITER, tol=tol * self.n, init_params="", **args, **kw)
        for name, value in self.start.items():
            setattr(m, name, value.copy())
        return m

    def emkit(self, accel, tol):
        import emkit.hmm

        m = self._make(getattr(emkit.hmm, self.model), tol, accel=accel)
        t = time.perf_counter()
        m.fit(self.x, self.lengths)
        elapsed = time.perf_counter() - t
        return dict(seconds=elapsed, iters=m.monitor_.iter, steps=m.n_em_steps_,
                    ll=m.score(self.x, self.lengths) / self.n,
                    converged=m.monitor_.iter < MAX_ITER)

    def peer(self, tol):
        from hmmlearn import hmm

        m = self._make(getattr(hmm, self.model), tol, implementation="scaling")
        with limits(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            m.fit(self.x, self.lengths)
            elapsed = time.perf_counter() - t
            ll = m.score(self.x, self.lengths) / self.n
        return dict(seconds=elapsed, iters=m.monitor_.iter, steps=m.monitor_.iter, ll=ll,
                    converged=m.monitor_.iter < MAX_ITER)


def cpu_snapshot():
    """(busy CPU seconds of the whole host, this process's CPU seconds, wall)."""
    with open("/proc/stat") as f:
        v = [int(t) for t in f.readline().split()[1:]]
    busy = sum(v) - v[3] - v[4]  # all but idle and iowait
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.perf_counter()


def others_share(before):
    """Share of the host's CPUs that other processes used since `before`."""
    after = cpu_snapshot()
    wall = after[2] - before[2]
    other = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, other) / (wall * os.cpu_count())


def wait_quiet(limit):
    """Waits (at most `limit` seconds) until other processes use under 10% of
    the host over a 2-s window; returns the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        snap = cpu_snapshot()
        time.sleep(2.0)
        if others_share(snap) < 0.10:
            break
    return time.perf_counter() - t0


def emkit_pairs(case, tol, repeats):
    """Plain and SQUAREM alternating (which goes first alternates too); more
    pairs for short fits."""
    plain, sq = [], []
    budget = 1.0
    while True:
        if len(plain) % 2 == 0:
            plain.append(case.emkit("none", tol))
            sq.append(case.emkit("squarem", tol))
        else:
            sq.append(case.emkit("squarem", tol))
            plain.append(case.emkit("none", tol))
        spent = sum(r["seconds"] for r in plain + sq)
        if len(plain) >= repeats and (spent >= budget or len(plain) >= 41):
            break
    return plain, sq


def summary(runs):
    """The first run's counts and ll (all runs are the same deterministic fit),
    the median of the seconds."""
    out = dict(runs[0])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["runs"] = len(runs)
    for r in runs[1:]:
        if (r["steps"], r["ll"]) != (out["steps"], out["ll"]):
            out["nondeterministic"] = True
    return out


def machine():
    import sklearn

    import emkit

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo")
                  if line.startswith("flags")), [])
    simd = "AVX-512" if "avx512f" in flags else ("AVX2, no AVX-512" if "avx2" in flags else "no AVX2")
    try:
        import hmmlearn

        hv = hmmlearn.__version__
    except ImportError:
        hv = "-"
    blas = "-"
    if threadpool_limits is not None:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    return (f"cpu: {cpu} ({simd}); nproc {os.cpu_count()}; threads {THREADS}\n"
            f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn "
            f"{sklearn.__version__}, hmmlearn {hv}, emkit {getattr(emkit, '__version__', '?')} "
            f"({Path(emkit.__file__).parent}), default accel "
            f"{getattr(emkit._emkit, 'DEFAULT_ACCEL', '?')}\nblas: {blas}\nbench commit: {commit}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def fmt_ll(v):
    return f"{v:.10f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small cases only (< 1 min)")
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--repeats", type=int, default=3, help="least number of emkit pairs")
    ap.add_argument("--peer-repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated case labels, e.g. iris-full")
    ap.add_argument("--no-default-tol", action="store_true", help="skip the default-tol table")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="before each case, wait up to SECONDS for other processes to use "
                         "under 10%% of the host (a shared machine)")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))

    import emkit

    emkit.set_num_threads(THREADS)
    print(machine())
    print(f"command: {' '.join(sys.argv)}")
    print()

    cases = []
    for name, model, loader, k, cov, extra, quick in CASES:
        label = f"{name}-{cov}" if cov else name
        if (args.quick and not quick) or (only and label not in only):
            continue
        cases.append((label, model, loader, k, cov, extra))

    print(f"## From the same start, tol {args.tol:g} (mean log-likelihood per row)")
    print()
    print("| case | model | n | k | plain steps | SQUAREM steps (iters) | peer steps "
          "| plain s | SQUAREM s | peer s | plain/SQUAREM steps | plain/SQUAREM time "
          "| peer/SQUAREM time | ll plain | ll SQUAREM | ll peer | same answer | others' CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = {"steps": [], "time": [], "peer": []}
    lower = []
    made = {}
    t0 = time.perf_counter()
    for label, model, loader, k, cov, extra in cases:
        data = loader()
        case = Mixture(data, k, cov, extra) if model == "gmm" else Hmm(data, model, k, cov, extra)
        made[label] = (model, case)
        if args.wait_quiet > 0:
            wait_quiet(args.wait_quiet)
        snap = cpu_snapshot()
        plain, sq = emkit_pairs(case, args.tol, args.repeats)
        p, s = summary(plain), summary(sq)
        peers = [case.peer(args.tol)]
        while len(peers) < args.peer_repeats and peers[0]["seconds"] < 5.0:
            peers.append(case.peer(args.tol))
        q = summary(peers)
        same = s["ll"] >= p["ll"] - SAME * abs(p["ll"])
        if not same:
            lower.append((label, p, s))
        rs, rt, rp = p["steps"] / s["steps"], p["seconds"] / s["seconds"], q["seconds"] / s["seconds"]
        ratios["steps"].append(rs)
        ratios["time"].append(rt)
        ratios["peer"].append(rp)
        flag = lambda r: "" if r.get("converged", True) else " (max_iter)"  # noqa: E731
        print(f"| {label} | {model} | {case.n} | {k} | {p['steps']}{flag(p)} "
              f"| {s['steps']} ({s['iters']}){flag(s)} | {q['steps']}{flag(q)} "
              f"| {p['seconds']:.4f} | {s['seconds']:.4f} | {q['seconds']:.3f} "
              f"| {rs:.2f}x | {rt:.2f}x | {rp:.0f}x | {fmt_ll(p['ll'])} | {fmt_ll(s['ll'])} "
              f"| {fmt_ll(q['ll'])} | {'yes' if same else 'NO'} | {others_share(snap):.0%} |",
              flush=True)
        if p.get("nondeterministic") or s.get("nondeterministic"):
            print(f"  note: {label}: repeated emkit fits differed in steps or ll", flush=True)
    print()
    if ratios["steps"]:
        print(f"medians over {len(ratios['steps'])} cases: plain/SQUAREM EM steps "
              f"{statistics.median(ratios['steps']):.2f}x, plain/SQUAREM time "
              f"{statistics.median(ratios['time']):.2f}x, peer/SQUAREM time "
              f"{statistics.median(ratios['peer']):.0f}x "
              f"(min {min(ratios['time']):.2f}x time, {min(ratios['steps']):.2f}x steps)")
    print(f"SQUAREM lower than plain by more than {SAME:g} relative: "
          f"{', '.join(label for label, _, _ in lower) or 'none'}")
    print(f"[{time.perf_counter() - t0:.0f} s]")

    if args.no_default_tol:
        return
    print()
    print("## Default tolerance (mixtures 1e-3 mean; HMMs hmmlearn's 1e-2 total), plain vs SQUAREM")
    print()
    print("| case | tol | plain steps | SQUAREM steps (iters) | plain s | SQUAREM s "
          "| plain/SQUAREM time | ll plain | ll SQUAREM | others' CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    slower = []
    times = []
    for label, (model, case) in made.items():
        tol = 1e-3 if model == "gmm" else 1e-2 / case.n
        if args.wait_quiet > 0:
            wait_quiet(args.wait_quiet)
        snap = cpu_snapshot()
        plain, sq = emkit_pairs(case, tol, max(args.repeats, 5))
        p, s = summary(plain), summary(sq)
        rt = p["seconds"] / s["seconds"]
        times.append(rt)
        if rt < 1:
            slower.append(f"{label} ({1 / rt:.2f}x slower)")
        tol_text = "1e-3" if model == "gmm" else "1e-2 total"
        print(f"| {label} | {tol_text} | {p['steps']} | {s['steps']} ({s['iters']}) "
              f"| {p['seconds']:.5f} | {s['seconds']:.5f} | {rt:.2f}x | {fmt_ll(p['ll'])} "
              f"| {fmt_ll(s['ll'])} | {others_share(snap):.0%} |", flush=True)
    print()
    if times:
        print(f"median plain/SQUAREM time at the default tol: {statistics.median(times):.2f}x; "
              f"SQUAREM slower than plain: {', '.join(slower) or 'none'}")
    print(f"[{time.perf_counter() - t0:.0f} s in all]")


if __name__ == "__main__":
    main()
