"""Shapes, ranges, parameter counts and initialisation of the seed's models."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import Config, Discriminator, Generator, create_state
from gan_jax.models import Conv, ConvTranspose


def count(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


@pytest.fixture(scope="module")
def state():
  return create_state(Config(), jax.random.PRNGKey(0))


def test_parameter_counts_equal_keras(state):
  assert count(state.d_params) == 155_137
  assert count(state.g_params) == 1_164_289


def test_shapes_and_ranges(state):
  z = jax.random.normal(jax.random.PRNGKey(1), (5, 100))
  images = Generator().apply({"params": state.g_params}, z)
  assert images.shape == (5, 28, 28, 1) and images.dtype == jnp.float32
  assert float(jnp.abs(images).max()) <= 1.0
  logits = Discriminator().apply({"params": state.d_params}, images, train=False)
  assert logits.shape == (5, 1)


def test_keras_default_initialisation(state):
  """Glorot-uniform kernels (limit sqrt(6 / (fan_in + fan_out))) and zero biases."""
  fans = {
      ("d", "conv1"): (9 * 1, 9 * 128), ("d", "conv2"): (9 * 128, 9 * 128), ("d", "dense"): (6272, 1),
      ("g", "dense"): (100, 6272), ("g", "convt1"): (16 * 128, 16 * 128),
      ("g", "convt2"): (16 * 128, 16 * 128), ("g", "conv_out"): (49 * 128, 49 * 1),
  }  # fmt: skip
  for (model, layer), (fan_in, fan_out) in fans.items():
    p = (state.d_params if model == "d" else state.g_params)[layer]
    limit = np.sqrt(6 / (fan_in + fan_out))
    kernel = np.asarray(p["kernel"])
    assert np.abs(kernel).max() <= limit
    if kernel.size > 1000:  # enough draws to pin the uniform distribution down
      assert np.abs(kernel).max() > 0.99 * limit
      np.testing.assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.05)
    assert not np.asarray(p["bias"]).any()


def test_dropout_only_in_training(state):
  x = jax.random.uniform(jax.random.PRNGKey(2), (8, 28, 28, 1), minval=-1, maxval=1)
  d = Discriminator()
  eval_a = d.apply({"params": state.d_params}, x, train=False)
  eval_b = d.apply({"params": state.d_params}, x, train=False)
  np.testing.assert_array_equal(eval_a, eval_b)
  train_a = d.apply({"params": state.d_params}, x, train=True, rngs={"dropout": jax.random.PRNGKey(3)})
  train_b = d.apply({"params": state.d_params}, x, train=True, rngs={"dropout": jax.random.PRNGKey(4)})
  assert not np.allclose(train_a, train_b)


@pytest.mark.parametrize("impl", ["matmul", "lax"])
def test_conv_impls_agree_on_whole_models(state, impl):
  z = jax.random.normal(jax.random.PRNGKey(5), (4, 100))
  ref = Generator(impl="lax").apply({"params": state.g_params}, z)
  out = Generator(impl=impl).apply({"params": state.g_params}, z)
  np.testing.assert_allclose(out, ref, atol=1e-5)
  d_ref = Discriminator(impl="lax").apply({"params": state.d_params}, out, train=False)
  d_out = Discriminator(impl=impl).apply({"params": state.d_params}, out, train=False)
  np.testing.assert_allclose(d_out, d_ref, atol=1e-5)


def test_kernel_layout_is_flax_standard():
  """The same params give the same outputs in flax.linen.Conv/ConvTranspose."""
  x = jax.random.normal(jax.random.PRNGKey(6), (2, 14, 14, 8))
  for ours, theirs in [
      (Conv(4, 3, 2, impl="matmul"), nn.Conv(4, (3, 3), strides=2, padding="SAME")),
      (ConvTranspose(4, impl="matmul"), nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding="SAME")),
  ]:
    params = ours.init(jax.random.PRNGKey(7), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, theirs.init(jax.random.PRNGKey(7), x))
    params = jax.tree.map(lambda p: p + 0.1, params)  # non-zero bias too
    np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), atol=1e-5)


def test_bad_conv_impl_is_refused():
  with pytest.raises(ValueError, match="conv_impl"):
    Generator(impl="cudnn").init(jax.random.PRNGKey(0), jnp.zeros((1, 100)))
