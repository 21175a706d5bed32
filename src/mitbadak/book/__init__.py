"""The book's files as modules: port a script of *Deep Learning from Scratch* by its imports.

The book's scripts import from its ``common/`` and ``dataset/`` folders and from their own
chapter folder. Each of those files has a module here, named as in the book, so that porting a
script is rewriting its imports and nothing else::

    from dataset.mnist import load_mnist    ->  from mitbadak.book.dataset.mnist import load_mnist
    from common.layers import Affine        ->  from mitbadak.book.common.layers import Affine
    from two_layer_net import TwoLayerNet   ->  from mitbadak.book.ch05.two_layer_net import ...
                                                (in ch05/: a chapter's own files are under it)

The modules are thin faces over the library: every name is mitbadak's own function or class, at
most with the book's defaults and signature (chapter 4's ``TwoLayerNet`` is the sigmoid network,
chapter 5's the ReLU one). ``docs/book-idioms.md`` lists the mapping. Chapters 7-8 add
``ch07.simple_convnet`` and ``ch08.deep_convnet``.
"""

#: The modules that mirror the book's files (the book's path -> the module here).
BOOK_FILES = {
    "common/functions.py": "mitbadak.book.common.functions",
    "common/gradient.py": "mitbadak.book.common.gradient",
    "common/layers.py": "mitbadak.book.common.layers",
    "common/optimizer.py": "mitbadak.book.common.optimizer",
    "common/multi_layer_net.py": "mitbadak.book.common.multi_layer_net",
    "common/trainer.py": "mitbadak.book.common.trainer",
    "common/util.py": "mitbadak.book.common.util",
    "common/multi_layer_net_extend.py": "mitbadak.book.common.multi_layer_net_extend",
    "dataset/mnist.py": "mitbadak.book.dataset.mnist",
    "ch04/gradient_1d.py": "mitbadak.book.ch04.gradient_1d",
    "ch04/gradient_2d.py": "mitbadak.book.ch04.gradient_2d",
    "ch04/gradient_method.py": "mitbadak.book.ch04.gradient_method",
    "ch04/gradient_simplenet.py": "mitbadak.book.ch04.gradient_simplenet",
    "ch04/two_layer_net.py": "mitbadak.book.ch04.two_layer_net",
    "ch05/layer_naive.py": "mitbadak.book.ch05.layer_naive",
    "ch05/two_layer_net.py": "mitbadak.book.ch05.two_layer_net",
    "ch07/simple_convnet.py": "mitbadak.book.ch07.simple_convnet",
    "ch08/deep_convnet.py": "mitbadak.book.ch08.deep_convnet",
}

__all__ = ["BOOK_FILES"]
