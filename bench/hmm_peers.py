"""emkit against hmmlearn, per Baum-Welch iteration, on the same data in the same run.

Run through `bench/run.sh hmm`, which sets up the virtualenv. Each workload's
data is sampled once (seeded) from a sticky HMM and written under
target/bench-data/, with the same starting parameters for both tools (a
perturbed copy of the truth, so no initialisation is timed). Both run 20
iterations (emkit: --tol 0; hmmlearn: tol=-inf, init_params=""), are allowed
2 threads, and the fit time divided by 20 is one iteration; each figure is the
median of --repeats runs. emkit's time is the `seconds` of `emkit hmm fit
--json` (the fit alone, data reading excluded, its final scoring pass
included); hmmlearn's is `fit`, timed for both of its implementations
("log", the default, and "scaling"), and the ratio is against the faster.
emkit's Python classes (`emkit.hmm`) are timed in this process from the same start.
"""

import argparse
import copy
import json
import os
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EMKIT = ROOT / "target" / "release" / "emkit"
DATA = ROOT / "target" / "bench-data"
THREADS = 2
MAX_ITER = 20

WORKLOADS = [
    # name, emission, T, K, d (Gaussian) or M (categorical), covariance
    ("H1", "gaussian", 200_000, 8, 4, "full"),
    ("H2", "gaussian", 200_000, 8, 4, "diag"),
    ("H3", "categorical", 1_000_000, 8, 32, None),
]


def sticky(rng, k):
    t = rng.dirichlet(np.ones(k), size=k) * 0.2 + np.eye(k) * 0.8
    return t / t.sum(axis=1, keepdims=True)


def workload(name, emission, t_len, k, width, cov):
    """Data file and a starting model (emkit JSON + the same values for hmmlearn)."""
    rng = np.random.default_rng(sum(map(ord, name)))
    start = np.full(k, 1.0 / k)
    trans = sticky(rng, k)
    states = np.empty(t_len, dtype=np.int64)
    states[0] = rng.integers(k)
    u = rng.random(t_len)
    cum = np.cumsum(trans, axis=1)
    for t in range(1, t_len):
        states[t] = min(np.searchsorted(cum[states[t - 1]], u[t]), k - 1)
    init = {"format": "emkit.hmm", "version": 1, "n_states": k,
            "start": start.tolist(), "transitions": sticky(rng, k).tolist()}
    path = DATA / f"{name}.csv"
    DATA.mkdir(parents=True, exist_ok=True)
    if emission == "gaussian":
        d = width
        means = rng.normal(scale=3.0, size=(k, d))
        a = rng.normal(size=(k, d, d)) / np.sqrt(d)
        x = means[states] + np.einsum("tij,tj->ti", a[states], rng.normal(size=(t_len, d)))
        cv = np.cov(x.T) + 1e-3 * np.eye(d)
        init.update(emission="gaussian", covariance_type=cov,
                    means=(means + rng.normal(scale=0.5, size=(k, d))).tolist(),
                    covariances=[cv.tolist()] * k if cov == "full"
                    else [np.diag(cv).tolist()] * k)
        if not path.exists():
            np.savetxt(path, x, delimiter=",", header=",".join(f"x{i}" for i in range(d)),
                       comments="", fmt="%.17g")
    else:
        m = width
        b = rng.dirichlet(np.ones(m) * 0.3, size=k)
        cum_b = np.cumsum(b, axis=1)
        s = np.minimum((cum_b[states] < rng.random(t_len)[:, None]).sum(axis=1), m - 1)
        init.update(emission="categorical", n_symbols=m,
                    emission_probabilities=rng.dirichlet(np.ones(m), size=k).tolist())
        x = s
        if not path.exists():
            np.savetxt(path, s, header="symbol", comments="", fmt="%d")
    model = DATA / f"{name}.init.json"
    model.write_text(json.dumps(init))
    return path, model, init


def time_emkit(path, model, k, cov):
    cmd = [str(EMKIT), "hmm", "fit", str(path), "--states", str(k), "--init-model", str(model),
           "--tol", "0", "--max-iter", str(MAX_ITER), "--json", "-q"]
    if cov is None:
        cmd += ["--emission", "categorical"]
    else:
        cmd += ["--covariance", cov, "--reg-covar", "0"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "RAYON_NUM_THREADS": str(THREADS)})
    summary = json.loads(out.stdout)
    assert summary["n_iter"] == MAX_ITER, summary
    return summary["seconds"] / MAX_ITER, summary["log_likelihood"]


def time_hmmlearn(x, init, implementation):
    from hmmlearn import hmm
    from threadpoolctl import threadpool_limits

    k = init["n_states"]
    common = dict(n_components=k, n_iter=MAX_ITER, tol=-np.inf, init_params="",
                  implementation=implementation)
    if init["emission"] == "gaussian":
        model = hmm.GaussianHMM(covariance_type=init["covariance_type"], min_covar=0.0,
                                covars_prior=0.0, **common)
        model.means_ = np.array(init["means"])
        model.covars_ = np.array(init["covariances"])
        data = x
    else:
        model = hmm.CategoricalHMM(n_features=init["n_symbols"], **common)
        model.emissionprob_ = np.array(init["emission_probabilities"])
        data = x.reshape(-1, 1)
    model.startprob_ = np.array(init["start"])
    model.transmat_ = np.array(init["transitions"])
    with threadpool_limits(THREADS), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        model.fit(data)
        elapsed = time.perf_counter() - t
    assert len(model.monitor_.history) == MAX_ITER, model.monitor_.history
    return elapsed / MAX_ITER, model.monitor_.history[-1]


def time_python(x, init):
    """emkit's hmmlearn-style classes in this process, from the same start."""
    import emkit
    import emkit.hmm

    emkit.set_num_threads(THREADS)
    k = init["n_states"]
    # tol=0: emkit never stops early (a change is never below 0).
    common = dict(n_components=k, n_iter=MAX_ITER, tol=0.0, init_params="")
    if init["emission"] == "gaussian":
        model = emkit.hmm.GaussianHMM(covariance_type=init["covariance_type"], min_covar=0.0,
                                      covars_prior=0.0, **common)
        model.means_ = np.array(init["means"])
        model.covars_ = np.array(init["covariances"])
        data = x
    else:
        model = emkit.hmm.CategoricalHMM(n_features=init["n_symbols"], **common)
        model.emissionprob_ = np.array(init["emission_probabilities"])
        data = x.reshape(-1, 1)
    model.startprob_ = np.array(init["start"])
    model.transmat_ = np.array(init["transitions"])
    # One untimed iteration first, on a copy: the CLI's timed fit follows its
    # reading of the data, which has touched the memory and woken the cores.
    copy.deepcopy(model).set_params(n_iter=1).fit(data)
    t = time.perf_counter()
    model.fit(data)
    elapsed = time.perf_counter() - t
    assert model.monitor_.iter == MAX_ITER, model.monitor_
    return elapsed / MAX_ITER


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated, e.g. H1,H3")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    import hmmlearn
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown")
    print(f"cpu: {cpu}; nproc: {os.cpu_count()}; numpy {np.__version__}; "
          f"hmmlearn {hmmlearn.__version__}")
    print()
    print("| workload | emission | T | K | d or M | emkit s/iter | hmmlearn log s/iter "
          "| hmmlearn scaling s/iter | speed-up (vs faster) | emkit.hmm (Python) s/iter "
          "| speed-up from Python | Python / CLI time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, emission, t_len, k, width, cov in WORKLOADS:
        if only and name not in only:
            continue
        path, model, init = workload(name, emission, t_len, k, width, cov)
        x = np.loadtxt(path, delimiter=",", skiprows=1)
        if emission == "categorical":
            x = x.astype(np.int64)
        log = statistics.median(time_hmmlearn(x, init, "log")[0] for _ in range(args.repeats))
        scaling = statistics.median(time_hmmlearn(x, init, "scaling")[0]
                                    for _ in range(args.repeats))
        # A pause after hmmlearn's numpy work; then the CLI and the Python
        # classes in pairs, one right after the other, so that both see the
        # same state of a shared, noisy host.
        time.sleep(1.0)
        pairs = [(time_emkit(path, model, k, cov)[0], time_python(x, init))
                 for _ in range(args.repeats)]
        ours = statistics.median(t for t, _ in pairs)
        py = statistics.median(t for _, t in pairs)
        kind = f"{emission} {cov}" if cov else emission
        best = min(log, scaling)
        print(f"| {name} | {kind} | {t_len} | {k} | {width} | {ours:.5f} | {log:.5f} "
              f"| {scaling:.5f} | {best / ours:.1f}x | {py:.5f} | {best / py:.1f}x | {py / ours:.2f} |", flush=True)


if __name__ == "__main__":
    main()
