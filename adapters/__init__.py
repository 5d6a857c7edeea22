"""Adapters from deep-learning frameworks to sparse least-squares problems."""
