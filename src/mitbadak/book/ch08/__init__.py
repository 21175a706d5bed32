"""Chapter 8's own files: ``deep_convnet`` (``DeepConvNet``)."""
