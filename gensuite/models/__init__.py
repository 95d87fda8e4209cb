"""Networks shared across plug-ins."""

from gensuite.models.conv4 import Conv4

__all__ = ["Conv4"]
