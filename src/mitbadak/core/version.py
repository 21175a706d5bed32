"""The package version, in one place below every module that records it (model files, run folders,
exports, ``mitbadak --version``); ``mitbadak.__version__`` is this value."""

__version__ = "0.1.0"
