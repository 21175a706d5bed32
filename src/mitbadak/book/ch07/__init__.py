"""Chapter 7's own files: ``simple_convnet`` (``SimpleConvNet``)."""
