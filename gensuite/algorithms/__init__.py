"""Algorithm plug-ins; importing a module registers it with ``gensuite.registry``.

``gensuite.plugins`` imports every module of this package: a new plug-in is a new file here.
"""
