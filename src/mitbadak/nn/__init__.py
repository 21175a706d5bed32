"""Networks as math: the layers and the activation registry, the networks, the CPU fast path
(``fast_path``), the networks' numerical gradients and gradient check, the optimizers. Imports only
``mitbadak.core``; device engines plug in through ``networks.register_device_scores``."""
