"""The book's ``common/`` folder: ``functions``, ``gradient``, ``layers``, ``optimizer``,
``multi_layer_net`` (``util``, ``trainer`` and the chapter 6-8 layers come with those chapters)."""
