"""A small Fashion-MNIST classifier whose penultimate features score generated images.

InceptionV3 weights cannot be downloaded offline, so FID-style metrics here use a
domain classifier, as TF-GAN's ``mnist_frechet_distance`` does for MNIST.  The
weights are trained by ``python -m gan_jax.classifier`` (reproducible: fixed seed,
fixed order) and committed in ``gan_jax/assets/`` with their test accuracy and
SHA-256 beside them.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
import time
from importlib import resources
from pathlib import Path

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.models import Conv

WEIGHTS = "classifier.msgpack"
CARD = "classifier.json"
FEATURES = 256


class Classifier(nn.Module):
  """Three stride-2 3x3 convs (the fast matmul forms on CPU) -> Dense(256) features -> 10 logits."""

  dropout_rate: float = 0.3

  @nn.compact
  def __call__(self, x_BxHxWx1: jax.Array, *, train: bool = False) -> tuple[jax.Array, jax.Array]:
    x = nn.relu(Conv(64, 3, 2, name="conv1")(x_BxHxWx1))  # 14x14
    x = nn.relu(Conv(128, 3, 2, name="conv2")(x))  # 7x7
    x = nn.relu(Conv(128, 3, 2, name="conv3")(x))  # 4x4
    x = x.reshape(x.shape[0], -1)
    features_BxF = nn.relu(nn.Dense(FEATURES, name="features")(x))
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(features_BxF)
    return nn.Dense(10, name="logits")(h), features_BxF


@functools.partial(jax.jit, static_argnames="batch")
def _apply_batched(params, images_NxHxWx1: jax.Array, batch: int = 500):
  n = images_NxHxWx1.shape[0]
  pad = (-n) % batch
  x = jnp.pad(images_NxHxWx1, ((0, pad), (0, 0), (0, 0), (0, 0))).reshape(-1, batch, 28, 28, 1)
  logits, feats = jax.lax.map(lambda xb: Classifier().apply({"params": params}, xb), x)
  return logits.reshape(-1, 10)[:n], feats.reshape(-1, FEATURES)[:n]


def logits_and_features(params, images_NxHxWx1) -> tuple[np.ndarray, np.ndarray]:
  """Classifier logits (N, 10) and penultimate features (N, 256) of images in [-1, 1]."""
  logits, feats = _apply_batched(params, jnp.asarray(images_NxHxWx1, jnp.float32))
  return np.asarray(logits), np.asarray(feats)


def asset_path(name: str) -> Path:
  return Path(str(resources.files("gan_jax") / "assets" / name))


@functools.cache
def load(path: str | None = None):
  """The committed classifier's params, after checking their SHA-256 against the card."""
  weights = Path(path) if path else asset_path(WEIGHTS)
  raw = weights.read_bytes()
  card_path = weights.with_name(CARD)
  if card_path.exists():
    expected = json.loads(card_path.read_text())["sha256"]
    if hashlib.sha256(raw).hexdigest() != expected:
      raise ValueError(f"{weights}: SHA-256 does not match {card_path}; retrain with python -m gan_jax.classifier")
  return jax.tree.map(jnp.asarray, flax.serialization.msgpack_restore(raw))


def train(epochs: int, seed: int, data_dir: str | None, idx_dir: str | None, batch: int = 128, log=print):
  from gan_jax.input_pipeline import load_split, scale

  x_train, y_train = load_split("train", data_dir=data_dir, idx_dir=idx_dir)
  x_test, y_test = load_split("test", data_dir=data_dir, idx_dir=idx_dir)
  x_train, x_test = jnp.asarray(scale(x_train)), scale(x_test)
  y_train = jnp.asarray(y_train)
  steps_per_epoch = len(x_train) // batch
  model = Classifier()
  key = jax.random.PRNGKey(seed)
  params = model.init(key, x_train[:1])["params"]
  tx = optax.adam(optax.cosine_decay_schedule(2e-3, epochs * steps_per_epoch))
  opt_state = tx.init(params)

  @jax.jit
  def epoch_fn(params, opt_state, epoch):
    perm = jax.random.permutation(jax.random.fold_in(key, epoch), len(x_train))[: steps_per_epoch * batch]

    def step(carry, idx):
      params, opt_state = carry
      k = jax.random.fold_in(jax.random.fold_in(key, epoch), idx[0])
      # Light augmentation: random horizontal flips (clothes are left-right symmetric).
      xb = x_train[idx]
      flip = jax.random.bernoulli(k, 0.5, (batch, 1, 1, 1))
      xb = jnp.where(flip, xb[:, :, ::-1], xb)

      def loss_fn(p):
        logits, _ = model.apply({"params": p}, xb, train=True, rngs={"dropout": k})
        return optax.softmax_cross_entropy_with_integer_labels(logits, y_train[idx]).mean()

      loss, grads = jax.value_and_grad(loss_fn)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), perm.reshape(steps_per_epoch, batch))
    return params, opt_state, losses.mean()

  for epoch in range(epochs):
    t0 = time.perf_counter()
    params, opt_state, loss = epoch_fn(params, opt_state, epoch)
    acc = accuracy(params, x_test, y_test)
    log(f"epoch {epoch + 1}/{epochs}: loss {float(loss):.4f}, test accuracy {acc:.4f} ({time.perf_counter() - t0:.0f} s)")
  return params, accuracy(params, x_test, y_test)


def accuracy(params, images, labels) -> float:
  logits, _ = logits_and_features(params, images)
  return float(np.mean(logits.argmax(-1) == np.asarray(labels)))


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m gan_jax.classifier",
                              description="Retrain the Fashion-MNIST feature classifier used by the metrics.")
  p.add_argument("--epochs", type=int, default=15)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--data-dir", default=None)
  p.add_argument("--idx-dir", default=None)
  p.add_argument("--out", default=str(asset_path(WEIGHTS)), help="weights file; the card goes beside it")
  args = p.parse_args(argv)
  if args.epochs <= 0:
    p.error("--epochs must be positive")
  out = Path(args.out)
  if not out.parent.is_dir():
    p.error(f"--out: folder {out.parent} does not exist")
  params, acc = train(args.epochs, args.seed, args.data_dir, args.idx_dir, log=lambda s: print(s, flush=True))
  raw = flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, params))
  out.write_bytes(raw)
  card = {
      "test_accuracy": acc, "sha256": hashlib.sha256(raw).hexdigest(), "features": FEATURES,
      "epochs": args.epochs, "seed": args.seed, "command": "python -m gan_jax.classifier " + " ".join(argv or sys.argv[1:]),
      "jax": jax.__version__, "backend": jax.default_backend(),
  }  # fmt: skip
  out.with_name(CARD).write_text(json.dumps(card, indent=2) + "\n")
  print(f"test accuracy {acc:.4f}; wrote {out} ({len(raw) / 2**20:.1f} MiB) and {out.with_name(CARD)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
