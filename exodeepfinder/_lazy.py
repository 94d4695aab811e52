"""Public names imported on first use (PEP 562): ``import exodeepfinder`` and ``--help`` stay fast."""

from __future__ import annotations

import importlib


def lazy_names(package: str, api: dict, namespace: dict):
    """The ``__getattr__`` and ``__dir__`` of a package whose names ``api`` are imported on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    api : dict
        Public name -> ``"module"`` (a submodule of ``package`` holding that name) or
        ``("full.module.name", "attribute")``.
    namespace : dict
        The package's ``globals()``: each name, once imported, is kept there.

    Examples
    --------
    ``__getattr__, __dir__ = lazy_names(__name__, {"UNet": "unet"}, globals())``
    """
    def __getattr__(name):
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = api[name] if isinstance(api[name], tuple) else (f"{package}.{api[name]}", name)
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(api))

    return __getattr__, __dir__
