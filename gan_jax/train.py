"""The training loop: data on the device, fused chunks of iterations, logs,
progress images, orbax checkpoints and clean stops."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import jax
import numpy as np
import tqdm

from gan_jax import checkpointing as ckpt
from gan_jax import images as image_io
from gan_jax import input_pipeline, parallel, plots
from gan_jax.config import Config
from gan_jax.steps import GANState, create_state, generate, sample_latent, train_chunk

METRIC_NAMES = ("d1", "d2", "g", "acc_real", "acc_fake")
logger = logging.getLogger("gan_jax")
# Bytes a run needs free: a few checkpoints of ~16 MB (params + Adam moments) plus images.
_MIN_FREE_BYTES = 200 * 2**20


class TrainingError(Exception):
  """Training cannot go on (divergence); the message says why."""


class WorkdirError(Exception):
  """The workdir cannot hold a run; raised before any training."""


class Interrupted(Exception):
  def __init__(self, signum: int, step: int):
    super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}")
    self.signum, self.step = signum, step

  @property
  def exit_code(self) -> int:
    return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM, as shells report them


def default_chunk(steps_per_epoch: int) -> int:
  """Iterations per jitted call.

  Accelerators run an iteration in ~ms: fuse the whole epoch.  On CPU an
  iteration takes ~0.5 s and each call costs ~70 ms of buffer set-up, so ~18
  iterations per call keep that near 1% while the progress bar still moves
  every ~10 s; a divisor of the epoch avoids compiling a second, shorter chunk.
  """
  if jax.default_backend() != "cpu":
    return steps_per_epoch
  divisor = max(d for d in range(1, 21) if steps_per_epoch % d == 0)
  return divisor if divisor >= 8 else min(steps_per_epoch, 16)


def prepare_workdir(workdir: str | os.PathLike) -> Path:
  """Create the workdir and prove it is writable with room to spare, before any training."""
  path = Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write_probe_{jax.process_index()}"
    with open(probe, "wb") as f:
      f.write(os.urandom(1 << 20))
      f.flush()
      os.fsync(f.fileno())
    probe.unlink()
  except OSError as e:
    raise WorkdirError(f"workdir {path} is not writable: {e.strerror or e}") from None
  free = shutil.disk_usage(path).free
  if free < _MIN_FREE_BYTES:
    raise WorkdirError(f"workdir {path}: only {free / 2**20:.0f} MiB free on its disk; "
                        f"a run needs at least {_MIN_FREE_BYTES / 2**20:.0f} MiB")
  (path / "samples").mkdir(exist_ok=True)
  return path


class _StopRequests:
  """SIGINT/SIGTERM ask for a stop at the next chunk boundary; a second one exits at once."""

  def __init__(self):
    self.signum: int | None = None
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None:
      os._exit(128 + signum)
    self.signum = signum
    print(f"\n{signal.Signals(signum).name}: finishing the current chunk and saving a checkpoint "
          "(send it again to exit at once)", file=sys.stderr, flush=True)

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _check_finite(metrics: dict[str, np.ndarray], first_step: int) -> None:
  for i in range(len(metrics["g"])):
    bad = [k for k in ("d1", "d2", "g") if not np.isfinite(metrics[k][i])]
    if bad:
      values = ", ".join(f"{k}={metrics[k][i]}" for k in bad)
      raise TrainingError(f"non-finite loss at step {first_step + i + 1}: {values}; "
                          "the last checkpoint was left untouched")


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jax.numpy.all(jax.numpy.array([jax.numpy.isfinite(x).all() for x in jax.tree.leaves(tree)]))


def _params_finite(state: GANState) -> bool:
  return bool(_all_finite((state.g_params, state.d_params)))


class MetricsLog:
  """metrics.jsonl: a line per ``log_every`` iterations and one per epoch."""

  def __init__(self, path: Path, resume_step: int, enabled: bool = True):
    self.path, self.enabled = path, enabled
    if enabled and path.exists():  # drop lines a killed run wrote past its checkpoint, and a torn last line
      kept = []
      for line in path.read_text().splitlines():
        try:
          if json.loads(line).get("step", 0) <= resume_step:
            kept.append(line)
        except ValueError:
          continue
      tmp = path.with_name(path.name + ".tmp")
      tmp.write_text("".join(l + "\n" for l in kept))
      os.replace(tmp, path)

  def write(self, record: dict) -> None:
    if not self.enabled:
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")


def _mean(values: list[np.ndarray]) -> dict[str, float]:
  return {k: float(np.mean(np.concatenate([v[k] for v in values]))) for k in METRIC_NAMES}


def grid_inputs(config: Config):
  """The fixed latent batch of the per-epoch grids: 100 points; one class per row when conditional."""
  z = sample_latent(jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x6121D), 100, config.latent_dim)
  labels = jax.numpy.repeat(jax.numpy.arange(10), 10) if config.conditional else None
  return z, labels


def sampling_params(state: GANState):
  """G's params to sample with: the EMA copy when the run keeps one."""
  return state.g_params if state.ema_params is None else state.ema_params


def restore_or_create(config: Config, workdir: Path, *, allow_config_change: bool, sharding=None):
  """(manager, state): the newest readable checkpoint, else a fresh state.

  Unreadable checkpoints (a truncated file, say) are moved to
  ``checkpoints_corrupt/`` with a warning that names them and the one used.
  """
  manager = ckpt.make_manager(workdir, config)
  bad: list[tuple[int, str]] = []
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      saved = ckpt.saved_config(manager, step)
    except Exception as e:  # noqa: BLE001 - whatever orbax raises, the checkpoint is unusable
      bad.append((step, f"{type(e).__name__}: {e}"))
      continue
    ckpt.check_compatible(saved, config, allow_changes=allow_config_change)
    try:
      state = ckpt.restore(manager, config, step, sharding)
    except Exception as e:  # noqa: BLE001
      bad.append((step, f"{type(e).__name__}: {e}"))
      continue
    break
  else:
    step, state = None, None
  if bad:
    manager.close()
    quarantine = workdir / "checkpoints_corrupt"
    quarantine.mkdir(exist_ok=True)
    for bad_step, _ in bad:
      os.replace(workdir / "checkpoints" / str(bad_step), quarantine / f"{bad_step}-{int(time.time())}")
    names = ", ".join(f"{workdir / 'checkpoints' / str(s)} ({err.splitlines()[0][:200]})" for s, err in bad)
    if state is None:
      raise ckpt.CheckpointError(f"no readable checkpoint: {names}; moved to {quarantine}. "
                                 "Delete the workdir's checkpoints to start over.")
    logger.warning("unreadable checkpoint %s; moved to %s. Resuming from the previous good one, %s.",
                names, quarantine, workdir / "checkpoints" / str(step))
    manager = ckpt.make_manager(workdir, config)
  if state is None:
    state = jax.device_put(create_state(config.for_steps(), jax.random.PRNGKey(config.seed)), sharding)
  return manager, state


def train_and_evaluate(config: Config, workdir: str | os.PathLike, *, allow_config_change: bool = False) -> GANState:
  """Train (or resume) the seed's GAN in ``workdir``; returns the final state."""
  config.validate()
  images_u8, labels = input_pipeline.load_split("train", data_dir=config.data_dir, idx_dir=config.idx_dir)
  config.validate(train_size=len(images_u8))
  mesh = parallel.make_mesh(config.devices)
  parallel.check_batch(config, 1 if mesh is None else mesh.size)
  is_main = jax.process_index() == 0  # the one process that writes logs and images
  workdir = prepare_workdir(workdir)
  if is_main:
    (workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
  steps_per_epoch = config.steps_per_epoch or len(images_u8) // config.batch_size
  total_steps = config.epochs * steps_per_epoch
  chunk = config.chunk or default_chunk(steps_per_epoch)

  manager, state = restore_or_create(config, workdir, allow_config_change=allow_config_change,
                                     sharding=parallel.replicated(mesh))
  step = int(state.step)
  if step and is_main:
    print(f"Resuming from {workdir / 'checkpoints' / str(step)} (step {step}).", file=sys.stderr)
  metrics_log = MetricsLog(workdir / "metrics.jsonl", step, enabled=is_main)
  data = parallel.shard_dataset(images_u8, mesh)
  data_labels = parallel.shard_dataset(labels, mesh) if config.conditional else None
  if mesh is not None and is_main:
    print(f"Data parallel over {mesh.size} devices: {config.half_batch // mesh.size} real + "
          f"{config.half_batch // mesh.size} fake images per device for D, {config.batch_size // mesh.size} for G.",
          file=sys.stderr)
  z_grid, grid_labels = grid_inputs(config)

  evaluator = _Evaluator(config, workdir, step) if config.eval_every else None

  def save_checkpoint(state: GANState) -> None:
    if not _params_finite(state):
      raise TrainingError(f"non-finite parameters at step {int(state.step)}; the last checkpoint was left untouched")
    ckpt.save(manager, state, config)

  try:
    with _StopRequests() as stop, (jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext()):
      while step < total_steps:
        epoch, pos = divmod(step, steps_per_epoch)
        bar = tqdm.tqdm(total=steps_per_epoch, initial=pos, desc=f"epoch {epoch + 1}/{config.epochs}",
                        disable=not (config.progress and is_main) or config.seed_log, leave=False,
                        dynamic_ncols=True)
        epoch_metrics, window, t0 = [], [], time.perf_counter()
        while pos < steps_per_epoch:
          n = min(chunk - pos % chunk, steps_per_epoch - pos)
          state, metrics = train_chunk(state, data, n, data_labels)
          metrics = jax.device_get(metrics)
          _check_finite(metrics, step)
          epoch_metrics.append(metrics)
          if config.seed_log and is_main:
            for i in range(n):
              print(f">{epoch + 1}, {pos + i + 1}/{steps_per_epoch}, d1={metrics['d1'][i]:.3f}, "
                    f"d2={metrics['d2'][i]:.3f} g={metrics['g'][i]:.3f}", flush=True)
          step, pos = step + n, pos + n
          bar.update(n)
          bar.set_postfix({k: f"{metrics[k][-1]:.3f}" for k in ("d1", "d2", "g")}, refresh=False)
          for i in range(n):  # one line per log_every iterations, whatever the chunk size
            window.append({k: metrics[k][i : i + 1] for k in METRIC_NAMES})
            done = pos - n + i + 1
            if done % config.log_every == 0 or done == steps_per_epoch:
              metrics_log.write({"step": step - n + i + 1, "epoch": epoch + 1, **_mean(window)})
              window = []
          if stop.signum is not None:
            save_checkpoint(state)
            raise Interrupted(stop.signum, step)
        bar.close()
        seconds = time.perf_counter() - t0
        summary = _mean(epoch_metrics)
        metrics_log.write({"step": step, "epoch": epoch + 1, "kind": "epoch", "seconds": seconds,
                   "it_per_s": sum(len(m["g"]) for m in epoch_metrics) / seconds, **summary})
        fake = generate(state.config, sampling_params(state), z_grid, grid_labels)
        if is_main:
          print(f"epoch {epoch + 1}/{config.epochs}: " + " ".join(f"{k}={v:.3f}" for k, v in summary.items())
                + f" | {seconds:.1f} s", file=sys.stderr, flush=True)
          image_io.save_grid(np.asarray(fake), workdir / "samples" / f"epoch_{epoch + 1:04d}.png")
        if (epoch + 1) % config.checkpoint_every == 0 or step >= total_steps:
          save_checkpoint(state)
        if evaluator and ((epoch + 1) % config.eval_every == 0 or step >= total_steps):
          metrics_log.write(evaluator(state, epoch + 1))
        if is_main:
          plots.refresh(workdir)
    if is_main:
      ckpt.export_generator(workdir / ckpt.GENERATOR_FILE, state)
  finally:
    manager.wait_until_finished()
    manager.close()
    if evaluator:
      evaluator.close()
  return state


class _Evaluator:
  """Scores samples every few epochs and keeps the best state by FD in checkpoints_best/."""

  def __init__(self, config: Config, workdir: Path, resume_step: int):
    from gan_jax.evaluate import Scorer, load_references

    self.config, self.workdir = config, workdir
    test, test_labels, _ = load_references(config.data_dir, config.idx_dir, train_subset=False)
    self.scorer = Scorer(test, test_labels)
    self.best = ckpt.make_manager(workdir, config, folder="checkpoints_best", max_to_keep=1)
    previous = [r["fd"] for r in plots.read_metrics(workdir / "metrics.jsonl")
                if r.get("kind") == "eval" and r["step"] <= resume_step] if (workdir / "metrics.jsonl").exists() else []
    self.best_fd = min(previous, default=float("inf"))

  def __call__(self, state: GANState, epoch: int) -> dict:
    from gan_jax.sample import generate_samples

    t0 = time.perf_counter()
    images, labels = generate_samples(state.config, sampling_params(state), self.config.eval_samples, self.config.seed)
    r = self.scorer.score(images, labels)
    record = {"step": int(state.step), "epoch": epoch, "kind": "eval", "ema": state.ema_params is not None,
              **{k: r[k] for k in ("fd", "kid", "kid_std", "precision", "recall", "density", "coverage",
                                   "inception_score")},
              "class_entropy_bits": r["class_hist"]["entropy_bits"], "class_min_share": r["class_hist"]["min_share"]}
    if "intended_class_accuracy" in r:
      record["intended_class_accuracy"] = r["intended_class_accuracy"]
    if state.ema_params is not None:  # the same samples from the trained weights, for comparison
      raw, raw_labels = generate_samples(state.config, state.g_params, self.config.eval_samples, self.config.seed)
      r_raw = self.scorer.score(raw, raw_labels)
      record.update({f"{k}_raw": r_raw[k] for k in ("fd", "kid", "precision", "recall")})
    if r["fd"] < self.best_fd:
      self.best_fd = r["fd"]
      ckpt.save(self.best, state, self.config)
      record["best"] = True
    print(f"eval epoch {epoch}: FD {r['fd']:.3f}, KID {r['kid']:.4f}, precision {r['precision']:.3f}, "
          f"recall {r['recall']:.3f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return record

  def close(self):
    self.best.wait_until_finished()
    self.best.close()
