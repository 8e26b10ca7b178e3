import pytest

from edgekit.units import format_bytes, format_field, format_ms, format_quantity, parse_quantity


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
    assert format_bytes(512) == "512 B" and format_bytes(2048) == "2 KiB" and format_bytes(0) == "0 B"
    assert format_bytes(8 * 1024**3) == "8 GiB" and format_bytes(1_058_816) == "1.01 MiB"
    assert format_bytes(1_024_000) == "1,000 KiB"  # the whole part is never rounded away


def test_every_kind_is_shown_in_its_largest_unit_and_reads_back():
    shown = {kind: format_quantity(value, kind) for kind, value in
             (("hertz", 2.91e9), ("watts", 5e-6), ("ops", 60e9), ("flops", 25e9), ("seconds", 0.002038))}
    assert shown == {"hertz": "2.91 GHz", "watts": "5 uW", "ops": "60 GOPS", "flops": "25 GFLOPS",
                     "seconds": "2.04 ms"}
    assert parse_quantity(shown["hertz"], "hertz") == 2.91e9


def test_times_in_milliseconds_get_their_unit():
    assert (format_ms(0.0312), format_ms(45.123), format_ms(1500)) == ("31.2 us", "45.1 ms", "1.5 s")


def test_a_field_is_shown_in_the_unit_its_name_says():
    assert format_field("ram_bytes", 8589934592.0) == "8 GiB" and format_field("clock_hz", 64e6) == "64 MHz"
    assert format_field("idle_w", 0.6) == "600 mW" and format_field("uart_base", 0x40011000) == "0x40011000"
    assert format_field("features", ("neon", "i8mm")) == "neon, i8mm" and format_field("cores", 9) == "9"
