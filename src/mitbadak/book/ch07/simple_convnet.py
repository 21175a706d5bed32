"""The book's ``ch07/simple_convnet.py``: ``SimpleConvNet(input_dim=(1, 28, 28),
conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1}, hidden_size=100,
output_size=10, weight_init_std=0.01)`` with ``predict``, ``loss``, ``accuracy``, ``gradient``,
``numerical_gradient``, ``save_params`` (mitbadak's safe ``.npz``, under the name given) and
``load_params`` (that, or the book's ``params.pkl``, read without running it):
:class:`mitbadak.nn.convnets.SimpleConvNet`."""

from mitbadak.nn.convnets import SimpleConvNet

__all__ = ["SimpleConvNet"]
