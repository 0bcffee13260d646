"""Runnable tasks: small experiments from the lectures, each a module with ``run`` and ``main``."""
