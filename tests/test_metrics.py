"""The metrics on known cases, and the committed feature classifier."""

import numpy as np
import pytest
import scipy.linalg

from gan_jax import metrics


@pytest.fixture(scope="module")
def feats():
  rng = np.random.default_rng(0)
  mix = rng.standard_normal((16, 16)) / 4
  return rng.standard_normal((1500, 16)) @ mix + rng.standard_normal(16)


def scipy_fd(a, b):
  mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
  mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_identical_sets_are_perfect(feats):
  assert metrics.fd(feats, feats) == pytest.approx(0, abs=1e-6)
  kid, _ = metrics.kid(feats, feats, n_subsets=20, subset_size=500)
  shifted_kid, _ = metrics.kid(feats, feats + 0.5, n_subsets=20, subset_size=500)
  assert abs(kid) < 0.01 * shifted_kid  # ~0; slightly negative since the subsets of one set overlap
  assert metrics.precision_recall(feats, feats) == (1.0, 1.0)
  density, coverage = metrics.density_coverage(feats, feats)
  # Each real ball holds its centre and k = 5 neighbours, so identical sets give (k + 1) / k.
  assert coverage == 1.0 and density == pytest.approx(1.2)


def test_shifted_set_is_strictly_worse(feats):
  other = np.random.default_rng(1).permutation(feats)[:1000]  # same distribution, other draw
  shifted = other + 0.5
  assert metrics.fd(feats, shifted) > metrics.fd(feats, other) > 0
  assert metrics.kid(feats, shifted, 5, 500)[0] > metrics.kid(feats, other, 5, 500)[0]
  p_same, r_same = metrics.precision_recall(feats, other)
  p_shift, r_shift = metrics.precision_recall(feats, shifted)
  assert p_shift < p_same and r_shift < r_same
  assert metrics.density_coverage(feats, shifted)[1] < metrics.density_coverage(feats, other)[1]


def test_fd_agrees_with_scipy_sqrtm(feats):
  rng = np.random.default_rng(2)
  other = rng.standard_normal((1200, 16)) @ (rng.standard_normal((16, 16)) / 3) + 0.3
  ours, ref = metrics.fd(feats, other), scipy_fd(feats, other)
  assert ours == pytest.approx(ref, rel=1e-3)


def test_class_histogram_and_inception_score():
  confident = np.full((1000, 10), -20.0)
  confident[np.arange(1000), np.arange(1000) % 10] = 20.0
  hist = metrics.class_histogram(confident)
  assert hist["entropy_bits"] == pytest.approx(np.log2(10)) and hist["min_share"] == pytest.approx(0.1)
  assert metrics.inception_score(confident)[0] == pytest.approx(10, rel=1e-3)
  collapsed = np.zeros((1000, 10))
  collapsed[:, 3] = 20.0
  assert metrics.class_histogram(collapsed)["min_share"] == 0.0
  assert metrics.inception_score(collapsed)[0] == pytest.approx(1, rel=1e-3)
