"""gan_jax: the Keras-literature Fashion-MNIST DCGAN as a JAX/Flax program."""

from gan_jax.config import Config
from gan_jax.models import Discriminator, Generator
from gan_jax.steps import (
    GANState,
    create_state,
    d_step,
    g_step,
    generate,
    sample_latent,
    train_chunk,
    train_iteration,
)

__all__ = [
    "Config",
    "Discriminator",
    "GANState",
    "Generator",
    "create_state",
    "d_step",
    "g_step",
    "generate",
    "sample_latent",
    "train_chunk",
    "train_iteration",
]
