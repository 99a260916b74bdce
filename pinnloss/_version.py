"""The package version, in one place: `pinnloss.__version__`, the command line and packaging."""

__version__ = "0.2.0"
