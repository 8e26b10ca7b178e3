"""Run a compiled .tflite on an emulated core: package it for the target, deploy, one raw int8 sample at a time."""
import numpy as np

from edgekit.artifact import write_artifact
from edgekit.export.mcu.kernels import variant_name
from edgekit.export.mcu.package import package_tflite
from edgekit.profiles import load_profile
from edgekit.session import open_session
from edgekit.transport import make_transport


def run_on_device(tmp_path, model, target, dsp, x):
    """(the firmware package, the device's int8 outputs for every sample of `x`). dsp: the kernel variant (a name, or
    True / False for "dsp" / "reference"; None: the profile's own)."""
    profile = load_profile(target)
    pkg = package_tflite(model, profile, tmp_path / "work", dsp=dsp)
    if dsp is not None:
        assert pkg.firmware["build"]["kernels"] == variant_name(dsp)
    art = write_artifact(tmp_path / "art", pkg.files, {"format": "c-firmware", "model_file": "firmware.bin",
                                                        "target": {"name": profile.name},
                                                        "export": {"firmware": pkg.firmware}})
    with make_transport(profile) as link:
        session, _ = open_session(link, art, timeout=30)
        try:
            assert session.hello()["machine"]["core"] == profile.hardware.core
            got = np.concatenate([session.invoke_raw(x[i:i + 1]) for i in range(len(x))])
        finally:
            session.close()
    return pkg, got
