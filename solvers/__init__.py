"""Interchangeable solver backends for :class:`sparse_regression.SparseProblem`."""
