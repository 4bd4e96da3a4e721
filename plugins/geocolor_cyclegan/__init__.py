"""Built-in CycleGAN model backend (the default).

It also holds the GAN pieces the pix2pix backend shares: the PatchGAN discriminator,
masked losses, optimiser and schedule, weight initialisation and receptive-field
arithmetic.
"""
