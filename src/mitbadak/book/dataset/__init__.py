"""The book's ``dataset/`` folder: ``mnist``."""
