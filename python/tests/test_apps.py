"""emkit.select and emkit.segment against the CLI and the references."""

import json
import subprocess

import numpy as np
import pytest
from PIL import Image

import emkit
from conftest import DATA, REFERENCE, cli, read_csv


def test_select_picks_the_references_bic_choice():
    X = read_csv("iris.csv")[1]
    with open(REFERENCE / "iris.gmm.json", encoding="utf-8") as f:
        ref = json.load(f)
    s = emkit.select(X, range(1, 7), n_init=20, tol=1e-8, max_iter=1000, random_state=0)
    assert len(s.table) == 24
    assert sum(row["best"] for row in s.table) == 1
    pick = ref["best_bic"]["overall_excluding_degenerate_suspect"]
    assert (s.best_.n_components, s.best_.covariance_type) == (pick["k"], pick["covariance_type"])
    assert s.best_.bic(X) == pytest.approx(pick["bic"], rel=1e-9)
    # The best model is a fitted estimator like any other.
    assert s.best_.predict(X).shape == (150,)
    for row in s.table:
        assert row["status"] in ("ok", "degenerate", "failed")
        if row["status"] != "failed":
            assert np.isfinite(row["bic"]) and row["bic"] >= s.best_.bic(X) - 1e-6 or row["status"] == "degenerate"
    frame = pytest.importorskip("pandas") and s.to_pandas()
    assert list(frame["n_components"]) == [k for k in range(1, 7) for _ in range(4)]


def test_select_marks_failed_cells_and_rejects_gaps():
    X = np.array([[0.0, 0.0], [1.0, 0.5], [4.0, 3.0], [5.0, 2.0]])
    s = emkit.select(X, range(1, 7), covariance_types=("diag",))
    statuses = [row["status"] for row in s.table]
    assert statuses[4:] == ["failed", "failed"], statuses  # k = 5, 6 > 4 rows
    assert "error" in s.table[5]
    with pytest.raises(ValueError, match="consecutive"):
        emkit.select(X, [1, 3])


@pytest.mark.skipif(cli() is None, reason="the emkit binary is not built")
def test_segment_labels_equal_the_clis_label_map(tmp_path):
    exe = cli()
    labels_png = tmp_path / "labels.png"
    out = subprocess.run(
        [exe, "segment", str(DATA / "chelsea.png"), "-k", "3", "--labels", str(labels_png), "--json", "-q"],
        check=True, capture_output=True, text=True,
    )
    summary = json.loads(out.stdout)
    pixels = np.asarray(Image.open(DATA / "chelsea.png").convert("RGB"))
    # random_state=0 is the CLI's default --seed 0: the same fit, the same labels.
    labels, painted = emkit.segment(pixels, 3, random_state=0)
    assert labels.shape == pixels.shape[:2] and painted.dtype == np.uint8
    cli_labels = np.asarray(Image.open(labels_png)).astype(np.int64)
    np.testing.assert_array_equal(labels, cli_labels)
    assert sorted(np.bincount(labels.ravel()).tolist()) == sorted(summary["pixel_counts"])
    # Painted with each segment's mean colour, as the CLI's -o picture.
    colours = np.array(summary["colors"], dtype=np.uint8)
    np.testing.assert_array_equal(painted, colours[labels])


def test_segment_float_images_and_spatial_features():
    rng = np.random.RandomState(0)
    img = np.zeros((40, 60, 3))
    img[:, 30:] = [1.0, 0.2, 0.2]
    img += rng.normal(scale=0.02, size=img.shape)
    labels, painted = emkit.segment(img, 2, random_state=0)
    assert painted.dtype == np.float64
    assert len(set(labels[:, :30].ravel())) == 1 and len(set(labels[:, 30:].ravel())) == 1
    assert labels[0, 0] != labels[0, -1]
    spatial, _ = emkit.segment(img, 2, spatial=1.0, random_state=0)
    assert spatial.shape == (40, 60)
    with pytest.raises(ValueError, match="H x W x 3"):
        emkit.segment(img[:, :, :2], 2)
