"""Linli (邻里): neighbourhood commerce with the trust infrastructure around it."""

__version__ = "0.1.0"
