"""The package's version (one place, read by the package, its commands and its model descriptions)."""

__version__ = "0.2.0"
