import pytest

from edgekit.units import format_bytes, parse_quantity


def test_parse():
    assert parse_quantity("320 KiB", "bytes") == 320 * 1024
    assert parse_quantity("1 MB", "bytes") == 1e6
    assert parse_quantity("2.4 GHz", "hertz") == 2.4e9
    assert parse_quantity("330 mW", "watts") == pytest.approx(0.33)


@pytest.mark.parametrize("text", ["320", "320 kg", "KiB", "", "1 mhz"])
def test_rejects(text):
    with pytest.raises(ValueError, match="expected a number and one of"):
        parse_quantity(text, "bytes" if "B" in text or not text else "hertz")


def test_format_bytes():
    assert format_bytes(512) == "512 B" and format_bytes(2048) == "2.0 KiB"
