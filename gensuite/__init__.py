"""gensuite: a reproducibility benchmark harness for deep-learning research."""

__version__ = "0.1.0"
