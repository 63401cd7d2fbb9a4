"""tka: the control API for TKA, The Kinetic Alphabet."""

__version__ = "0.1.0"
