"""The seed's models and iteration in eager PyTorch, for the benchmark (optional extra).

Same layer shapes, losses, optimiser settings and work per iteration as the
seed.  PyTorch has no TF-style asymmetric SAME padding for stride 2, so the
stride-2 layers use symmetric padding: a different pixel alignment, the same cost.
"""

from __future__ import annotations

import torch
from torch import nn


def define_discriminator(dropout: float = 0.4) -> nn.Module:
  return nn.Sequential(
      nn.Conv2d(1, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
      nn.Conv2d(128, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
      nn.Flatten(), nn.Dropout(dropout), nn.Linear(128 * 7 * 7, 1),
  )  # fmt: skip


def define_generator(latent_dim: int = 100) -> nn.Module:
  return nn.Sequential(
      nn.Linear(latent_dim, 128 * 7 * 7), nn.LeakyReLU(0.2), nn.Unflatten(1, (128, 7, 7)),
      nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
      nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
      nn.Conv2d(128, 1, 7, padding=3), nn.Tanh(),
  )  # fmt: skip


def _keras_init(model: nn.Module) -> nn.Module:
  for m in model.modules():
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
      nn.init.xavier_uniform_(m.weight)
      nn.init.zeros_(m.bias)
  return model


class SeedTorch:
  def __init__(self, latent_dim: int = 100, lr: float = 2e-4, beta1: float = 0.5, seed: int = 0):
    torch.manual_seed(seed)
    self.latent_dim = latent_dim
    self.d = _keras_init(define_discriminator())
    self.g = _keras_init(define_generator(latent_dim))
    self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(beta1, 0.999), eps=1e-7)
    self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(beta1, 0.999), eps=1e-7)
    self.loss = nn.BCEWithLogitsLoss()

  def _d_update(self, images: torch.Tensor, label: float) -> float:
    self.d_opt.zero_grad(set_to_none=True)
    logits = self.d(images)
    loss = self.loss(logits, torch.full_like(logits, label))
    loss.backward()
    self.d_opt.step()
    return loss.item()

  def train_iteration(self, real_nchw: torch.Tensor, batch_size: int):
    half = real_nchw.shape[0]
    self.d.train()
    d1 = self._d_update(real_nchw, 1.0)
    with torch.no_grad():
      fake = self.g(torch.randn(half, self.latent_dim))
    d2 = self._d_update(fake, 0.0)
    # G update through D: only G's optimizer steps; D's grads are discarded.
    for p in self.d.parameters():
      p.requires_grad_(False)
    self.g_opt.zero_grad(set_to_none=True)
    logits = self.d(self.g(torch.randn(batch_size, self.latent_dim)))
    g = self.loss(logits, torch.ones_like(logits))
    g.backward()
    self.g_opt.step()
    for p in self.d.parameters():
      p.requires_grad_(True)
    return d1, d2, g.item()
