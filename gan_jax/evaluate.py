"""Score generated images against Fashion-MNIST's test split on classifier features.

    python -m gan_jax.evaluate --workdir RUN [--json]      # 10,000 samples from the run's generator
    python -m gan_jax.evaluate --samples samples.npy       # or .npz (images[, labels])

Prints FD (FID-style), KID, precision/recall, density/coverage, the class
histogram and an inception score, beside reference values computed the same
way: 10,000 train images (the floor) and uniform noise (the ceiling).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gan_jax import metrics

N_DEFAULT = 10_000


def load_references(data_dir=None, idx_dir=None, n: int = N_DEFAULT, train_subset: bool = True):
  """(test images, test labels, train-subset images or None): float32 in [-1, 1]."""
  from gan_jax.input_pipeline import load_split, scale

  test, test_labels = load_split("test", data_dir=data_dir, idx_dir=idx_dir)
  subset = None
  if train_subset:
    train, _ = load_split("train", data_dir=data_dir, idx_dir=idx_dir)
    subset = scale(train[np.random.default_rng(0).permutation(len(train))[:n]])
  return scale(test[:n]), test_labels[:n], subset


class Scorer:
  """Holds the classifier and the test split's features, so several sample sets share them."""

  def __init__(self, test_images, test_labels, classifier_params=None):
    from gan_jax import classifier

    self.params = classifier_params if classifier_params is not None else classifier.load()
    self.test_labels = np.asarray(test_labels)
    _, self.test_feats = classifier.logits_and_features(self.params, test_images)

  def score(self, images, labels=None) -> dict:
    from gan_jax import classifier

    logits, feats = classifier.logits_and_features(self.params, images)
    out = metrics.all_metrics(self.test_feats, feats, logits)
    out["n"] = len(images)
    if labels is not None:  # conditional: does the classifier see the class that was asked for?
      labels = np.asarray(labels)
      out["intended_class_accuracy"] = float(np.mean(logits.argmax(1) == labels))
      out["per_class_fd"] = [
          metrics.fd(self.test_feats[self.test_labels == c], feats[labels == c]) if (labels == c).sum() > 1 else None
          for c in range(10)
      ]
    return out


def references(scorer: Scorer, train_subset, seed: int = 0) -> dict:
  noise = np.random.default_rng(seed).uniform(-1, 1, train_subset.shape).astype(np.float32)
  return {"train_vs_test": scorer.score(train_subset), "noise_vs_test": scorer.score(noise)}


SCALARS = ("fd", "kid", "precision", "recall", "density", "coverage", "inception_score")


def table(result: dict) -> str:
  refs = result.get("references", {})
  cols = [("samples", result)] + [(name, r) for name, r in (("train (floor)", refs.get("train_vs_test")),
                                                            ("noise (ceiling)", refs.get("noise_vs_test"))) if r]
  lines = ["| metric | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
  for key in SCALARS:
    cells = []
    for _, r in cols:
      v = r[key]
      cells.append(f"{v:.4f}" + (f" ± {r['kid_std']:.4f}" if key == "kid" else ""))
    lines.append(f"| {key} | " + " | ".join(cells) + " |")
  for key in ("entropy_bits", "min_share"):
    lines.append(f"| class {key} | " + " | ".join(f"{r['class_hist'][key]:.3f}" for _, r in cols) + " |")
  if "intended_class_accuracy" in result:
    lines.append(f"| intended-class accuracy | {result['intended_class_accuracy']:.4f} |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m gan_jax.evaluate", description=__doc__.split("\n\n")[0],
                              epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
  src = p.add_mutually_exclusive_group(required=True)
  src.add_argument("--workdir", help="sample the run's latest checkpoint (or its generator.msgpack)")
  src.add_argument("--checkpoint", help="an orbax step folder or a generator.msgpack")
  src.add_argument("--samples", help=".npy float32 (N, 28, 28, 1) in [-1, 1], or .npz with images[, labels]")
  p.add_argument("--n", type=int, default=N_DEFAULT, help="samples to draw from the generator")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--raw", action="store_true", help="use the trained weights even if the run keeps an EMA")
  p.add_argument("--no-references", action="store_true", help="skip the floor and ceiling (faster)")
  p.add_argument("--data-dir", default=None)
  p.add_argument("--idx-dir", default=None)
  p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
  args = p.parse_args(argv)
  if args.n <= 0:
    p.error(f"--n must be positive, got {args.n}")

  from gan_jax.checkpointing import CheckpointError, load_for_sampling
  from gan_jax.input_pipeline import DataError

  labels, source = None, args.samples
  try:
    if args.samples:
      path = Path(args.samples)
      if not path.is_file():
        p.error(f"--samples: {path} does not exist")
      data = np.load(path)
      images = data["images"] if path.suffix == ".npz" else data
      labels = data["labels"] if path.suffix == ".npz" and "labels" in data else None
      if images.ndim != 4 or images.shape[1:] != (28, 28, 1):
        p.error(f"--samples: expected images of shape (N, 28, 28, 1), got {images.shape}")
    else:
      from gan_jax.sample import generate_samples

      config, g_params, ema_params, source = load_for_sampling(args.workdir, args.checkpoint)
      use_ema = ema_params is not None and not args.raw
      images, labels = generate_samples(config, ema_params if use_ema else g_params, args.n, args.seed)
      source += " (EMA weights)" if use_ema else ""
    test, test_labels, train_subset = load_references(args.data_dir, args.idx_dir,
                                                      train_subset=not args.no_references)
  except (CheckpointError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  scorer = Scorer(test, test_labels)
  result = {"source": source, **scorer.score(np.asarray(images, np.float32), labels)}
  if not args.no_references:
    result["references"] = references(scorer, train_subset)
  print(json.dumps(result, indent=2) if args.json else f"{source}: {len(images)} samples\n{table(result)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
