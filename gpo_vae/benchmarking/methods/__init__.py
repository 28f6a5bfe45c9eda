"""The built-in benchmark methods: every module here registers its methods when imported
(:func:`gpo_vae.benchmarking.registry.register_method`), so a new method is a new file."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
