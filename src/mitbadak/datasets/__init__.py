"""Datasets: MNIST, Fashion-MNIST and the offline MNIST sample, loaded reliably."""
