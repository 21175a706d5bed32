"""Chapter 3: its scripts import only ``dataset.mnist`` and ``common.functions``
(``mitbadak.book.dataset.mnist``, ``mitbadak.book.common.functions``), nothing from their own
folder. The book's ``pickle.load`` of ``sample_weight.pkl`` is :func:`mitbadak.load_book_weights`,
and ``predict(network, x)`` is :func:`mitbadak.predict`."""
