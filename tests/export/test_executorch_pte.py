"""The .pte exporter's own checks."""
import pytest

from edgekit.errors import UnsupportedError
from edgekit.export.executorch_pte import check_loads


def test_a_program_the_runtime_cannot_load_is_refused(tmp_path):
    path = tmp_path / "model.pte"
    path.write_bytes(b"\0" * 64)  # no ExecuTorch program header
    with pytest.raises(UnsupportedError, match="ExecuTorch's runtime cannot load the program"):
        check_loads(path)
