"""The GAN machinery the built-in backends share, public for backend plugins.

A backend built on it supplies its generator and ``_optimise`` (one step); the rest is
here: the :class:`~geocolor.models.gan.adversarial.AdversarialTrainer` base (networks by
name, optimisers, schedule, the generator's moving average, checkpoint state), the 70x70
PatchGAN critic, masked losses, Adam with the constant-then-linear schedule and bf16
autocast, the reference weight initialisation, receptive-field arithmetic, and the
settings all of them read. Only :mod:`~geocolor.models.gan.config` and
:mod:`~geocolor.models.gan.footprint` load without torch, so a plugin's registering
module imports nothing else from here at import time.
"""
