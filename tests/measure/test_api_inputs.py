"""The Python API's entry points answer a wrong argument with a typed, one-line InputError (not a TypeError or an
AttributeError from deep inside)."""
import numpy as np
import pytest

import edgekit
from edgekit.errors import InputError


@pytest.mark.parametrize("call,text", [
    (lambda: edgekit.benchmark(None, "emu-phone"), "the artifact must be an edgekit.Artifact or the path of its folder"),
    (lambda: edgekit.benchmark("art", "emu-phone", eval_data=np.zeros((4, 4), np.float32)),
     "eval_data must be an edgekit.Dataset, got ndarray"),
    (lambda: edgekit.benchmark_generation(None, "emu-phone"), "the artifact must be an edgekit.Artifact"),
    (lambda: edgekit.Dataset(None), "x is a NoneType, not a numpy array"),
    (lambda: edgekit.Dataset(np.zeros((4, 2)), [0, 1, 0, 1]), "y is a list, not a numpy array"),
    (lambda: edgekit.load_profile(None), "the target must be a profile name or the path of a .toml file, got "
                                         "NoneType"),
])
def test_wrong_arguments_are_input_errors(call, text):
    with pytest.raises(InputError, match=text) as caught:
        call()
    assert "\n" not in caught.value.one_line()


def test_a_target_that_is_not_a_name_is_an_input_error(tmp_path):
    from edgekit.artifact import write_artifact
    (tmp_path / "model.pte").write_bytes(b"\0")
    art = write_artifact(tmp_path / "art", {"model.pte": tmp_path / "model.pte"}, {"format": "pte",
                                                                                   "model_file": "model.pte"})
    with pytest.raises(InputError, match="the target must be a profile name or an edgekit.Profile, got NoneType"):
        edgekit.benchmark(art, None)
