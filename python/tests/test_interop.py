"""One model format, pickling, the GIL, Ctrl-C, threads and zero-copy input."""

import os
import pickle
import pickletools
import signal
import subprocess
import sys
import textwrap
import threading
import time

import json

import joblib
import numpy as np
import pytest

import emkit
from conftest import DATA, ROOT, cli, read_csv


def fitted(kind="full", k=3):
    X = read_csv("iris.csv")[1]
    return emkit.GaussianMixture(k, covariance_type=kind, random_state=1).fit(X), X


@pytest.mark.parametrize("kind", ["full", "tied", "diag", "spherical"])
def test_save_load_and_pickle_give_bit_identical_scores(kind, tmp_path):
    gm, X = fitted(kind)
    gm.anomaly_threshold(X, 0.05)
    want = gm.score_samples(X)
    gm.save(tmp_path / "m.json")
    loaded = emkit.load(tmp_path / "m.json")
    for other in (
        loaded,
        pickle.loads(pickle.dumps(gm)),
        emkit.loads(gm.to_json()),
    ):
        np.testing.assert_array_equal(other.score_samples(X), want)
        np.testing.assert_array_equal(other.predict(X), gm.predict(X))
        for name in ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "stop_reason_", "anomaly_threshold_"):
            assert getattr(other, name) == getattr(gm, name), name
        assert other.get_params() == gm.get_params()
    joblib.dump(gm, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").score_samples(X), want)


def pickled_globals(data):
    """The (module, name) pairs a pickle imports when loaded."""
    found, strings = [], []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            found.append(tuple(strings[-2:]))
        elif op.name == "GLOBAL":
            found.append(tuple(arg.split(" ", 1)))
    return found


def test_a_pickle_holds_only_text_and_plain_values():
    gm, _ = fitted()
    # Loading imports the estimator's class and nothing else (no numpy
    # reconstructors): the model travels as the model file's text.
    assert pickled_globals(pickle.dumps(gm)) == [("emkit.mixture", "GaussianMixture")]
    state = gm.__getstate__()
    assert isinstance(state["model"], str)
    assert json.loads(state["model"])["format"] == "emkit.gaussian_mixture"


def test_unpickling_a_tampered_model_is_refused_by_the_parser():
    gm, _ = fitted()
    data = pickle.dumps(gm).replace(b'"emkit.gaussian_mixture"', b'"emkit.gaussian_mixtur3"')
    with pytest.raises(ValueError, match="format"):
        pickle.loads(data)


@pytest.mark.skipif(cli() is None, reason="the emkit binary is not built (cargo build --release -p emkit-cli)")
def test_cli_and_python_read_each_others_models(tmp_path):
    exe = cli()
    names, X = read_csv("iris.csv")
    model = tmp_path / "cli.json"
    subprocess.run([exe, "fit", str(DATA / "iris.csv"), "-k", "3", "-o", str(model), "-q"], check=True)
    scores = tmp_path / "scores.csv"
    subprocess.run([exe, "score", str(model), str(DATA / "iris.csv"), "--per-sample", "-o", str(scores)], check=True)
    cli_scores = np.loadtxt(scores, delimiter=",", skiprows=1)
    gm = emkit.load(model)
    assert list(gm.feature_names_in_) == names
    # Written in the shortest form that reads back to the same double: equal bits.
    np.testing.assert_array_equal(gm.score_samples(X), cli_scores)
    # And the other way: a model saved by Python is scored by the CLI.
    ours, _ = fitted("diag")
    ours.save(tmp_path / "py.json")
    subprocess.run([exe, "score", str(tmp_path / "py.json"), str(DATA / "iris.csv"), "--per-sample", "-o", str(scores)], check=True)
    np.testing.assert_array_equal(np.loadtxt(scores, delimiter=",", skiprows=1), ours.score_samples(X))


def long_fit_data(n=400_000, d=8):
    rng = np.random.RandomState(0)
    return rng.normal(size=(n, d)) + rng.randint(0, 4, size=(n, 1)) * 0.5


def test_a_fit_releases_the_gil():
    X = long_fit_data()
    counts = []
    stop = threading.Event()

    def count():
        c = 0
        while not stop.is_set():
            c += 1
            if c % 1000 == 0:
                counts.append(time.perf_counter())

    t = threading.Thread(target=count)
    t.start()
    try:
        start = time.perf_counter()
        emkit.GaussianMixture(4, covariance_type="diag", max_iter=30, tol=0.0, init_params="random_from_data", random_state=0).fit(X)
        end = time.perf_counter()
    finally:
        stop.set()
        t.join()
    during = [c for c in counts if start < c < end]
    # Holding the GIL for the whole fit would leave the counter at most a few
    # switch intervals (5 ms each); released, it counts all along.
    covered = (during[-1] - during[0]) / (end - start) if len(during) > 1 else 0.0
    assert covered > 0.8, f"the counter ran for {covered:.0%} of the fit"


def test_ctrl_c_interrupts_a_long_fit_with_keyboard_interrupt():
    script = textwrap.dedent(
        """
        import sys, time, warnings
        import numpy as np
        import emkit
        rng = np.random.RandomState(0)
        X = rng.normal(size=(400_000, 8))
        warnings.simplefilter("ignore")
        print("fitting", flush=True)
        start = time.perf_counter()
        try:
            emkit.GaussianMixture(4, covariance_type="diag", max_iter=100000, tol=0.0,
                                  init_params="random_from_data").fit(X)
        except KeyboardInterrupt:
            print("interrupted after %.3f" % (time.perf_counter() - start), flush=True)
            sys.exit(0)
        print("not interrupted", flush=True)
        sys.exit(1)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "fitting"
    time.sleep(1.5)
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    waited = time.perf_counter() - sent
    assert p.returncode == 0 and out.startswith("interrupted"), out
    # About one iteration (here ~0.1 s) plus the poll interval; 10 s would mean
    # the fit ran on to its end or the signal waited for something else.
    assert waited < 10, waited


def test_thread_count_follows_rayon_num_threads_and_results_do_not():
    code = "import emkit; print(emkit.get_num_threads())"
    env = dict(os.environ, RAYON_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"
    X = long_fit_data(50_000, 4)
    before = emkit.get_num_threads()
    try:
        results = []
        for n in (1, 2, 5):
            emkit.set_num_threads(n)
            assert emkit.get_num_threads() == n
            gm = emkit.GaussianMixture(3, max_iter=20, tol=0.0, random_state=0)
            with pytest.warns(Warning):
                gm.fit(X)
            results.append(gm.score_samples(X))
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])  # bit-identical for any thread count
    finally:
        emkit.set_num_threads(before)


def test_a_read_only_memmap_is_fitted_in_place(tmp_path):
    """2 GB of float64 on disk, fitted through a read-only np.memmap: the fit
    raises the process's peak RSS by less than the data plus 150 MB (a copy
    would add the data twice). The interpreter with numpy, scipy and
    scikit-learn imported, before the fit, is reported beside it."""
    n, d = 2**24, 16  # 2 GiB
    path = tmp_path / "big.f64"
    block = 2**20
    rng = np.random.RandomState(0)
    with open(path, "wb") as f:
        for _ in range(n // block):
            (rng.normal(size=(block, d)) + rng.randint(0, 2, size=(block, 1)) * 3.0).tofile(f)
    script = textwrap.dedent(
        f"""
        import numpy as np
        import emkit
        def status(key):
            # VmHWM is this process's peak (ru_maxrss would carry the parent's
            # across exec); VmRSS its resident memory now.
            for line in open("/proc/self/status"):
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        X = np.memmap({str(path)!r}, dtype=np.float64, mode="r", shape=({n}, {d}))
        base = status("VmRSS")
        # Every starting parameter given: nothing to initialise, no per-row buffers.
        gm = emkit.GaussianMixture(2, covariance_type="diag", max_iter=2, tol=0.0,
            weights_init=[0.5, 0.5], means_init=np.array([[0.0] * {d}, [3.0] * {d}]),
            precisions_init=np.ones((2, {d})))
        import warnings; warnings.simplefilter("ignore")
        gm.fit(X)
        print(base, status("VmHWM"), X.nbytes)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    base, peak, nbytes = map(int, out.stdout.split())
    extra = peak - base - nbytes
    print(f"peak RSS {peak / 2**20:.0f} MiB: {base / 2**20:.0f} MiB before the fit + data {nbytes / 2**20:.0f} MiB + {extra / 2**20:.0f} MiB")
    assert peak - base < nbytes + 150e6, f"{extra / 2**20:.0f} MiB beyond the data"
