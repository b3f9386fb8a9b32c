"""Orbax round trips of the whole state, the generator export, and config checks."""

import jax
import numpy as np
import pytest

from gan_jax import Config, create_state, generate, train_chunk
from gan_jax import checkpointing as ckpt

CONFIG = Config(batch_size=8)


@pytest.fixture(scope="module")
def trained_state(data_u8):
  state, _ = train_chunk(create_state(CONFIG, jax.random.PRNGKey(0)), data_u8, 2)
  return state


def test_save_restore_round_trip_is_identical(tmp_path, trained_state):
  manager = ckpt.make_manager(tmp_path, CONFIG)
  ckpt.save(manager, trained_state)
  manager.wait_until_finished()
  assert manager.latest_step() == 2
  restored = ckpt.restore(manager, CONFIG, 2)
  assert jax.tree.structure(restored) == jax.tree.structure(trained_state)
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(trained_state)):
    assert a.dtype == b.dtype and np.array_equal(a, b)
  assert ckpt.saved_config(manager, 2) == CONFIG.to_dict()
  manager.close()


def test_generator_export_loads_back(tmp_path, trained_state):
  path = ckpt.export_generator(tmp_path / "generator.msgpack", trained_state)
  config, g_params, ema = ckpt.load_generator(path)
  assert ema is None
  assert config == CONFIG
  z = jax.random.normal(jax.random.PRNGKey(1), (3, 100))
  np.testing.assert_array_equal(generate(config, g_params, z), generate(CONFIG, trained_state.g_params, z))
  path.write_bytes(path.read_bytes()[:100])
  with pytest.raises(ckpt.CheckpointError, match="not a readable generator"):
    ckpt.load_generator(path)


def test_architecture_change_is_refused_with_both_values():
  with pytest.raises(ckpt.CheckpointError, match="latent_dim: checkpoint 100 vs this run 64"):
    ckpt.check_compatible(CONFIG.to_dict(), Config(batch_size=8, latent_dim=64), allow_changes=True)


def test_hyperparameter_change_needs_consent():
  changed = Config(batch_size=8, lr=1e-3)
  with pytest.raises(ckpt.CheckpointError, match="lr: checkpoint 0.0002 vs this run 0.001.*--allow-config-change"):
    ckpt.check_compatible(CONFIG.to_dict(), changed, allow_changes=False)
  ckpt.check_compatible(CONFIG.to_dict(), changed, allow_changes=True)
  # Run-length and logging flags never block a resume.
  ckpt.check_compatible(CONFIG.to_dict(), Config(batch_size=8, epochs=7, log_every=3), allow_changes=False)
