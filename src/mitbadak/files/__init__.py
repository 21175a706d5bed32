"""What is read from and written to disk: model files (``modelfile``), the book's pickles
(``bookweights``), ONNX/PyTorch export, digit photos (``photos``) and the data sets (``datasets``).
Imports ``core`` and ``nn``, never ``devices`` (docs/architecture.md)."""
