"""Training state and the pure, jitted GAN steps.

``d_step`` and ``g_step`` are the seed's two updates and the public unit for
research code.  ``train_chunk`` fuses many iterations into one ``lax.scan``
with the dataset resident on the device, which is what the training loop runs.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax.config import Config
from gan_jax.models import Discriminator, Generator
from gan_jax.optim import keras_adam
from gan_jax.parallel import shard_batch

Params = Any
Metrics = dict[str, jax.Array]


@flax.struct.dataclass
class GANState:
  g_params: Params
  d_params: Params
  g_opt_state: optax.OptState
  d_opt_state: optax.OptState
  step: jax.Array  # completed training iterations (one D update pair + one G update each)
  key: jax.Array  # root key of the run; per-iteration keys are fold_in(key, step)
  ema_params: Params | None  # EMA of g_params when config.ema is set, else None
  config: Config = flax.struct.field(pytree_node=False)


def _compute_dtype(config: Config):
  # bf16 compute; params, optimizer state and losses stay float32.
  return jnp.bfloat16 if config.precision == "bf16" else None


def generator(config: Config) -> Generator:
  return Generator(impl=config.conv_impl, num_classes=config.num_classes, dtype=_compute_dtype(config))


def discriminator(config: Config) -> Discriminator:
  return Discriminator(impl=config.conv_impl, dropout_rate=config.dropout, num_classes=config.num_classes,
                       dtype=_compute_dtype(config))


def optimizer(config: Config) -> optax.GradientTransformation:
  if config.adam == "keras":
    return keras_adam(config.lr, b1=config.beta1, b2=config.beta2, eps=config.adam_eps)
  return optax.adam(config.lr, b1=config.beta1, b2=config.beta2, eps=config.adam_eps)


@functools.partial(jax.jit, static_argnums=0)  # one compile instead of one per init op
def create_state(config: Config, key: jax.Array) -> GANState:
  k_g, k_d, k_run = jax.random.split(key, 3)
  labels = jnp.zeros((1,), jnp.int32) if config.conditional else None
  g_params = generator(config).init(k_g, jnp.zeros((1, config.latent_dim)), labels)["params"]
  d_params = discriminator(config).init(k_d, jnp.zeros((1, 28, 28, 1)), labels, train=False)["params"]
  tx = optimizer(config)
  return GANState(
      g_params=g_params,
      d_params=d_params,
      g_opt_state=tx.init(g_params),
      d_opt_state=tx.init(d_params),
      step=jnp.zeros((), jnp.int32),
      key=k_run,
      ema_params=None if config.ema is None else jax.tree.map(jnp.copy, g_params),
      config=config,
  )


def sample_latent(key: jax.Array, n: int, latent_dim: int) -> jax.Array:
  """The seed's latent points: standard normal, (n, latent_dim)."""
  return jax.random.normal(key, (n, latent_dim), jnp.float32)


def sample_labels(key: jax.Array, n: int, config: Config) -> jax.Array | None:
  """Uniform class labels for fakes when conditional (the book's cGAN), else None."""
  return jax.random.randint(key, (n,), 0, config.num_classes) if config.conditional else None


@functools.partial(jax.jit, static_argnums=0)
def generate(config: Config, g_params: Params, z_BxL: jax.Array, labels_B: jax.Array | None = None) -> jax.Array:
  """Images in [-1, 1] from latent points (and class labels when conditional), (B, 28, 28, 1)."""
  if config.conditional and labels_B is None:
    raise ValueError("a conditional generator needs class labels")
  return generator(config).apply({"params": g_params}, z_BxL, labels_B)


def _bce(logits_Bx1: jax.Array, label: float) -> jax.Array:
  # Binary cross-entropy on logits == the seed's sigmoid + BCE, without its log(0) risk.
  return optax.sigmoid_binary_cross_entropy(logits_Bx1, jnp.full_like(logits_Bx1, label)).mean()


def _accuracy(logits_Bx1: jax.Array, label: float) -> jax.Array:
  return jnp.mean((logits_Bx1 > 0) == (label > 0.5))


def _d_update(state: GANState, images_BxHxWx1: jax.Array, label: float, key: jax.Array, classes_B=None):
  """One Adam update of D on one labelled half batch, as Keras' train_on_batch."""
  disc = discriminator(state.config)

  def loss_fn(d_params):
    logits = disc.apply({"params": d_params}, images_BxHxWx1, classes_B, train=True, rngs={"dropout": key})
    return _bce(logits, label), _accuracy(logits, label)

  (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.d_params)
  updates, d_opt_state = optimizer(state.config).update(grads, state.d_opt_state, state.d_params)
  state = state.replace(d_params=optax.apply_updates(state.d_params, updates), d_opt_state=d_opt_state)
  return state, loss, acc


def discriminator_update(
    state: GANState, real_images: jax.Array, key: jax.Array, real_labels: jax.Array | None = None
) -> tuple[GANState, Metrics]:
  """The seed's D phase: an update on real (label 1), then one on fresh fakes (label 0).

  Conditional runs pass the real images' class labels; fakes get uniform ones.
  """
  config = state.config
  if config.conditional and real_labels is None:
    raise ValueError("a conditional d_step needs the real images' class labels")
  k_real, k_z, k_fake = jax.random.split(key, 3)
  state, d1, acc_real = _d_update(state, real_images, 1.0, k_real, real_labels)
  # G's forward sits outside D's loss, so no gradient reaches G (Keras' predict).
  z = shard_batch(sample_latent(k_z, real_images.shape[0], config.latent_dim))
  fake_labels = shard_batch(sample_labels(jax.random.fold_in(k_z, 1), real_images.shape[0], config))
  fake_images = generate(config, state.g_params, z, fake_labels)
  state, d2, acc_fake = _d_update(state, fake_images, 0.0, k_fake, fake_labels)
  return state, {"d1": d1, "d2": d2, "acc_real": acc_real, "acc_fake": acc_fake}


def generator_update(state: GANState, key: jax.Array) -> tuple[GANState, Metrics]:
  """The seed's composite-model update: fakes labelled real, gradients for G only.

  D stays frozen because only ``g_params`` is differentiated; it still runs in
  training mode (dropout on), as inside Keras' composite model.
  """
  config = state.config
  k_z, k_drop = jax.random.split(key)
  z = shard_batch(sample_latent(k_z, config.batch_size, config.latent_dim))
  labels = shard_batch(sample_labels(jax.random.fold_in(k_z, 1), config.batch_size, config))
  disc = discriminator(config)

  def loss_fn(g_params):
    fake = generate(config, g_params, z, labels)
    logits = disc.apply({"params": state.d_params}, fake, labels, train=True, rngs={"dropout": k_drop})
    return _bce(logits, 1.0)

  loss, grads = jax.value_and_grad(loss_fn)(state.g_params)
  updates, g_opt_state = optimizer(config).update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  ema_params = state.ema_params
  if config.ema is not None:
    ema_params = optax.incremental_update(g_params, ema_params, step_size=1.0 - config.ema)
  return state.replace(g_params=g_params, g_opt_state=g_opt_state, ema_params=ema_params), {"g": loss}


d_step = jax.jit(discriminator_update, donate_argnames="state")
g_step = jax.jit(generator_update, donate_argnames="state")


def to_float(images_u8: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], as the seed's (x - 127.5) / 127.5."""
  return (images_u8.astype(jnp.float32) - 127.5) / 127.5


def real_batch_indices(config: Config, key: jax.Array, step: jax.Array, n: int) -> jax.Array:
  """Indices of the real half batch for iteration ``step``; a function of (key, step) only."""
  half = config.half_batch
  k_pass, k_idx = jax.random.split(key)
  if config.sampling == "random":
    return jax.random.randint(jax.random.fold_in(k_idx, step), (half,), 0, n)
  per_pass = n // half
  perm = jax.random.permutation(jax.random.fold_in(k_pass, step // per_pass), n)
  return lax.dynamic_slice(perm, ((step % per_pass) * half,), (half,))


def iteration_inputs(state: GANState, images_u8_NxHxWx1: jax.Array, labels_N: jax.Array | None = None):
  """(real half batch, its labels or None, d_step key, g_step key) of iteration ``state.step``.

  A function of (key, step) only, so a resumed run draws what an uninterrupted one would.
  """
  k_data, k_step = jax.random.split(state.key)
  k_d, k_g = jax.random.split(jax.random.fold_in(k_step, state.step))
  idx = real_batch_indices(state.config, k_data, state.step, images_u8_NxHxWx1.shape[0])
  labels = None if labels_N is None or not state.config.conditional else shard_batch(labels_N[idx])
  return shard_batch(to_float(images_u8_NxHxWx1[idx])), labels, k_d, k_g


def train_iteration(state: GANState, images_u8_NxHxWx1: jax.Array, labels_N: jax.Array | None = None):
  """One iteration of the seed: the D pair, then the G update; step += 1."""
  real, labels, k_d, k_g = iteration_inputs(state, images_u8_NxHxWx1, labels_N)
  state, d_metrics = discriminator_update(state, real, k_d, labels)
  state, g_metrics = generator_update(state, k_g)
  return state.replace(step=state.step + 1), d_metrics | g_metrics


@functools.partial(jax.jit, static_argnames="n", donate_argnames="state")
def train_chunk(
    state: GANState, images_u8_NxHxWx1: jax.Array, n: int, labels_N: jax.Array | None = None
) -> tuple[GANState, Metrics]:
  """``n`` fused iterations; metrics come back stacked, shape (n,)."""
  return lax.scan(lambda s, _: train_iteration(s, images_u8_NxHxWx1, labels_N), state, None, length=n)
