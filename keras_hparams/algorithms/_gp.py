"""scikit-optimize's Gaussian process, with priors on its kernel, a faster
prediction and a cheap refit.

Imported only when a Bayesian search fits its surrogate.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array
from skopt.learning import GaussianProcessRegressor
from skopt.learning.gaussian_process.gpr import _param_for_white_kernel_in_Sum
from skopt.learning.gaussian_process.kernels import WhiteKernel
from skopt.utils import cook_estimator

# The kernel's hyperparameters are fitted at every count of observations up to
# FIT_EVERY_UP_TO, then each time the count has grown by FIT_GROWTH (20, 22, 25, 28,
# ..., 88, 97, 107, ...). In between they are kept: with tens of observations one
# more barely moves them, and their search (3 L-BFGS starts, each tens of
# Cholesky factorizations) is most of the cost of a fit.
FIT_EVERY_UP_TO = 20
FIT_GROWTH = 1.1
_KEPT_FITS = 4


class FastGaussianProcess(GaussianProcessRegressor):
    """skopt's Gaussian process, with priors on its kernel's hyperparameters and
    predicting the standard deviation with BLAS.

    The kernel's hyperparameters are fitted by maximizing the log marginal likelihood
    plus their log prior (`log_prior`), not the likelihood alone.

    skopt computes the predictive variance of `m` points with
    `np.einsum("ki,kj,ij->k", K, K, K_inv)`, a loop over m * n * n products outside
    BLAS: with the 10,000 points the acquisition is evaluated on and n = 300 trials,
    most of the time of a proposal. `((K @ K_inv) * K).sum(1)` is the same number
    through a matrix product. Everything else (fit, gradients, kernels) is skopt's.
    """

    def predict(
        self,
        X: Any,
        return_std: bool = False,
        return_cov: bool = False,
        return_mean_grad: bool = False,
        return_std_grad: bool = False,
    ) -> Any:
        plain_std = return_std and not (return_cov or return_mean_grad)
        if not plain_std or return_std_grad or not hasattr(self, "X_train_"):
            return super().predict(
                X, return_std, return_cov, return_mean_grad, return_std_grad
            )
        X = check_array(X)
        K_trans = self.kernel_(X, self.X_train_)
        y_mean = self.y_train_std_ * K_trans.dot(self.alpha_) + self.y_train_mean_
        y_var = self.kernel_.diag(X) - np.einsum(
            "ki,ki->k", K_trans @ self.K_inv_, K_trans
        )
        # Round-off can make a variance slightly negative; skopt sets those to 0 too.
        y_var = np.maximum(y_var, 0.0) * self.y_train_std_**2
        return y_mean, np.sqrt(y_var)

    def log_marginal_likelihood(
        self,
        theta: Any = None,
        eval_gradient: bool = False,
        clone_kernel: bool = True,
    ) -> Any:
        """The log marginal likelihood plus the log prior of the hyperparameters
        `theta` (as scikit-learn's, which the fit maximizes); without `theta`, the
        fitted kernel's likelihood alone."""
        result = super().log_marginal_likelihood(theta, eval_gradient, clone_kernel)
        if theta is None:
            return result
        prior, prior_gradient = log_prior(self.kernel_, np.asarray(theta))
        if eval_gradient:
            return result[0] + prior, result[1] + prior_gradient
        return result + prior


def log_prior(kernel: Any, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """The log prior density of a kernel's log hyperparameters `theta` (up to a
    constant) and its gradient.

    Optuna's GP sampler's priors, for inputs scaled to [0, 1] and standardized
    outputs, as here: each inverse squared length scale `l` has density
    `exp(-(0.1 / l + 0.1 * l))`, which keeps length scales near 1 unless the data
    say otherwise; the amplitude a Gamma(2, 1); the noise variance a Gamma(1.1, 30),
    most likely 0.003. With the few points of a search, the likelihood alone often
    picks tiny length scales (a model that knows nothing between the points, so the
    acquisition explores corners) or a noise that explains every difference.
    """
    value, gradient, start = 0.0, np.zeros_like(theta, dtype=float), 0
    for hyperparameter in kernel.hyperparameters:
        if hyperparameter.fixed:
            continue
        end = start + hyperparameter.n_elements
        t = theta[start:end]
        if hyperparameter.name.endswith("length_scale"):  # l = exp(-2 t)
            value -= np.sum(0.1 * np.exp(2 * t) + 0.1 * np.exp(-2 * t))
            gradient[start:end] = -0.2 * np.exp(2 * t) + 0.2 * np.exp(-2 * t)
        elif hyperparameter.name.endswith("constant_value"):
            value += np.sum(t - np.exp(t))
            gradient[start:end] = 1 - np.exp(t)
        elif hyperparameter.name.endswith("noise_level"):
            value += np.sum(0.1 * t - 30 * np.exp(t))
            gradient[start:end] = 0.1 - 30 * np.exp(t)
        start = end
    return float(value), gradient


def gaussian_process(skopt_dimensions: list[Any], seed: int) -> FastGaussianProcess:
    """The Gaussian process skopt's `"GP"` surrogate would use, made faster."""
    skopt_gp = cook_estimator("GP", space=skopt_dimensions, random_state=seed)
    return FastGaussianProcess(**skopt_gp.get_params(deep=False))


def with_fixed_kernel(gp: Any) -> Any:
    """An unfitted copy of a fitted skopt Gaussian process that keeps its kernel.

    Fitting the copy solves one linear system instead of optimizing the kernel's
    hyperparameters from several starts: the expensive part of a fit. Used between
    the counts at which `KernelFits` fits a kernel, and for the lies' extra
    points, where the hyperparameters are held fixed (as in Ginsbourger et al.,
    "Kriging is well-suited to parallelize optimization", 2010).
    """
    kernel = clone(gp.kernel_)
    # skopt zeroes the fitted noise in kernel_ and keeps its level in noise_.
    present, parameter = _param_for_white_kernel_in_Sum(kernel)
    if present and gp.noise_ is not None:
        noise = WhiteKernel(noise_level=gp.noise_, noise_level_bounds="fixed")
        kernel.set_params(**{parameter: noise})
    return clone(gp).set_params(kernel=kernel, optimizer=None)


def fit_count(count: int) -> int:
    """The count of observations at which the kernel used at `count` was fitted."""
    if count <= FIT_EVERY_UP_TO:
        return count
    fitted = FIT_EVERY_UP_TO
    while math.ceil(fitted * FIT_GROWTH) <= count:
        fitted = math.ceil(fitted * FIT_GROWTH)
    return fitted


class KernelFits:
    """Kernels fitted on prefixes of a history, at the counts `fit_count` gives.

    `gaussian_process(space, X, y)` is a Gaussian process whose kernel was fitted on
    the first `fit_count(len(X))` rows (with skopt's restarts, seeded by the seed and
    that count), held fixed: a function of the data only, so a cold instance (a
    resumed search) gets exactly what a warm one does. The last few fits are kept,
    keyed by the rows and scores themselves, so most proposals reuse one.

    Args:
        seed: int or None, seeds each fit's random restarts (with the count).
        warp: a function of the scores, or None: what the fit is told instead of
            the first rows' scores (applied to those rows alone, so that a fit does
            not depend on later scores).
    """

    def __init__(self, seed: int | None, warp: Any = None) -> None:
        self.seed = seed
        self.warp = warp
        self._fitted: dict[tuple, FastGaussianProcess] = {}

    def gaussian_process(
        self, skopt_space: Any, X: np.ndarray, y: np.ndarray
    ) -> FastGaussianProcess:
        """An unfitted Gaussian process for `X`, `y`, its kernel fitted and fixed."""
        count = fit_count(len(X))
        X = np.ascontiguousarray(X[:count], dtype=float)
        y = np.ascontiguousarray(y[:count], dtype=float)
        key = (skopt_space.is_categorical, X.shape, X.tobytes(), y.tobytes())
        if key not in self._fitted:
            gp = gaussian_process(skopt_space.dimensions, self._fit_seed(count))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # kernel bounds reached, and so on
                gp.fit(X, y if self.warp is None else self.warp(y))
            self._fitted[key] = with_fixed_kernel(gp)
            if len(self._fitted) > _KEPT_FITS:
                del self._fitted[next(iter(self._fitted))]
        return self._fitted[key]

    def _fit_seed(self, count: int) -> int:
        rng = np.random.default_rng(None if self.seed is None else [self.seed, count])
        return int(rng.integers(np.iinfo(np.int32).max))
