"""edgekit: compress a PyTorch model for a device profile, export it, deploy it and measure it on the device.

    import edgekit
    art = edgekit.compile_model(model, (example,), "emu-phone", "out/int8",
                                recipe=[edgekit.Int8StaticConfig()], calibration=edgekit.load_data("cal.npz"))
    report = edgekit.benchmark(art, "emu-phone", eval_data=edgekit.load_data("test.npz"))
"""
import sys
import types

from .version import __version__

# Names resolve on first use (PEP 562): `import edgekit` and the CLI start without importing torch, so a Ctrl-C in
# the first second lands in edgekit's handler (edgekit/interrupts.py), not in the middle of torch's import.
_EXPORTS = {
    "Artifact": "artifact", "compile_model": "compiler", "count_macs": "metrics", "count_params": "metrics",
    "CompressionContext": "compress", "Int8DynamicConfig": "compress", "Int8StaticConfig": "compress",
    "compress_chain": "compress", "register": "compress",
    "CheckFailed": "errors", "DeviceError": "errors", "EdgekitError": "errors", "InputError": "errors",
    "ProfileError": "errors", "UnsupportedError": "errors", "benchmark": "measure.runner", "Dataset": "modelio",
    "load_data": "modelio", "load_model": "modelio", "Profile": "profiles", "list_profiles": "profiles",
    "load_profile": "profiles", "compile_decoder": "decoder", "benchmark_generation": "measure.generation",
    "Int4WeightOnlyConfig": "compress", "GptqInt4Config": "compress", "Int8DynamicTokenConfig": "compress",
    "write_c_library": "export.mcu.library",
}
__all__ = ["__version__", "compress", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """`edgekit.compress` is the one verb (a function), while edgekit/compress/ is also a subpackage: the import
    system binds a subpackage to its parent's attribute once loaded, and that must not replace the verb."""

    @property
    def compress(self):
        from .compress.base import compress
        return compress

    @compress.setter
    def compress(self, module: types.ModuleType) -> None:
        pass  # the subpackage stays reachable as sys.modules["edgekit.compress"] and by `from edgekit.compress import`


sys.modules[__name__].__class__ = _Package
