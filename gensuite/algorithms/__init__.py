"""Algorithm plug-ins; importing a module registers it with ``gensuite.registry``."""

from gensuite.algorithms import protonet  # noqa: F401
