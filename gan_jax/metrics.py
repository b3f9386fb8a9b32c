"""Sample-quality metrics on classifier features (numpy/scipy; N up to ~10^4).

- Fréchet distance (FID-style) between Gaussian fits of the features.
- KID: unbiased MMD^2 with the cubic polynomial kernel, mean and std over subsets.
- Precision / recall: k-NN manifolds, k = 3 (Kynkäänniemi et al. 2019).
- Density / coverage, k = 5 (Naeem et al. 2020).
- Class histogram (entropy, smallest share) and a classifier-based inception score.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features_NxF: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  f = np.asarray(features_NxF, np.float64)
  return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2).

  tr((S1 S2)^1/2) is the sum of square roots of the eigenvalues of
  S1^1/2 S2 S1^1/2, a symmetric PSD matrix: eigh is stabler and faster than
  scipy.linalg.sqrtm on the non-symmetric product (the tests check they agree).
  """
  w, v = np.linalg.eigh(sigma1)
  root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
  tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
  diff = np.asarray(mu1) - np.asarray(mu2)
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fd(real_NxF: np.ndarray, fake_MxF: np.ndarray) -> float:
  return frechet_distance(*gaussian_stats(real_NxF), *gaussian_stats(fake_MxF))


def kid(real_NxF, fake_MxF, n_subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, mean and std over random subsets."""
  rng = np.random.default_rng(seed)
  real, fake = np.asarray(real_NxF, np.float64), np.asarray(fake_MxF, np.float64)
  m = min(subset_size, len(real), len(fake))
  d = real.shape[1]
  values = []
  for _ in range(n_subsets):
    x = real[rng.choice(len(real), m, replace=False)]
    y = fake[rng.choice(len(fake), m, replace=False)]
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    off = m * (m - 1)
    values.append((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean())
  return float(np.mean(values)), float(np.std(values))


def _sq_dists(a_NxF: np.ndarray, b_MxF: np.ndarray) -> np.ndarray:
  a, b = np.asarray(a_NxF, np.float32), np.asarray(b_MxF, np.float32)
  d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
  return np.maximum(d, 0)


def _kth_neighbour_sq(features_NxF: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
  """Squared distance of each point to its k-th nearest other point."""
  out = np.empty(len(features_NxF), np.float32)
  for s in range(0, len(features_NxF), chunk):
    d = _sq_dists(features_NxF[s : s + chunk], features_NxF)
    out[s : s + chunk] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
  return out


def _inside_counts(queries_MxF, centres_NxF, radii_sq_N, chunk: int = 2048) -> np.ndarray:
  """For each query, how many of the balls B(centre_i, r_i) contain it."""
  counts = np.empty(len(queries_MxF), np.int64)
  for s in range(0, len(queries_MxF), chunk):
    counts[s : s + chunk] = (_sq_dists(queries_MxF[s : s + chunk], centres_NxF) <= radii_sq_N[None, :]).sum(1)
  return counts


def precision_recall(real_NxF, fake_MxF, k: int = 3) -> tuple[float, float]:
  real_r = _kth_neighbour_sq(real_NxF, k)
  fake_r = _kth_neighbour_sq(fake_MxF, k)
  precision = float((_inside_counts(fake_MxF, real_NxF, real_r) > 0).mean())
  recall = float((_inside_counts(real_NxF, fake_MxF, fake_r) > 0).mean())
  return precision, recall


def density_coverage(real_NxF, fake_MxF, k: int = 5) -> tuple[float, float]:
  real_r = _kth_neighbour_sq(real_NxF, k)
  density = float(_inside_counts(fake_MxF, real_NxF, real_r).sum() / (k * len(fake_MxF)))
  # Coverage: real points whose ball holds at least one fake, i.e. whose nearest fake is inside.
  nearest_fake = np.empty(len(real_NxF), np.float32)
  for s in range(0, len(real_NxF), 2048):
    nearest_fake[s : s + 2048] = _sq_dists(real_NxF[s : s + 2048], fake_MxF).min(1)
  coverage = float((nearest_fake <= real_r).mean())
  return density, coverage


def softmax(logits_NxC: np.ndarray) -> np.ndarray:
  z = np.asarray(logits_NxC, np.float64)
  z = np.exp(z - z.max(1, keepdims=True))
  return z / z.sum(1, keepdims=True)


def class_histogram(logits_NxC: np.ndarray) -> dict:
  """Predicted-class shares; entropy in bits (log2 10 = 3.32 is uniform) and the smallest share."""
  pred = np.asarray(logits_NxC).argmax(1)
  shares = np.bincount(pred, minlength=logits_NxC.shape[1]) / len(pred)
  nz = shares[shares > 0]
  return {"shares": shares.tolist(), "entropy_bits": float(-(nz * np.log2(nz)).sum()), "min_share": float(shares.min())}


def inception_score(logits_NxC: np.ndarray, splits: int = 10) -> tuple[float, float]:
  """exp(E_x KL(p(y|x) || p(y))) with the domain classifier, mean and std over splits (max 10)."""
  p = softmax(logits_NxC)
  scores = []
  for part in np.array_split(p, splits):
    py = part.mean(0, keepdims=True)
    kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1).mean()
    scores.append(np.exp(kl))
  return float(np.mean(scores)), float(np.std(scores))


def all_metrics(real_feats, fake_feats, fake_logits) -> dict:
  kid_mean, kid_std = kid(real_feats, fake_feats)
  precision, recall = precision_recall(real_feats, fake_feats)
  density, coverage = density_coverage(real_feats, fake_feats)
  is_mean, is_std = inception_score(fake_logits)
  return {
      "fd": fd(real_feats, fake_feats), "kid": kid_mean, "kid_std": kid_std,
      "precision": precision, "recall": recall, "density": density, "coverage": coverage,
      "class_hist": class_histogram(fake_logits), "inception_score": is_mean, "inception_score_std": is_std,
  }  # fmt: skip
