"""Orbax checkpoints of the whole GAN state, and the generator-only export."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from gan_jax.config import ARCHITECTURE_FIELDS, HYPERPARAMETER_FIELDS, Config
from gan_jax.steps import GANState, create_state

GENERATOR_FILE = "generator.msgpack"


class CheckpointError(Exception):
  """A checkpoint that cannot be used for this run; the message says why."""


def make_manager(
    workdir: str | os.PathLike, config: Config | None = None, *, folder: str = "checkpoints",
    max_to_keep: int | None = None, read_only: bool = False,
) -> ocp.CheckpointManager:
  """The orbax manager of ``WORKDIR/folder``; keeps ``config.keep_checkpoints`` unless told otherwise."""
  keep = max_to_keep or (config.keep_checkpoints if config else None)
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only, read_only=read_only)
  return ocp.CheckpointManager(Path(workdir).absolute() / folder, options=options, item_names=("state", "config"))


def save(manager: ocp.CheckpointManager, state: GANState, config: Config | None = None) -> None:
  """Start an (async) save at ``state.step`` with the run's config; orbax commits it atomically."""
  manager.save(
      int(state.step),
      args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), config=ocp.args.JsonSave((config or state.config).to_dict())
      ),
      force=True,
  )


def abstract_state(config: Config, sharding: jax.sharding.Sharding | None = None) -> GANState:
  """The state's shapes and dtypes; restored arrays land on ``sharding`` (default: the first device)."""
  shapes = jax.eval_shape(lambda: create_state(config.for_steps(), jax.random.PRNGKey(0)))
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), shapes)


def saved_config(manager: ocp.CheckpointManager, step: int) -> dict[str, Any]:
  return manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]


def check_compatible(saved: dict[str, Any], config: Config, *, allow_changes: bool) -> None:
  """Refuse to resume across architectures, and across hyperparameters unless allowed."""
  current = config.to_dict()
  saved = {**saved, "ema_enabled": saved.get("ema") is not None}
  current["ema_enabled"] = config.ema is not None
  arch = {k: (saved.get(k), current[k]) for k in ARCHITECTURE_FIELDS if saved.get(k) != current[k]}
  if arch:
    diff = ", ".join(f"{k}: checkpoint {a!r} vs this run {b!r}" for k, (a, b) in arch.items())
    raise CheckpointError(f"the checkpoint was trained with a different architecture ({diff}); "
                          "use another --workdir or the matching flags")
  hyper = {k: (saved.get(k), current[k]) for k in HYPERPARAMETER_FIELDS if saved.get(k) != current[k]}
  if hyper and not allow_changes:
    diff = ", ".join(f"{k}: checkpoint {a!r} vs this run {b!r}" for k, (a, b) in hyper.items())
    raise CheckpointError(f"resuming with different hyperparameters ({diff}); pass "
                          "--allow-config-change to continue anyway, or use another --workdir")


def restore(manager: ocp.CheckpointManager, config: Config, step: int, sharding=None) -> GANState:
  """The state saved at ``step``, placed on ``sharding``, whatever device count saved it."""
  target = abstract_state(config, sharding)
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
  return restored["state"]


def export_generator(path: str | os.PathLike, state: GANState) -> Path:
  """The seed's ``generator.h5``: G's params and config in one msgpack file, written atomically."""
  path = Path(path)
  payload = {
      "config": state.config.for_steps().to_dict(),
      "g_params": jax.tree.map(np.asarray, state.g_params),
      "step": int(state.step),
  }
  if state.ema_params is not None:
    payload["ema_params"] = jax.tree.map(np.asarray, state.ema_params)
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_bytes(flax.serialization.msgpack_serialize(payload))
  os.replace(tmp, path)
  return path


def load_generator(path: str | os.PathLike) -> tuple[Config, Any, Any]:
  """(config, g_params, ema_params or None) from ``export_generator``'s file."""
  path = Path(path)
  try:
    payload = flax.serialization.msgpack_restore(path.read_bytes())
    config = Config.from_dict(payload["config"])
    g_params = jax.tree.map(jnp.asarray, payload["g_params"])
    ema = payload.get("ema_params")
  except FileNotFoundError:
    raise CheckpointError(f"{path}: no such generator file") from None
  except Exception as e:  # noqa: BLE001 - msgpack raises many types on bad bytes
    raise CheckpointError(f"{path}: not a readable generator export ({type(e).__name__}: {e})") from None
  return config, g_params, None if ema is None else jax.tree.map(jnp.asarray, ema)


def load_for_sampling(workdir: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None):
  """(config, g_params, ema_params or None, description) from a run.

  ``checkpoint`` may be an orbax step folder (``RUN/checkpoints/468``) or a
  ``generator.msgpack``; otherwise the workdir's latest checkpoint, else its export.
  """
  if checkpoint is not None:
    path = Path(checkpoint)
    if path.is_file():
      config, g, ema = load_generator(path)
      return config, g, ema, str(path)
    if not (path.is_dir() and path.name.isdigit()):
      raise CheckpointError(f"{path}: neither a generator.msgpack nor an orbax step folder (RUN/checkpoints/<step>)")
    workdir, step = path.parent.parent, int(path.name)
  else:
    if workdir is None or not Path(workdir).is_dir():
      raise CheckpointError(f"{workdir}: no such workdir")
    step = None
  workdir = Path(workdir)
  if (workdir / "checkpoints").is_dir():
    manager = make_manager(workdir, read_only=True)
    try:
      step = manager.latest_step() if step is None else step
      if step is not None:
        config = Config.from_dict(saved_config(manager, step))
        state = restore(manager, config, step)
        return config, state.g_params, state.ema_params, str(workdir / "checkpoints" / str(step))
    finally:
      manager.close()
  export = workdir / GENERATOR_FILE
  if export.exists():
    config, g, ema = load_generator(export)
    return config, g, ema, str(export)
  raise CheckpointError(f"{workdir}: no checkpoint and no {GENERATOR_FILE}; train first with run.py --workdir {workdir}")
