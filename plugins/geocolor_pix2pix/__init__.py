"""Built-in pix2pix model backend (paired)."""
