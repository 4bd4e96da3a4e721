"""Built-in CycleGAN model backend (the default).

Its ResNet generator, trainer and settings; the GAN parts it shares with pix2pix come
from :mod:`geocolor.models.gan`.
"""
