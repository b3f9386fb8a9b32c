"""Train the seed's Fashion-MNIST GAN: ``python run.py --epochs 100``."""

import sys

from gan_jax.cli import main

if __name__ == "__main__":
  sys.exit(main())
