"""Services that plug-ins call to judge their output and that are not pure metrics: today the
evaluation classifiers (trained, cached, resolved from a dataset's registration)."""
