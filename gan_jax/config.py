"""Run configuration: a frozen dataclass whose defaults are the seed's recipe."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

# Fields that change what a checkpoint holds; resuming across them cannot work.
ARCHITECTURE_FIELDS = ("latent_dim", "conditional", "ema_enabled")
# Fields that change the training dynamics; resuming across them needs consent.
# Fields the jitted steps read; the rest only steer the run around them.
STEP_FIELDS = ("batch_size", "latent_dim", "lr", "beta1", "beta2", "adam_eps", "adam", "dropout", "sampling",
               "conv_impl", "conditional", "ema", "precision")
HYPERPARAMETER_FIELDS = ("batch_size", "lr", "beta1", "beta2", "adam_eps", "adam", "dropout", "sampling", "seed",
                         "ema")


@dataclasses.dataclass(frozen=True)
class Config:
  # The seed's recipe.
  epochs: int = 100
  batch_size: int = 128  # D sees batch_size/2 real + batch_size/2 fake; G trains on batch_size.
  latent_dim: int = 100
  lr: float = 2e-4
  beta1: float = 0.5
  beta2: float = 0.999
  adam_eps: float = 1e-7  # Keras' default epsilon, not optax's 1e-8.
  # "keras": Adam with Keras' epsilon placement (the seed's numbers, see optim.py);
  # "optax": optax.adam with the same settings.
  adam: Literal["keras", "optax"] = "keras"
  dropout: float = 0.4
  # "random": fresh indices with replacement for every half batch, as the seed.
  # "shuffle": a new permutation per pass over the data, without replacement.
  sampling: Literal["random", "shuffle"] = "random"
  seed: int = 0
  # Beyond the seed (both off by default, to stay faithful to it).
  conditional: bool = False  # the book's cGAN: class labels condition G and D
  ema: float | None = None  # decay of an exponential moving average of G's params
  steps_per_epoch: int | None = None  # None: train set size // batch_size (468).
  # How the convolutions are computed; never changes the parameters.
  conv_impl: Literal["auto", "matmul", "lax"] = "auto"
  # "f32", or "bf16": bf16 compute with float32 params and optimizer state (GPU/TPU).
  precision: Literal["f32", "bf16"] = "f32"
  devices: int | None = None  # data-parallel over this many local devices; None = all.
  # Iterations fused into one jitted lax.scan call; None picks one per backend.
  chunk: int | None = None
  # Data.
  data_dir: str | None = None  # tfds data dir; None = tfds' default.
  idx_dir: str | None = None  # local IDX .gz files; None = $FASHION_MNIST_IDX_DIR or Debian's path.
  # Logging and checkpoints.
  log_every: int = 50  # iterations between metrics.jsonl lines and progress updates.
  seed_log: bool = False  # print the seed's per-iteration line instead of a progress bar.
  checkpoint_every: int = 1  # epochs.
  eval_every: int = 0  # epochs between FD/KID/... evaluations logged to metrics.jsonl; 0 = never.
  eval_samples: int = 10_000
  keep_checkpoints: int = 3
  progress: bool = True

  def for_steps(self) -> "Config":
    """This config with the fields the jitted steps never read set to defaults.

    The state carries its config as static jit data, so run-only fields (paths,
    epochs, logging) would otherwise force a retrace and recompile per run.
    """
    keep = {name: getattr(self, name) for name in STEP_FIELDS}
    return Config(**keep)

  @property
  def half_batch(self) -> int:
    return self.batch_size // 2

  @property
  def num_classes(self) -> int:
    return 10 if self.conditional else 0

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "Config":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})

  def validate(self, train_size: int | None = None) -> None:
    """Raise ValueError with a message meant for people."""
    errors = []
    for name in ("epochs", "batch_size", "latent_dim", "log_every", "checkpoint_every", "keep_checkpoints"):
      if getattr(self, name) <= 0:
        errors.append(f"{name} must be positive, got {getattr(self, name)}")
    if self.batch_size % 2:
      errors.append(f"batch_size must be even (half real, half fake), got {self.batch_size}")
    if train_size is not None and self.batch_size > train_size:
      errors.append(f"batch_size {self.batch_size} is larger than the training set ({train_size} images)")
    if self.eval_every < 0 or self.eval_samples <= 0:
      errors.append(f"eval_every must be >= 0 and eval_samples positive, got {self.eval_every}, {self.eval_samples}")
    if self.steps_per_epoch is not None and self.steps_per_epoch <= 0:
      errors.append(f"steps_per_epoch must be positive, got {self.steps_per_epoch}")
    if self.chunk is not None and self.chunk <= 0:
      errors.append(f"chunk must be positive, got {self.chunk}")
    if not self.lr > 0:
      errors.append(f"lr must be positive, got {self.lr}")
    for name in ("beta1", "beta2"):
      if not 0 <= getattr(self, name) < 1:
        errors.append(f"{name} must be in [0, 1), got {getattr(self, name)}")
    if not 0 <= self.dropout < 1:
      errors.append(f"dropout must be in [0, 1), got {self.dropout}")
    if self.sampling not in ("random", "shuffle"):
      errors.append(f"sampling must be random or shuffle, got {self.sampling!r}")
    if self.ema is not None and not 0 <= self.ema <= 1:
      errors.append(f"ema decay must be in [0, 1], got {self.ema}")
    if self.precision not in ("f32", "bf16"):
      errors.append(f"precision must be f32 or bf16, got {self.precision!r}")
    if self.devices is not None and self.devices <= 0:
      errors.append(f"devices must be positive, got {self.devices}")
    if self.adam not in ("keras", "optax"):
      errors.append(f"adam must be keras or optax, got {self.adam!r}")
    if self.conv_impl not in ("auto", "matmul", "lax"):
      errors.append(f"conv_impl must be auto, matmul or lax, got {self.conv_impl!r}")
    if errors:
      raise ValueError("; ".join(errors))
