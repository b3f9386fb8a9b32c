"""Data parallelism with jax.sharding: a 1-D ``data`` mesh over the devices.

Params and optimizer states are replicated; every batch-shaped array is
sharded along ``data``; jit's partitioner inserts the gradient all-reduce.
The dataset stays on the devices, sharded along its first axis; batches are
gathered from it with global indices, so a run draws the same images whatever
the device count (and resumes across device counts).
"""

from __future__ import annotations

import logging

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gan_jax.config import Config

AXIS = "data"
logger = logging.getLogger("gan_jax")


def make_mesh(n_devices: int | None) -> jax.sharding.Mesh | None:
  """A ``data`` mesh over the first ``n_devices`` devices (all by default); None for one device."""
  devices = jax.devices()
  n = len(devices) if n_devices is None else n_devices
  if n > len(devices):
    raise ValueError(f"--devices {n}: only {len(devices)} {jax.default_backend()} device(s) available")
  if n == 1:
    return None
  return jax.sharding.Mesh(np.array(devices[:n]), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def check_batch(config: Config, n_devices: int) -> None:
  if config.half_batch % n_devices:
    raise ValueError(f"batch_size {config.batch_size} does not split over {n_devices} devices: each device takes "
                     f"an equal share of the {config.half_batch} real and {config.half_batch} fake images, so "
                     f"batch_size / 2 must be a multiple of {n_devices}")


def replicated(mesh) -> jax.sharding.Sharding:
  return NamedSharding(mesh, P()) if mesh is not None else jax.sharding.SingleDeviceSharding(jax.devices()[0])


def shard_dataset(array: np.ndarray, mesh):
  if mesh is None:
    return jax.device_put(array)
  if len(array) % mesh.size:
    logger.warning("%d images do not split over %d devices; replicating the dataset instead", len(array), mesh.size)
    return jax.device_put(array, NamedSharding(mesh, P()))
  return jax.device_put(array, NamedSharding(mesh, P(AXIS)))


def shard_batch(x: jax.Array | None) -> jax.Array | None:
  """Inside jit: split a batch-shaped array over the ``data`` axis, if a mesh is active."""
  mesh = jax.sharding.get_abstract_mesh()
  if x is None or mesh.empty or AXIS not in mesh.axis_names:
    return x
  return jax.lax.with_sharding_constraint(x, P(AXIS))
