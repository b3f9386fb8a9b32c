"""Run by test_multidevice.py in a subprocess with 4 host CPU devices (XLA_FLAGS set there)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from gan_jax import Config, cli, create_state, parallel, steps


def iteration(state, real):
  state, d = steps.discriminator_update(state, real, jax.random.PRNGKey(1))
  state, g = steps.generator_update(state, jax.random.PRNGKey(2))
  return state, d | g


def test_four_devices_are_visible():
  assert jax.device_count() == 4


def test_sharded_iteration_equals_single_device():
  state = create_state(Config(batch_size=16), jax.random.PRNGKey(0))
  real = steps.to_float(jnp.asarray(np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)))
  one, m_one = jax.jit(iteration)(jax.tree.map(jnp.copy, state), real)
  mesh = parallel.make_mesh(4)
  with jax.set_mesh(mesh):
    sharded_state = jax.device_put(jax.tree.map(jnp.copy, state), parallel.replicated(mesh))
    sharded_real = jax.device_put(real, NamedSharding(mesh, P("data")))
    compiled = jax.jit(iteration).lower(sharded_state, sharded_real).compile()
    four, m_four = compiled(sharded_state, sharded_real)
  assert "all-reduce" in compiled.as_text()  # the compiler, not our code, reduces the gradients
  for a, b in zip(jax.tree.leaves((one, m_one)), jax.tree.leaves((four, m_four))):
    np.testing.assert_allclose(a, b, atol=1e-5)
  assert four.g_params["convt2"]["kernel"].sharding.is_fully_replicated


def test_run_on_4_devices_then_resume_on_1_and_2(tmp_path, capsys):
  import os

  common = ["--batch-size", "8", "--steps-per-epoch", "2", "--no-progress", "--workdir", str(tmp_path / "w"),
            "--idx-dir", os.environ["GAN_JAX_TEST_IDX"], "--data-dir", os.environ["GAN_JAX_TEST_TFDS"]]
  assert cli.main([*common, "--epochs", "1", "--devices", "4"]) == 0
  assert "Data parallel over 4 devices: 1 real + 1 fake images per device" in capsys.readouterr().err
  assert cli.main([*common, "--epochs", "2", "--devices", "1"]) == 0
  assert "(step 2)" in capsys.readouterr().err
  assert cli.main([*common, "--epochs", "3", "--devices", "2"]) == 0
  assert "(step 4)" in capsys.readouterr().err
  assert sorted(int(p.name) for p in (tmp_path / "w" / "checkpoints").iterdir()) == [2, 4, 6]


def test_batch_that_does_not_split_is_a_clear_error(tmp_path, capsys):
  import os

  with pytest.raises(SystemExit) as err:
    cli.main(["--batch-size", "8", "--devices", "3", "--workdir", str(tmp_path / "w"),
              "--idx-dir", os.environ["GAN_JAX_TEST_IDX"], "--data-dir", os.environ["GAN_JAX_TEST_TFDS"]])
  assert err.value.code == 2
  assert "batch_size 8 does not split over 3 devices" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    cli.main(["--devices", "5", "--workdir", str(tmp_path / "w"), "--idx-dir", os.environ["GAN_JAX_TEST_IDX"],
              "--data-dir", os.environ["GAN_JAX_TEST_TFDS"]])
  assert "only 4 cpu device(s) available" in capsys.readouterr().err
