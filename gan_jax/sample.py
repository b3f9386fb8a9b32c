"""Sample a trained generator.

    python -m gan_jax.sample --workdir RUN --grid grid.png
    python -m gan_jax.sample --workdir RUN --n 10000 --out samples.npy   # float32 (N, 28, 28, 1) in [-1, 1]
    python -m gan_jax.sample --workdir RUN --interpolate strip.png --seeds 3 7
    python -m gan_jax.sample --workdir RUN --grid sneakers.png --class 7  # conditional runs

The same checkpoint and ``--seed`` always give the same samples.  Runs trained
with ``--ema`` are sampled with the EMA weights (``--raw`` for the trained ones).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from gan_jax.cli import positive_int
from gan_jax.input_pipeline import CLASS_NAMES


def _class(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    names = {n.lower(): i for i, n in enumerate(CLASS_NAMES)}
    if text.lower() in names:
      return names[text.lower()]
    raise argparse.ArgumentTypeError(f"{text!r} is not a class index 0-9 or one of {', '.join(CLASS_NAMES)}") from None
  if not 0 <= value <= 9:
    raise argparse.ArgumentTypeError(f"class must be 0-9, got {value}")
  return value


def generate_samples(config, params, n: int, seed: int, cls: int | None = None, batch: int = 1000):
  """(images float32 (n, 28, 28, 1), labels or None): deterministic in (params, seed)."""
  import jax
  import jax.numpy as jnp

  from gan_jax.steps import generate, sample_latent

  key = jax.random.PRNGKey(seed)
  z = sample_latent(key, n, config.latent_dim)
  labels = None
  if config.conditional:
    labels = jnp.full((n,), cls) if cls is not None else jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, 10)
  out = [np.asarray(generate(config, params, z[s : s + batch], None if labels is None else labels[s : s + batch]))
         for s in range(0, n, batch)]
  return np.concatenate(out), None if labels is None else np.asarray(labels)


def class_grid(config, params, seed: int):
  """10x10 images of a conditional G, row r = class r (the same 10 latent points in every row)."""
  import jax
  import jax.numpy as jnp

  from gan_jax.steps import generate, sample_latent

  z = jnp.tile(sample_latent(jax.random.PRNGKey(seed), 10, config.latent_dim), (10, 1))
  labels = jnp.repeat(jnp.arange(10), 10)
  return np.asarray(generate(config, params, z, labels)), np.asarray(labels)


def interpolation(config, params, seed_a: int, seed_b: int, steps: int = 10, cls: int = 0):
  """Images along the straight line between the latent points of two seeds."""
  import jax
  import jax.numpy as jnp

  from gan_jax.steps import generate, sample_latent

  a = sample_latent(jax.random.PRNGKey(seed_a), 1, config.latent_dim)
  b = sample_latent(jax.random.PRNGKey(seed_b), 1, config.latent_dim)
  t = jnp.linspace(0, 1, steps)[:, None]
  labels = jnp.full((steps,), cls) if config.conditional else None
  return np.asarray(generate(config, params, (1 - t) * a + t * b, labels))


def labelled_rows(pixels_HxW: np.ndarray, row_names: list[str], scale: int = 2) -> np.ndarray:
  """A class-name column left of a grid of 10 rows (each 28 px + 2 px padding, upscaled)."""
  from PIL import Image, ImageDraw

  width = 110
  canvas = Image.new("L", (pixels_HxW.shape[1] + width, pixels_HxW.shape[0]), 255)
  canvas.paste(Image.fromarray(pixels_HxW), (width, 0))
  draw = ImageDraw.Draw(canvas)
  row_h = (28 + 2) * scale
  for r, name in enumerate(row_names):
    draw.text((4, 2 * scale + r * row_h + row_h // 2 - 6), name, fill=0)
  return np.asarray(canvas)


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="python -m gan_jax.sample", description=__doc__.split("\n\n")[0],
                              epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--workdir", help="a run's workdir: its latest checkpoint, else its generator.msgpack")
  p.add_argument("--checkpoint", help="an orbax step folder (RUN/checkpoints/468) or a generator.msgpack")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--grid", help="write a 10x10 grid PNG (conditional: one class per row, labelled)")
  p.add_argument("--n", type=positive_int, help="number of samples for --out")
  p.add_argument("--out", help="write --n samples: .npy float32 (N, 28, 28, 1) in [-1, 1], or .npz with labels")
  p.add_argument("--interpolate", help="write a latent-space interpolation strip PNG")
  p.add_argument("--seeds", type=int, nargs=2, metavar=("A", "B"), help="interpolate between these seeds' points")
  p.add_argument("--steps", type=positive_int, default=10, help="images in the interpolation strip")
  p.add_argument("--class", dest="cls", type=_class, help="conditional runs: only this class (index or name)")
  p.add_argument("--raw", action="store_true", help="use the trained weights even if the run keeps an EMA")
  return p


def main(argv: list[str] | None = None) -> int:
  p = build_parser()
  args = p.parse_args(argv)
  if not (args.workdir or args.checkpoint):
    p.error("give --workdir or --checkpoint")
  if not (args.grid or args.out or args.interpolate):
    p.error("nothing to write: give --grid, --n with --out, or --interpolate")
  if bool(args.n) != bool(args.out):
    p.error("--n and --out go together")
  if args.out and Path(args.out).suffix not in (".npy", ".npz"):
    p.error(f"--out must end in .npy or .npz, got {args.out}")
  for flag, value in (("--grid", args.grid), ("--out", args.out), ("--interpolate", args.interpolate)):
    if value and not Path(value).absolute().parent.is_dir():
      p.error(f"{flag}: folder {Path(value).absolute().parent} does not exist")

  from gan_jax import images as image_io
  from gan_jax.checkpointing import CheckpointError, load_for_sampling

  try:
    config, g_params, ema_params, source = load_for_sampling(args.workdir, args.checkpoint)
  except CheckpointError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.cls is not None and not config.conditional:
    p.error("--class needs a conditional run (trained with --conditional)")
  use_ema = ema_params is not None and not args.raw
  params = ema_params if use_ema else g_params
  print(f"sampling {source} with {'EMA' if use_ema else 'trained'} weights", file=sys.stderr)

  if args.grid:
    if config.conditional and args.cls is None:
      images, _ = class_grid(config, params, args.seed)
      pixels = labelled_rows(image_io.grid(images), list(CLASS_NAMES))
    else:
      images, _ = generate_samples(config, params, 100, args.seed, args.cls)
      pixels = image_io.grid(images)
    print(f"wrote {image_io.save_png(pixels, args.grid)}")
  if args.out:
    images, labels = generate_samples(config, params, args.n, args.seed, args.cls)
    if args.out.endswith(".npz"):
      np.savez(args.out, images=images, **({} if labels is None else {"labels": labels}))
    else:
      np.save(args.out, images)
    print(f"wrote {args.out}: {images.shape} float32 in [-1, 1]")
  if args.interpolate:
    a, b = args.seeds or (args.seed, args.seed + 1)
    strip = interpolation(config, params, a, b, args.steps, args.cls or 0)
    print(f"wrote {image_io.save_grid(strip, args.interpolate, ncol=args.steps)}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
