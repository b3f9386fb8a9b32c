"""Data parallelism on 4 host CPU devices, in a subprocess so that other tests keep one device."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

from conftest import ROOT
from gan_jax import Config, create_state, train_chunk


def test_multidevice_cases_in_a_4_device_process(idx_dir, tfds_dir):
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu",
         "GAN_JAX_TEST_IDX": str(idx_dir), "GAN_JAX_TEST_TFDS": str(tfds_dir)}
  result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "multidevice_cases.py")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
  assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
  assert "4 passed" in result.stdout


def test_bf16_runs_and_stays_finite(data_u8):
  state = create_state(Config(batch_size=8, precision="bf16"), jax.random.PRNGKey(0))
  state, metrics = train_chunk(state, data_u8, 2)
  assert all(np.isfinite(v).all() for v in jax.tree.leaves(metrics))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves((state.g_params, state.d_opt_state.mu)))
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.g_params))
