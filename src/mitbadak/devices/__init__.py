"""Engines for a GPU: the CuPy kernels with their NumPy references (``cuda_kernels``) and the fused
training step (``fused_step``), which registers its fused scores with ``mitbadak.nn`` when imported.
Imports ``core`` and ``nn``, never ``files`` (docs/architecture.md)."""
