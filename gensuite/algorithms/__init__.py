"""Algorithm plug-ins; importing a module registers it with ``gensuite.registry``."""

from gensuite.algorithms import gan, protonet, vae  # noqa: F401
