"""The generic training loop and its callbacks."""

from gensuite.train.loop import Callback, LoopResult, run_loop

__all__ = ["Callback", "LoopResult", "run_loop"]
