"""edgekit: compress a PyTorch model for a device profile, export it, deploy it and measure it on the device.

    import edgekit
    art = edgekit.compile_model(model, (example,), "emu-phone", "out/int8",
                                recipe=[edgekit.Int8StaticConfig()], calibration=edgekit.load_data("cal.npz"))
    report = edgekit.benchmark(art, "emu-phone", eval_data=edgekit.load_data("test.npz"))
"""
from .version import __version__
from .artifact import Artifact  # noqa: E402
from .compiler import compile_model  # noqa: E402
from .metrics import count_macs, count_params  # noqa: E402
from .compress import (CompressionContext, Int8DynamicConfig, Int8StaticConfig, compress,  # noqa: E402
                       compress_chain, register)
from .errors import CheckFailed, DeviceError, EdgekitError, InputError, ProfileError, UnsupportedError  # noqa: E402
from .measure.runner import benchmark  # noqa: E402
from .modelio import Dataset, load_data, load_model  # noqa: E402
from .profiles import Profile, list_profiles, load_profile  # noqa: E402

__all__ = ["Artifact", "compile_model", "count_macs", "count_params", "CompressionContext", "Int8DynamicConfig",
           "Int8StaticConfig", "compress", "compress_chain", "register", "CheckFailed", "DeviceError",
           "EdgekitError", "InputError", "ProfileError", "UnsupportedError", "benchmark", "Dataset", "load_data",
           "load_model", "Profile", "list_profiles", "load_profile"]
