"""The Flax models and steps equal the seed's Keras models and train_on_batch updates."""

import jax
import numpy as np
import pytest

from gan_jax import Config, create_state, d_step, g_step, sample_latent
from gan_jax.models import Discriminator, Generator

keras_seed = pytest.importorskip("gan_jax.peers.keras_seed", reason="Keras ships with TensorFlow")
ATOL = 1e-5


def assert_tree_close(flax_params, keras_params, atol=ATOL):
  for layer, p in keras_params.items():
    for name, value in p.items():
      np.testing.assert_allclose(np.asarray(flax_params[layer][name]), value, atol=atol, err_msg=f"{layer}.{name}")


@pytest.fixture(scope="module")
def state():
  # Dropout off: Keras and JAX draw different masks.
  return create_state(Config(dropout=0.0, batch_size=16), jax.random.PRNGKey(0))


def test_forward_outputs_match(state):
  g, d = keras_seed.define_generator(), keras_seed.define_discriminator()
  keras_seed.set_generator_weights(g, state.g_params)
  keras_seed.set_discriminator_weights(d, state.d_params)
  z = np.random.default_rng(0).standard_normal((8, 100)).astype(np.float32)
  images = np.asarray(Generator().apply({"params": state.g_params}, z))
  np.testing.assert_allclose(images, g.predict(z, verbose=0), atol=ATOL)
  logits = Discriminator().apply({"params": state.d_params}, images, train=False)
  np.testing.assert_allclose(jax.nn.sigmoid(logits), d.predict(images, verbose=0), atol=ATOL)
  # And the weights read back from Keras are the ones we wrote.
  assert_tree_close(state.g_params, keras_seed.generator_params(g), atol=0)


def test_one_iteration_matches_train_on_batch(state):
  config = state.config
  seed = keras_seed.SeedKeras(dropout=0.0)
  keras_seed.set_generator_weights(seed.g, state.g_params)
  keras_seed.set_discriminator_weights(seed.d, state.d_params)
  real = np.random.default_rng(1).uniform(-1, 1, (config.half_batch, 28, 28, 1)).astype(np.float32)
  k_d, k_g = jax.random.PRNGKey(10), jax.random.PRNGKey(11)
  # The latent points d_step and g_step draw from their keys (see steps.py).
  z_fake = np.asarray(sample_latent(jax.random.split(k_d, 3)[1], config.half_batch, 100))
  z_gan = np.asarray(sample_latent(jax.random.split(k_g)[0], config.batch_size, 100))

  d1, d2, g = seed.train_iteration(real, z_fake, z_gan)
  new, d_metrics = d_step(jax.tree.map(lambda x: x.copy(), state), real, k_d)
  np.testing.assert_allclose([d_metrics["d1"], d_metrics["d2"]], [d1, d2], atol=ATOL)
  assert_tree_close(new.d_params, keras_seed.discriminator_params(seed.d))
  new, g_metrics = g_step(new, k_g)
  np.testing.assert_allclose(g_metrics["g"], g, atol=ATOL)
  assert_tree_close(new.g_params, keras_seed.generator_params(seed.g))
  assert_tree_close(new.d_params, keras_seed.discriminator_params(seed.d))  # G's update left D alone


def test_keras3_trainable_trap_is_real_and_not_ours(state):
  """The seed's code run as-is on Keras 3: d.train_on_batch no longer updates D."""
  d, g = keras_seed.define_discriminator(0.0), keras_seed.define_generator()
  keras_seed.define_gan(g, d)  # sets d.trainable = False, as the seed does
  before = [w.copy() for w in d.get_weights()]
  real = np.random.default_rng(2).uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
  d.train_on_batch(real, np.ones((8, 1), np.float32))
  assert all(np.array_equal(a, b) for a, b in zip(before, d.get_weights()))
  # This project's d_step does update D.
  new, _ = d_step(jax.tree.map(lambda x: x.copy(), state), real, jax.random.PRNGKey(0))
  assert not np.array_equal(new.d_params["conv1"]["kernel"], state.d_params["conv1"]["kernel"])
