"""Command line of ``run.py``: flags -> Config -> train_and_evaluate."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from gan_jax.config import Config

_DEFAULTS = Config()


def _checked(cast, ok, requirement: str):
  """An argparse type: parse with ``cast``, then require ``ok(value)``."""

  def parse(text: str):
    try:
      value = cast(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if cast is int else 'a number'}") from None
    if not ok(value):
      raise argparse.ArgumentTypeError(f"must be {requirement}, got {value}")
    return value

  return parse


positive_int = _checked(int, lambda v: v > 0, "positive")
even_positive_int = _checked(int, lambda v: v > 0 and v % 2 == 0,
                             "positive and even (half real, half fake images for D)")
positive_float = _checked(float, lambda v: v > 0, "positive")
unit_float = _checked(float, lambda v: 0 <= v < 1, "in [0, 1)")
decay_float = _checked(float, lambda v: 0 <= v <= 1, "in [0, 1]")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
  """Show a default only where it says something the help text does not."""

  def _get_help_string(self, action):
    if any(action.default is v for v in (None, False, True)) or "default" in (action.help or ""):
      return action.help
    return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
  d = _DEFAULTS
  p = argparse.ArgumentParser(
      prog="run.py",
      description="Train the seed's unconditional DCGAN on Fashion-MNIST with JAX/Flax.",
      formatter_class=_Formatter,
  )
  p.add_argument("--workdir", default="runs/fashion_mnist_gan", help="checkpoints, metrics.jsonl, samples/")
  p.add_argument("--epochs", type=positive_int, default=d.epochs, help="epochs to reach (a rerun continues)")
  p.add_argument("--batch-size", type=even_positive_int, default=d.batch_size,
                 help="D trains on half real + half fake; G on the full batch")
  p.add_argument("--latent-dim", type=positive_int, default=d.latent_dim, help="size of G's input")
  p.add_argument("--lr", type=positive_float, default=d.lr, help="Adam learning rate (both models)")
  p.add_argument("--beta1", type=unit_float, default=d.beta1, help="Adam beta1 (the seed's 'momentum')")
  p.add_argument("--adam", choices=("keras", "optax"), default=d.adam,
                 help="keras: Keras' epsilon placement, the seed's exact updates; optax: optax.adam")
  p.add_argument("--seed", type=int, default=d.seed, help="all randomness derives from it and the step")
  p.add_argument("--conditional", action="store_true",
                 help="the book's conditional GAN: class labels condition G and D (beyond the seed)")
  p.add_argument("--ema", type=decay_float, default=None, metavar="DECAY",
                 help="keep an exponential moving average of G's params with this decay, e.g. 0.999; "
                      "sampling and evaluation use it (default: off, as the seed)")
  p.add_argument("--steps-per-epoch", type=positive_int, default=None,
                 help="iterations per epoch (default: training set size // batch size = 468)")
  p.add_argument("--sampling", choices=("random", "shuffle"), default=d.sampling,
                 help="random: fresh indices with replacement per half batch (the seed); "
                      "shuffle: per-pass permutation without replacement")
  p.add_argument("--data-dir", default=None, help="tfds data dir (default: tfds' own, ~/tensorflow_datasets)")
  p.add_argument("--idx-dir", default=None,
                 help="folder of the four Fashion-MNIST IDX .gz files (default: $FASHION_MNIST_IDX_DIR, "
                      "then /usr/share/datasets/fashion-mnist)")
  p.add_argument("--log-every", type=positive_int, default=d.log_every, help="iterations per metrics.jsonl line")
  p.add_argument("--seed-log", action="store_true",
                 help="print the seed's per-iteration line '>epoch, j/n, d1=, d2= g=' instead of a progress bar")
  p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
  p.add_argument("--checkpoint-every", type=positive_int, default=d.checkpoint_every, help="epochs")
  p.add_argument("--keep-checkpoints", type=positive_int, default=d.keep_checkpoints, help="how many to keep")
  p.add_argument("--eval-every", type=int, default=d.eval_every, metavar="K",
                 help="every K epochs, score --eval-samples samples (FD, KID, precision/recall, ...) into "
                      "metrics.jsonl and keep the best checkpoint by FD in WORKDIR/checkpoints_best; 0 = never")
  p.add_argument("--eval-samples", type=positive_int, default=d.eval_samples)
  p.add_argument("--devices", type=positive_int, default=None,
                 help="data parallel over this many local devices (default: all); batch_size/2 must divide")
  p.add_argument("--precision", choices=("f32", "bf16"), default=d.precision,
                 help="bf16: bfloat16 compute with float32 params and Adam state (for GPU/TPU)")
  p.add_argument("--distributed", action="store_true",
                 help="multi-host: call jax.distributed.initialize() first (coordinator, process count and id "
                      "from the flags below or the cluster's environment)")
  p.add_argument("--coordinator", default=None, help="host:port of process 0 (with --distributed)")
  p.add_argument("--num-processes", type=positive_int, default=None, help="with --distributed")
  p.add_argument("--process-id", type=int, default=None, help="with --distributed")
  p.add_argument("--conv-impl", choices=("auto", "matmul", "lax"), default=d.conv_impl,
                 help="auto: matmul forms on CPU, lax (cuDNN) convolutions elsewhere; same math")
  p.add_argument("--chunk", type=positive_int, default=None,
                 help="iterations fused per jitted call (default: ~18 on CPU, a whole epoch elsewhere)")
  p.add_argument("--allow-config-change", action="store_true",
                 help="resume even if hyperparameters differ from the checkpoint's")
  return p


def config_from_args(args: argparse.Namespace) -> Config:
  names = {f.name for f in dataclasses.fields(Config)}
  return Config(**{k: v for k, v in vars(args).items() if k in names})


def _error(message: str) -> int:
  print(f"error: {message}", file=sys.stderr)
  return 2


def main(argv: list[str] | None = None) -> int:
  parser = build_parser()
  args = parser.parse_args(argv)
  config = config_from_args(args)
  logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
  logging.getLogger("absl").setLevel(logging.ERROR)  # tfds' chatter about variant folders
  # Imported here so that --help and flag errors answer without loading JAX and TensorFlow.
  from gan_jax.checkpointing import CheckpointError
  from gan_jax.input_pipeline import DataError
  from gan_jax.train import Interrupted, TrainingError, WorkdirError, train_and_evaluate

  if args.distributed:
    import jax

    jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
  elif args.coordinator or args.num_processes or args.process_id is not None:
    parser.error("--coordinator, --num-processes and --process-id need --distributed")
  try:
    train_and_evaluate(config, args.workdir, allow_config_change=args.allow_config_change)
  except ValueError as e:  # Config.validate, e.g. a batch larger than the dataset
    parser.error(str(e))
  except (DataError, CheckpointError, WorkdirError) as e:
    return _error(str(e))
  except TrainingError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except Interrupted as e:
    print(f"{e}; checkpoint saved. Resume with the same command: "
          f"python run.py --workdir {args.workdir} ...", file=sys.stderr)
    return e.exit_code
  return 0
