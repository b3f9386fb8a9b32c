"""Conditional GAN (--conditional) and generator EMA (--ema)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import Config, create_state, d_step, g_step, generate, train_chunk
from gan_jax import checkpointing as ckpt
from gan_jax import sample
from gan_jax.models import Discriminator, Generator

COND = Config(batch_size=8, conditional=True)


def count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def copy(tree):
  return jax.tree.map(lambda x: x.copy(), tree)


@pytest.fixture(scope="module")
def cond_state():
  return create_state(COND, jax.random.PRNGKey(0))


def test_conditional_models_shapes_and_parameter_counts(cond_state):
  # Documented in the README: the book's label inputs add 5,047 to G and 41,636 to D.
  assert count(cond_state.g_params) == 1_169_336 and count(cond_state.d_params) == 196_773
  z, labels = jnp.zeros((3, 100)), jnp.array([0, 4, 9])
  images = Generator(num_classes=10).apply({"params": cond_state.g_params}, z, labels)
  assert images.shape == (3, 28, 28, 1)
  logits = Discriminator(num_classes=10).apply({"params": cond_state.d_params}, images, labels, train=False)
  assert logits.shape == (3, 1)
  other = Generator(num_classes=10).apply({"params": cond_state.g_params}, z, jnp.array([1, 5, 2]))
  assert not np.allclose(images, other)  # the label changes the image


def test_conditional_steps_need_labels_and_train(cond_state, data_u8):
  with pytest.raises(ValueError, match="class labels"):
    d_step(copy(cond_state), jnp.zeros((4, 28, 28, 1)), jax.random.PRNGKey(1))
  labels = jnp.asarray(np.random.default_rng(0).integers(0, 10, len(data_u8)))
  state, m = train_chunk(copy(cond_state), data_u8, 2, labels)
  assert int(state.step) == 2 and all(np.isfinite(v).all() for v in jax.tree.leaves(m))


def test_class_grid_puts_class_r_in_row_r(cond_state, tmp_path):
  images, labels = sample.class_grid(COND, cond_state.g_params, seed=5)
  assert labels.tolist() == np.repeat(np.arange(10), 10).tolist()
  z = images.reshape(10, 10, 28, 28, 1)
  for r in (0, 7):
    row = sample.generate_samples(COND, cond_state.g_params, 10, seed=5, cls=r)[0]
    np.testing.assert_allclose(z[r], row, atol=1e-5)  # the same 10 latent points, class r
  path = ckpt.export_generator(tmp_path / "cond.msgpack", cond_state)
  assert sample.main(["--checkpoint", str(path), "--grid", str(tmp_path / "rows.png")]) == 0
  assert sample.main(["--checkpoint", str(path), "--grid", str(tmp_path / "bags.png"), "--class", "Bag"]) == 0
  assert (tmp_path / "rows.png").is_file() and (tmp_path / "bags.png").is_file()


@pytest.mark.parametrize("decay", [0.0, 1.0])
def test_ema_extremes(decay):
  state = create_state(Config(batch_size=8, ema=decay), jax.random.PRNGKey(0))
  init = copy(state.g_params)
  for i in range(2):
    state, _ = g_step(state, jax.random.PRNGKey(i))
  for ema, raw, first in zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(state.g_params), jax.tree.leaves(init)):
    np.testing.assert_array_equal(ema, raw if decay == 0.0 else first)
  assert not np.array_equal(jax.tree.leaves(state.g_params)[0], jax.tree.leaves(init)[0])


def test_ema_survives_checkpoint_and_export(tmp_path):
  config = Config(batch_size=8, ema=1.0)  # the extremes test's config: compiled once
  state, _ = g_step(create_state(config, jax.random.PRNGKey(0)), jax.random.PRNGKey(1))
  manager = ckpt.make_manager(tmp_path, config)
  ckpt.save(manager, state)
  manager.wait_until_finished()
  restored = ckpt.restore(manager, config, 0)
  manager.close()
  for a, b in zip(jax.tree.leaves(restored.ema_params), jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(a, b)
  _, g, ema = ckpt.load_generator(ckpt.export_generator(tmp_path / "g.msgpack", state))
  np.testing.assert_array_equal(jax.tree.leaves(ema)[0], jax.tree.leaves(state.ema_params)[0])
  z = jnp.ones((2, 100))
  assert not np.allclose(generate(config, ema, z), generate(config, g, z))


def test_switching_ema_on_for_a_run_without_it_is_refused():
  with pytest.raises(ckpt.CheckpointError, match="ema_enabled: checkpoint False vs this run True"):
    ckpt.check_compatible(Config().to_dict(), Config(ema=0.999), allow_changes=True)
