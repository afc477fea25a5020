"""The tests' tiny model is the package's (langmill/tiny_model.py); this name stays for conftest and bench."""

from langmill.tiny_model import build_tiny_model

__all__ = ["build_tiny_model"]
