"""sdstudio: a desktop studio for Stable Diffusion."""

__version__ = "0.1.0"
