"""A run's config and what is built from it; `config.py::method_of` is the one reader of the methods
registry (`methods/__init__.py`), for the run config and for `build.py`."""
