"""The seed's generator and discriminator as Flax linen modules.

Parameters use Flax's standard layout (Conv kernels (kh, kw, in, out);
ConvTranspose kernels (kh, kw, in, out) with ``transpose_kernel=False``) and
Keras' default initialisation (Glorot-uniform kernels, zero biases), so the
networks match the Keras models parameter for parameter.  ``conv_impl`` only
picks how the convolutions are computed, never what they compute.
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import convs

ConvImpl = Literal["auto", "matmul", "lax"]
LEAKY_SLOPE = 0.2
_DN = ("NHWC", "HWIO", "NHWC")
# Keras' defaults; Flax's own Conv default is lecun_normal.
_KERNEL_INIT = nn.initializers.glorot_uniform()
_BIAS_INIT = nn.initializers.zeros_init()


def resolve_conv_impl(impl: ConvImpl) -> str:
  """``auto`` = matmul forms on CPU, where XLA's conv gradients are slow; lax (cuDNN) elsewhere."""
  if impl == "auto":
    return "matmul" if jax.default_backend() == "cpu" else "lax"
  if impl not in ("matmul", "lax"):
    raise ValueError(f"conv_impl must be auto, matmul or lax, not {impl!r}")
  return impl


def _kernel_and_bias(module: nn.Module, x: jax.Array, k: int):
  """Flax-layout (k, k, in, out) kernel and bias, cast with the input to the compute dtype."""
  kernel = module.param("kernel", _KERNEL_INIT, (k, k, x.shape[-1], module.features))
  bias = module.param("bias", _BIAS_INIT, (module.features,))
  return nn.dtypes.promote_dtype(x, kernel, bias, dtype=module.dtype)


class Conv(nn.Module):
  """SAME-padded convolution with a Flax-layout kernel; the forms the seed needs."""

  features: int
  kernel_size: int
  stride: int = 1
  impl: ConvImpl = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    k = self.kernel_size
    x, kernel, bias = _kernel_and_bias(self, x_BxHxWxC, k)
    impl = resolve_conv_impl(self.impl)
    if impl == "matmul" and (k, self.stride) == (3, 2):
      y = convs.conv3x3_s2(x, kernel)
    elif impl == "matmul" and (k, self.stride, self.features) == (7, 1, 1):
      y = convs.conv7x7_to1(x, kernel)
    else:
      y = lax.conv_general_dilated(x, kernel, (self.stride,) * 2, "SAME", dimension_numbers=_DN)
    return y + bias


class ConvTranspose(nn.Module):
  """Stride-2 SAME transposed convolution, ``flax.linen.ConvTranspose`` semantics."""

  features: int
  kernel_size: int = 4
  stride: int = 2
  impl: ConvImpl = "auto"
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x_BxHxWxC: jax.Array) -> jax.Array:
    k = self.kernel_size
    x, kernel, bias = _kernel_and_bias(self, x_BxHxWxC, k)
    if resolve_conv_impl(self.impl) == "matmul" and (k, self.stride) == (4, 2):
      y = convs.conv_transpose4x4_s2(x, kernel)
    else:
      y = lax.conv_transpose(x, kernel, (self.stride,) * 2, "SAME", dimension_numbers=_DN)
    return y + bias


def _leaky(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, LEAKY_SLOPE)


def _embedding_init(key, shape, dtype=jnp.float32):
  """Keras' Embedding default, uniform(-0.05, 0.05)."""
  return jax.random.uniform(key, shape, dtype, -0.05, 0.05)


def _label_map(labels_B: jax.Array, num_classes: int, size: int, dtype, name: str) -> jax.Array:
  """The book's cGAN label input: Embedding(classes, 50) -> Dense(size*size) -> one size x size channel."""
  e = nn.Embed(num_classes, 50, embedding_init=_embedding_init, name=f"{name}_embed")(labels_B)
  m = nn.Dense(size * size, kernel_init=_KERNEL_INIT, dtype=dtype, name=f"{name}_dense")(e)
  return m.reshape(-1, size, size, 1)


class Discriminator(nn.Module):
  """28x28x1 image in [-1, 1] -> one logit (the seed's sigmoid is in the loss).

  With ``num_classes`` > 0 it is the book's conditional D: the label, embedded and
  projected to a 28x28 map, is a second input channel.
  """

  impl: ConvImpl = "auto"
  dropout_rate: float = 0.4
  num_classes: int = 0
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, x_BxHxWx1: jax.Array, labels_B: jax.Array | None = None, *, train: bool) -> jax.Array:
    x = x_BxHxWx1
    if self.num_classes:
      x = jnp.concatenate([x, _label_map(labels_B, self.num_classes, 28, self.dtype, "label").astype(x.dtype)], -1)
    x = _leaky(Conv(128, 3, 2, self.impl, self.dtype, name="conv1")(x))
    x = _leaky(Conv(128, 3, 2, self.impl, self.dtype, name="conv2")(x))
    x = x.reshape(x.shape[0], -1)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logit_Bx1 = nn.Dense(1, kernel_init=_KERNEL_INIT, dtype=self.dtype, name="dense")(x)
    return logit_Bx1.astype(jnp.float32)


class Generator(nn.Module):
  """Latent point (B, latent_dim) -> 28x28x1 image in [-1, 1].

  With ``num_classes`` > 0 it is the book's conditional G: the label, embedded and
  projected to a 7x7 map, joins the 7x7x128 foundation as a 129th channel.
  """

  impl: ConvImpl = "auto"
  num_classes: int = 0
  dtype: jnp.dtype | None = None

  @nn.compact
  def __call__(self, z_BxL: jax.Array, labels_B: jax.Array | None = None) -> jax.Array:
    x = nn.Dense(128 * 7 * 7, kernel_init=_KERNEL_INIT, dtype=self.dtype, name="dense")(z_BxL)
    x = _leaky(x).reshape(-1, 7, 7, 128)
    if self.num_classes:
      x = jnp.concatenate([x, _label_map(labels_B, self.num_classes, 7, self.dtype, "label").astype(x.dtype)], -1)
    x = _leaky(ConvTranspose(128, impl=self.impl, dtype=self.dtype, name="convt1")(x))
    x = _leaky(ConvTranspose(128, impl=self.impl, dtype=self.dtype, name="convt2")(x))
    x = Conv(1, 7, 1, self.impl, self.dtype, name="conv_out")(x)
    return jnp.tanh(x).astype(jnp.float32)
