"""The router's pure half: weights, slot placement, configuration, ``show stat`` parsing (no engine)."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from escadre.core.errors import MissingExtraError, OperationFailed, UsageError
from escadre.drivers.engine import router_image
from escadre.drivers.engine.router import validate
from escadre.drivers.engine.router_config import (
    Counters,
    Listener,
    Server,
    Slot,
    State,
    check_listeners,
    counters_from_rows,
    parse_stat,
    place,
    preview_ports,
    render_config,
    runtime_errors,
    shares_from_rows,
    slot_commands,
    split_weights,
)

HAPROXY = shutil.which("haproxy") or (Path("/usr/sbin/haproxy") if Path("/usr/sbin/haproxy").exists() else None)


def share(canary_weight: int, n_stable: int, n_canary: int) -> float:
    a, b = split_weights(canary_weight, n_stable, n_canary)
    return 100 * b * n_canary / (a * n_stable + b * n_canary)


@pytest.mark.parametrize("w", range(101))
@pytest.mark.parametrize(("n_stable", "n_canary"), [(1, 1), (2, 2), (3, 3), (16, 16)])
def test_equal_server_counts_split_exactly(w: int, n_stable: int, n_canary: int) -> None:
    a, b = split_weights(w, n_stable, n_canary)
    assert 0 <= a <= 256
    assert 0 <= b <= 256
    assert share(w, n_stable, n_canary) == pytest.approx(w, abs=1e-9)


def test_unequal_counts_are_exact_when_possible_and_close_otherwise() -> None:
    assert split_weights(10, 3, 1) == (3, 1)  # 3 stable x 3 + 1 canary x 1 → canary 10 %
    assert split_weights(90, 1, 1) == (1, 9)
    assert split_weights(10, 1, 1) == (9, 1)
    for n_stable in (1, 2, 3, 4, 5, 7, 16):
        for n_canary in (1, 2, 3, 5, 16):
            for w in range(1, 100):
                a, b = (100 - w) * n_canary, w * n_stable
                g = math.gcd(a, b)
                if max(a, b) // g <= 256:
                    assert share(w, n_stable, n_canary) == pytest.approx(w, abs=1e-9), (w, n_stable, n_canary)
                # otherwise as close as 1..256 weights allow (1 % over 1 stable + 5 canaries: at best 5/261)
                limit = 0.5
                if a > 256 * b:
                    limit = max(limit, 100 * n_canary / (256 * n_stable + n_canary) - w)
                if b > 256 * a:
                    limit = max(limit, w - 100 * 256 * n_canary / (n_stable + 256 * n_canary))
                assert abs(share(w, n_stable, n_canary) - w) <= limit + 1e-9, (w, n_stable, n_canary)


def test_extremes_and_missing_roles() -> None:
    assert split_weights(0, 2, 2) == (100, 0)
    assert split_weights(100, 2, 2) == (0, 100)
    assert split_weights(30, 2, 0) == (100, 0)  # no canary servers: everything stays on stable
    assert split_weights(30, 0, 2) == (0, 100)
    assert split_weights(30, 0, 0) == (0, 0)
    with pytest.raises(UsageError, match="percentage"):
        split_weights(101, 1, 1)


def test_place_keeps_servers_in_their_slots_and_fills_free_ones_first() -> None:
    a, b, c = Server("10.0.0.1", 80), Server("10.0.0.2", 80), Server("10.0.0.3", 80)
    slots = place([Slot()] * 4, [a, b], 5, "x")
    assert [(s.address, s.ready, s.weight) for s in slots] == [
        ("10.0.0.1", True, 5),
        ("10.0.0.2", True, 5),
        ("127.0.0.1", False, 0),
        ("127.0.0.1", False, 0),
    ]
    # a goes, c comes: b keeps slot 2, c takes a free slot (not a's, which still serves until taken down)
    slots = place(slots, [c, b], 7, "x")
    assert [(s.address, s.ready) for s in slots] == [
        ("10.0.0.1", False),
        ("10.0.0.2", True),
        ("10.0.0.3", True),
        ("127.0.0.1", False),
    ]
    # a comes back: its former slot
    slots = place(slots, [a, b, c], 7, "x")
    assert [s.address for s in slots[:3]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    # weight 0: addresses remembered, all in maintenance
    assert not any(s.ready for s in place(slots, [a], 0, "x"))
    with pytest.raises(UsageError, match="do not fit"):
        place([Slot()] * 2, [a, b, c], 1, "web:80 stable")


def test_commands_bring_up_before_taking_down() -> None:
    slots = [Slot("10.0.0.1", 8000, 9, True), Slot()]
    up, down = slot_commands("be_web_80", "canary", slots)
    assert up == [
        "set server be_web_80/canary1 addr 10.0.0.1 port 8000",
        "set server be_web_80/canary1 weight 9",
        "set server be_web_80/canary1 state ready",
    ]
    assert down == ["set server be_web_80/canary2 state maint", "set server be_web_80/canary2 weight 0"]


def test_state_round_trips_and_structure_ignores_assignments() -> None:
    state = State(slots=4, metrics=True, listeners=[Listener("web", 80, 8080, "127.0.0.1", preview_published=8081)])
    backend = state.backend(state.listeners[0])
    before = state.structure
    backend.slots["stable"] = place(backend.slots["stable"], [Server("10.0.0.9", 80)], 100, "x")
    backend.canary_weight = 0
    again = State.loads(state.dumps(), slots=16, metrics=False)
    assert again.slots == 4
    assert again.listeners == state.listeners
    assert again.backends["web:80"].slots["stable"][0] == Slot("10.0.0.9", 80, 100, True)
    assert again.structure == before
    again.listeners.append(Listener("api", 81))
    assert again.structure != before


def test_listener_checks() -> None:
    check_listeners([Listener("web", 80), Listener("web", 443)])
    with pytest.raises(UsageError, match="reserved"):
        check_listeners([Listener("web", 9999)])
    with pytest.raises(UsageError, match="both want router port 80"):
        check_listeners([Listener("web", 80), Listener("api", 80)])
    assert preview_ports([Listener("b", 81, preview_published=1), Listener("a", 80, preview_published=2)]) == {
        "a:80": 42000,
        "b:81": 42001,
    }


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_rendered_configuration_is_valid_haproxy() -> None:
    listeners = [
        Listener("web", 80, 8080, preview_published=8081),
        Listener("db", 5432, mode="tcp"),
        Listener("my.svc-1", 8000),
    ]
    state = State(slots=16, metrics=True, listeners=listeners)
    state.backend(listeners[0]).slots["canary"][3] = Slot("10.1.2.3", 8000, 17, True)
    config = render_config(state)
    validate(config)
    assert "server canary4 10.1.2.3:8000 weight 17\n" in config
    assert "server stable1 127.0.0.1:1 weight 0 disabled\n" in config
    assert "mode tcp" in config
    assert "prometheus-exporter" in config
    assert "bind :42000" in config  # the preview frontend
    with pytest.raises(OperationFailed, match=r"HAProxy refused .*haproxy.cfg:\d+.*'bogus'"):
        validate(config + "\nbackend x\n    bogus keyword\n")


def test_show_stat_parsing() -> None:
    header = "# pxname,svname,scur,stot,econ,eresp,status,weight,hrsp_2xx,hrsp_4xx,hrsp_5xx,req_tot\n"
    text = (
        header
        + "be,stable1,1,10,0,0,UP,9,8,1,1,10\n"
        + "be,stable2,0,5,1,0,DOWN,9,5,0,0,5\n"
        + "be,canary1,0,4,0,1,UP,1,0,0,4,4\n"
        + "be,canary2,0,0,0,0,MAINT,0,0,0,0,0\n"
        + "be,BACKEND,1,19,1,1,UP,10,13,1,5,19\n"
        + "\n"
        + header
        + "be_preview,preview1,0,3,0,0,no check,100,3,0,0,\n"
    )
    rows = parse_stat(text)
    assert len(rows) == 6
    counters = counters_from_rows(rows, ("stable", "canary", "preview"))
    assert counters["stable"] == Counters(15, 1, 1, 13, 1, 1)
    assert counters["canary"] == Counters(4, 4, 0, 0, 1, 0)
    assert counters["preview"].requests == 3  # no req_tot: sessions
    assert shares_from_rows(rows[:5], ("stable", "canary")) == {"stable": 90, "canary": 10}


def test_runtime_errors_keep_only_failures() -> None:
    reply = (
        "IP changed from '127.0.0.1' to '10.0.0.1', port changed from '1' to '80' by 'stats socket command'\n\n"
        "\n\nNo such server.\n\n"
    )
    assert runtime_errors(reply) == ["No such server."]


def test_missing_haproxy_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(router_image, "HAPROXY_CANDIDATES", ("/nonexistent/haproxy",))
    monkeypatch.setattr(router_image.shutil, "which", lambda name: None)
    with pytest.raises(MissingExtraError) as info:
        router_image.find_binaries()
    assert "apt-get install haproxy" in str(info.value)


@pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")
def test_rootfs_holds_haproxy_its_libraries_and_busybox(tmp_path: Path) -> None:
    binaries = router_image.find_binaries()
    assert binaries.ref.startswith(f"escadre/router:{binaries.version}-")
    out = tmp_path / "rootfs.tar"
    router_image.write_rootfs(binaries, out)
    names = subprocess.run(["tar", "-tf", str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert "usr/sbin/haproxy" in names
    assert "bin/busybox" in names
    assert "bin/nc" in names
    assert "bin/sh" in names
    assert "bin/busybox" in names
    assert any(name.startswith("lib64/ld-linux") or "/ld-linux" in name for name in names)
    assert any("libssl.so" in name for name in names)
    assert "etc/passwd" in names
