"""The book's ``ch08/deep_convnet.py``: ``DeepConvNet(input_dim=(1, 28, 28), conv_param_1=...,
..., conv_param_6=..., hidden_size=50, output_size=10)`` with the book's methods;
``load_params("deep_convnet_params.pkl")`` reads the book's pickle without running it:
:class:`mitbadak.nn.convnets.DeepConvNet`."""

from mitbadak.nn.convnets import DeepConvNet

__all__ = ["DeepConvNet"]
