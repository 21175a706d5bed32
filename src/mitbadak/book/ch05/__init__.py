"""Chapter 5's own files: ``two_layer_net`` (the ReLU network) and ``layer_naive``
(``MulLayer``, ``AddLayer``)."""
