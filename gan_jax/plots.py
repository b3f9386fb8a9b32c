"""Pictures of a run: loss curves from metrics.jsonl and an animated GIF of the epoch grids.

    python -m gan_jax.plots --workdir RUN      # writes RUN/losses.png and RUN/progress.gif
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from PIL import Image


def read_metrics(path: str | os.PathLike) -> list[dict]:
  records = []
  for line in Path(path).read_text().splitlines():
    try:
      records.append(json.loads(line))
    except ValueError:
      continue  # a torn last line from a killed run
  return records


def plot_losses(metrics_path: str | os.PathLike, out_png: str | os.PathLike) -> Path:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  records = read_metrics(metrics_path)
  lines = [r for r in records if "kind" not in r]
  evals = [r for r in records if r.get("kind") == "eval"]
  panels = 3 if evals else 2
  fig, axes = plt.subplots(panels, 1, figsize=(8, 2.6 * panels), sharex=True)
  steps = [r["step"] for r in lines]
  for key, label in (("d1", "d1 (D, real)"), ("d2", "d2 (D, fake)"), ("g", "g (G)")):
    axes[0].plot(steps, [r[key] for r in lines], label=label, lw=1)
  axes[0].set_ylabel("BCE loss")
  axes[0].legend(loc="upper right", fontsize=8)
  for key, label in (("acc_real", "D accuracy, real"), ("acc_fake", "D accuracy, fake")):
    axes[1].plot(steps, [r[key] for r in lines], label=label, lw=1)
  axes[1].set_ylabel("accuracy")
  axes[1].set_ylim(-0.02, 1.02)
  axes[1].legend(loc="lower right", fontsize=8)
  if evals:
    axes[2].plot([r["step"] for r in evals], [r["fd"] for r in evals], "o-", label="FD (classifier features)")
    axes[2].set_ylabel("FD")
    axes[2].legend(loc="upper right", fontsize=8)
  axes[-1].set_xlabel("iteration")
  fig.tight_layout()
  out = Path(out_png)
  tmp = out.with_name(out.name + ".tmp.png")
  fig.savefig(tmp, dpi=100)
  plt.close(fig)
  os.replace(tmp, out)
  return out


def progress_gif(samples_dir: str | os.PathLike, out_gif: str | os.PathLike, ms_per_frame: int = 400) -> Path | None:
  frames = [Image.open(p).convert("L") for p in sorted(Path(samples_dir).glob("epoch_*.png"))]
  if not frames:
    return None
  out = Path(out_gif)
  tmp = out.with_name(out.name + ".tmp")
  frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0)
  os.replace(tmp, out)
  return out


def refresh(workdir: str | os.PathLike) -> None:
  workdir = Path(workdir)
  if (workdir / "metrics.jsonl").exists():
    plot_losses(workdir / "metrics.jsonl", workdir / "losses.png")
  progress_gif(workdir / "samples", workdir / "progress.gif")


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m gan_jax.plots", description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", required=True)
  args = p.parse_args(argv)
  if not (Path(args.workdir) / "metrics.jsonl").exists():
    p.error(f"{args.workdir}: no metrics.jsonl here; is it a run's workdir?")
  refresh(args.workdir)
  print(f"wrote {Path(args.workdir) / 'losses.png'} and {Path(args.workdir) / 'progress.gif'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
