from __future__ import annotations

import pytest

from escadre.core.units import format_duration, parse_bytes, parse_cpus, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("2h", 7200.0),
        ("1h2m3s", 3723.0),
        ("10us", 1e-5),
        (10, 10.0),
        ("15", 15.0),
        ("1.5s", 1.5),
        (0, 0.0),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "ten", "10x", "s", "1m30", "-1s", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("seconds", "text"), [(90.0, "1m30s"), (0.5, "500ms"), (3600.0, "1h"), (0.0, "0s"), (5, "5s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1gb", 1024**3),
        ("512m", 512 * 1024**2),
        ("1k", 1024),
        ("1kb", 1024),
        ("100b", 100),
        (2048, 2048),
        ("1G", 1024**3),
        ("2MiB", 2 * 1024**2),
        ("1.5g", int(1.5 * 1024**3)),
        ("300", 300),
    ],
)
def test_bytes(text: str | int, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("bad", ["lots", "1x", "-1", "1 2"])
def test_bad_bytes(bad: str) -> None:
    with pytest.raises(ValueError, match="byte size"):
        parse_bytes(bad)


def test_cpus() -> None:
    assert parse_cpus("0.5") == 0.5
    assert parse_cpus(2) == 2.0
    with pytest.raises(ValueError, match="CPU"):
        parse_cpus("half")
