"""Side-by-side speed of the seed's training iteration: this project, Keras, PyTorch.

    python -m gan_jax.bench [--json] [--only NAMES] [--iters N] [--repeats R]

Each implementation does the same work per iteration (batch 128: D updates on
64 real and 64 fake images, 64 G forwards, one G update on 128), in turn, in
this one process.  Warm-up and compilation are excluded from the rates; each
rate is the median over ``repeats`` timings of ``iters`` iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from typing import Callable

import numpy as np

IMPLEMENTATIONS = ("gan_jax_fused", "gan_jax_step", "keras_tf_function", "keras_seed", "torch_eager")


def iteration_gflop(batch: int = 128, latent_dim: int = 100) -> float:
  """Multiply-adds x2 of one iteration; backward passes count 2x forward where they run."""
  g_fwd = 2 * (latent_dim * 6272 + 49 * 16 * 128 * 128 + 196 * 16 * 128 * 128 + 784 * 49 * 128)
  d_fwd = 2 * (196 * 9 * 128 + 49 * 9 * 128 * 128 + 6272)
  half = batch // 2
  d_updates = 2 * 3 * d_fwd * half  # forward + input/weight gradients, on real then fake
  fakes = g_fwd * half
  g_update = 3 * g_fwd * batch + 2 * d_fwd * batch  # G fwd+bwd; D fwd + input gradient
  return (d_updates + fakes + g_update) / 1e9


class _RssSampler:
  """Peak resident memory of this process while a block runs (sampled every 20 ms)."""

  def __enter__(self):
    self.peak, self._stop = _rss_mb(), threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)
    self._thread.start()
    return self

  def _run(self):
    while not self._stop.wait(0.02):
      self.peak = max(self.peak, _rss_mb())

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.peak = max(self.peak, _rss_mb())


def _rss_mb() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _time(run: Callable[[], None], iters: int, repeats: int) -> list[float]:
  rates = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    run()
    rates.append(iters / (time.perf_counter() - t0))
  return rates


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
  import jax
  import jax.numpy as jnp

  a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - t0)
  return 2 * n**3 / statistics.median(times) / 1e9


def _setup_gan_jax(fused: bool, batch: int, iters: int, data_size: int):
  import jax

  from gan_jax import Config, create_state, steps

  config = Config(batch_size=batch)
  data = jax.device_put(np.random.default_rng(0).integers(0, 256, (data_size, 28, 28, 1), dtype=np.uint8))
  box = {"state": create_state(config, jax.random.PRNGKey(0))}
  if fused:
    t0 = time.perf_counter()
    box["state"], m = steps.train_chunk(box["state"], data, iters)
    jax.block_until_ready(m)

    def run():
      box["state"], m = steps.train_chunk(box["state"], data, iters)
      jax.block_until_ready(m)
  else:
    step = jax.jit(steps.train_iteration, donate_argnums=0)
    t0 = time.perf_counter()
    box["state"], m = step(box["state"], data)
    jax.block_until_ready(m)

    def run():
      for _ in range(iters):
        box["state"], m = step(box["state"], data)
      jax.block_until_ready(m)

  return run, time.perf_counter() - t0


def _setup_keras(strong: bool, batch: int, iters: int, data_size: int):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf

  tf.config.set_visible_devices([], "GPU")
  rng = np.random.default_rng(0)
  data = rng.uniform(-1, 1, (data_size, 28, 28, 1)).astype(np.float32)
  if strong:
    from gan_jax.peers.keras_strong import StrongKeras

    impl, data_t = StrongKeras(batch_size=batch), tf.constant(data)

    def one():
      impl.train_iteration(data_t, data_size)
  else:
    from gan_jax.peers.keras_seed import SeedKeras

    impl, half = SeedKeras(), batch // 2

    def one():  # the seed's host-side sampling, as written
      real = data[rng.integers(0, data_size, half)]
      impl.train_iteration(real, rng.standard_normal((half, 100)).astype(np.float32),
                           rng.standard_normal((batch, 100)).astype(np.float32))

  t0 = time.perf_counter()
  one()
  impl.d.weights[0].numpy()  # reading a weight waits for TF's queued work
  compile_s = time.perf_counter() - t0

  def run():
    for _ in range(iters):
      one()
    impl.d.weights[0].numpy()

  return run, compile_s


def _setup_torch(batch: int, iters: int, data_size: int):
  import torch

  from gan_jax.peers.torch_seed import SeedTorch

  impl = SeedTorch()
  data = torch.rand(data_size, 1, 28, 28) * 2 - 1

  def one():
    impl.train_iteration(data[torch.randint(0, data_size, (batch // 2,))], batch)

  t0 = time.perf_counter()
  one()
  compile_s = time.perf_counter() - t0

  def run():
    for _ in range(iters):
      one()

  return run, compile_s


def run_bench(only=IMPLEMENTATIONS, batch: int = 128, iters: int = 5, repeats: int = 3, data_size: int = 60000,
              log=lambda s: print(s, file=sys.stderr, flush=True)) -> dict:
  peak = matmul_peak_gflops()
  gflop = iteration_gflop(batch)
  log(f"matmul peak {peak:.0f} GFLOP/s; {gflop:.1f} GFLOP per iteration at batch {batch}")
  results, skipped = {}, {}
  for name in only:
    if name == "torch_eager":
      try:
        import torch  # noqa: F401
      except ImportError:
        skipped[name] = "PyTorch is not installed (pip install -e '.[bench]')"
        log(f"{name}: skipped, {skipped[name]}")
        continue
    log(f"{name}: warming up and compiling ...")
    with _RssSampler() as rss:
      if name.startswith("gan_jax"):
        run, compile_s = _setup_gan_jax(name == "gan_jax_fused", batch, iters, data_size)
      elif name.startswith("keras"):
        run, compile_s = _setup_keras(name == "keras_tf_function", batch, iters, data_size)
      else:
        run, compile_s = _setup_torch(batch, iters, data_size)
      rates = _time(run, iters, repeats)
    it_s = statistics.median(rates)
    results[name] = {
        "it_per_s": it_s, "it_per_s_all": rates, "s_per_epoch_468": 468 / it_s,
        "gflop_per_s": it_s * gflop, "pct_of_matmul_peak": 100 * it_s * gflop / peak,
        "compile_or_first_iteration_s": compile_s, "peak_rss_mb": rss.peak,
    }  # fmt: skip
    log(f"{name}: {it_s:.3f} it/s (runs: {', '.join(f'{r:.3f}' for r in rates)})")
  for base in ("keras_seed", "torch_eager", "keras_tf_function"):
    if base in results:
      for r in results.values():
        r[f"x_{base}"] = r["it_per_s"] / results[base]["it_per_s"]
  return {
      "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
      "versions": _versions(), "batch_size": batch, "iters": iters, "repeats": repeats,
      "gflop_per_iteration": gflop, "matmul_peak_gflop_per_s": peak, "results": results, "skipped": skipped,
  }  # fmt: skip


def _cpu_name() -> str:
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def _versions() -> dict:
  out = {}
  for mod in ("jax", "flax", "optax", "tensorflow", "keras", "torch"):
    if mod in sys.modules:
      out[mod] = getattr(sys.modules[mod], "__version__", "?")
  return out


def table(report: dict) -> str:
  cols = ("it_per_s", "s_per_epoch_468", "x_keras_seed", "x_torch_eager", "gflop_per_s", "pct_of_matmul_peak",
          "compile_or_first_iteration_s", "peak_rss_mb")
  heads = ("it/s", "s/epoch", "x seed Keras", "x PyTorch", "GFLOP/s", "% peak", "compile s", "peak RSS MB")
  lines = ["| implementation | " + " | ".join(heads) + " |", "|---" * (len(cols) + 1) + "|"]
  for name, r in report["results"].items():
    cells = [f"{r[c]:.2f}" if c in r else "-" for c in cols]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m gan_jax.bench", description=__doc__.split("\n\n")[0])
  p.add_argument("--only", default=",".join(IMPLEMENTATIONS), help="comma-separated subset of " + ", ".join(IMPLEMENTATIONS))
  p.add_argument("--batch-size", type=int, default=128)
  p.add_argument("--iters", type=int, default=5, help="iterations per timing")
  p.add_argument("--repeats", type=int, default=3, help="timings per implementation (the median is reported)")
  p.add_argument("--data-size", type=int, default=60000, help="synthetic images resident in memory")
  p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
  args = p.parse_args(argv)
  if args.batch_size <= 0 or args.batch_size % 2 or args.iters <= 0 or args.repeats <= 0:
    p.error("--batch-size must be positive and even; --iters and --repeats positive")
  only = tuple(args.only.split(","))
  unknown = [n for n in only if n not in IMPLEMENTATIONS]
  if unknown:
    p.error(f"unknown implementation {', '.join(unknown)}; choose from {', '.join(IMPLEMENTATIONS)}")
  report = run_bench(only, args.batch_size, args.iters, args.repeats, args.data_size)
  print(json.dumps(report, indent=2) if args.json else table(report))
  return 0


if __name__ == "__main__":
  sys.exit(main())
