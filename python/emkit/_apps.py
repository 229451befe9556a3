"""Model selection and image segmentation, as ``emkit select`` and ``emkit segment``."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight

from . import _emkit
from ._common import check_finite, seed_from
from .mixture import _INIT, GaussianMixture


class Selection:
    """What :func:`select` found.

    Attributes
    ----------
    best_ : GaussianMixture or None
        The cell with the lowest criterion among the fitted, non-degenerate
        ones (degenerate ones too with ``allow_degenerate=True``); None when
        no cell qualifies.
    table : list of dict
        One row per (n_components, covariance_type) cell, in grid order:
        ``status`` ('ok', 'degenerate' or 'failed', as the CLI marks them),
        ``bic``, ``aic``, ``icl``, ``log_likelihood``, ``n_parameters``,
        ``min_relative_variance``, ``best`` (True for the pick), or ``error``.
    criterion : str
    """

    def __init__(self, table, best, criterion):
        self.table = table
        self.best_ = best
        self.criterion = criterion

    def to_pandas(self):
        """The table as a pandas DataFrame (pandas must be installed)."""
        import pandas as pd

        return pd.DataFrame(self.table)

    def __repr__(self):
        pick = "none" if self.best_ is None else f"k={self.best_.n_components} {self.best_.covariance_type}"
        return f"Selection({len(self.table)} cells by {self.criterion}, best {pick})"


def select(
    X,
    n_components=range(1, 7),
    covariance_types=("full", "tied", "diag", "spherical"),
    criterion="bic",
    *,
    allow_degenerate=False,
    tol=1e-3,
    reg_covar=1e-6,
    max_iter=100,
    n_init=1,
    init_params="kmeans",
    random_state=None,
    sample_weight=None,
):
    """Fits a Gaussian mixture for every number of components in
    ``n_components`` (consecutive integers, e.g. a ``range``) and every
    covariance type, and picks the lowest ``criterion`` ('bic', 'aic' or
    'icl'). Cells whose fit collapsed a component are marked degenerate and
    are not picked unless ``allow_degenerate``. The fit options are
    GaussianMixture's, ``sample_weight`` too (BIC's n is then the total
    weight). Returns a :class:`Selection`.
    """
    ks = sorted(int(k) for k in n_components)
    if not ks or ks != list(range(ks[0], ks[-1] + 1)):
        raise ValueError(f"n_components must be consecutive integers (a range), got {list(n_components)!r}")
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    if init_params not in _INIT:
        raise ValueError(f"init_params must be one of {sorted(_INIT)}, got {init_params!r}")
    X = check_array(X, dtype=np.float64, order="C", ensure_all_finite=False)
    check_finite(X, "X")
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(
            _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        )
    cells, best = _emkit.select_grid(
        X,
        ks[0],
        ks[-1],
        list(covariance_types),
        str(criterion),
        bool(allow_degenerate),
        float(tol),
        float(reg_covar),
        int(max_iter),
        int(n_init),
        _INIT[init_params],
        seed_from(random_state),
        sample_weight=sample_weight,
    )
    table, best_model = [], None
    for i, cell in enumerate(cells):
        model = cell.pop("model", None)
        report = cell.pop("report", None)
        cell["best"] = i == best
        if report is not None:
            cell["n_iter"] = report["n_iter"]
            cell["converged"] = report["converged"]
        table.append(cell)
        if i == best:
            best_model = GaussianMixture(
                cell["n_components"],
                covariance_type=cell["covariance_type"],
                tol=tol,
                reg_covar=reg_covar,
                max_iter=max_iter,
                n_init=n_init,
                init_params=init_params,
                random_state=random_state,
            )
            best_model._adopt(model, report, X)
    return Selection(table, best_model, str(criterion).lower())


def segment(
    image,
    n_components,
    *,
    spatial=None,
    max_pixels=1_000_000,
    covariance_type="full",
    tol=1e-3,
    reg_covar=1e-6,
    max_iter=100,
    n_init=1,
    init_params="kmeans",
    random_state=None,
):
    """Segments an H×W×3 image (uint8, or floats such as ``img / 255``) by a
    Gaussian mixture on its pixels' colours (and, with ``spatial=W``, their
    positions, the longer side spanning W), as ``emkit segment`` does.
    Images with more than ``max_pixels`` pixels are fitted on a seeded
    random subsample; every pixel is labelled.

    Returns ``(labels, repainted)``: an H×W int64 array of components, and the
    image with every pixel in its segment's mean colour (uint8 for uint8
    input, rounded as the CLI's picture; float64 otherwise).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an H x W x 3 array, got shape {image.shape}")
    if not isinstance(n_components, Integral) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    if init_params not in _INIT:
        raise ValueError(f"init_params must be one of {sorted(_INIT)}, got {init_params!r}")
    h, w, _ = image.shape
    if image.dtype == np.uint8:
        colours = np.ascontiguousarray(image).ravel()
    else:
        colours = np.ascontiguousarray(image, dtype=np.float64).ravel()
    model, palette8, labels, _, _ = _emkit.segment_image(
        colours,
        w,
        h,
        int(n_components),
        covariance_type,
        float(tol),
        float(reg_covar),
        int(max_iter),
        int(n_init),
        _INIT[init_params],
        seed_from(random_state),
        None if spatial is None else float(spatial),
        int(max_pixels),
    )
    labels = labels.reshape(h, w)
    if image.dtype == np.uint8:
        palette = palette8.reshape(-1, 3)
    else:
        palette = np.asarray(model.means).reshape(model.n_components, -1)[:, :3]
    return labels, palette[labels]
