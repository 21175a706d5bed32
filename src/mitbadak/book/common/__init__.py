"""The book's ``common/`` folder: ``functions``, ``gradient``, ``layers`` (chapter 7's
``Convolution`` and ``Pooling`` included), ``optimizer``, ``multi_layer_net``,
``multi_layer_net_extend``, ``trainer`` and ``util`` (``im2col``, ``col2im``)."""
