"""Chapter 4's own files: ``two_layer_net`` (the sigmoid network), ``gradient_1d``,
``gradient_2d``, ``gradient_method``, ``gradient_simplenet``."""
