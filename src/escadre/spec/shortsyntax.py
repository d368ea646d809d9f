"""Parsers for the short (string) syntaxes of ``ports``, ``volumes`` and ``extra_hosts``.

They are used twice: by the merge, to know which entries of two files describe the same port or mount
(Compose merges ``volumes`` by container path, ``ports`` by address), and by the normalizer, to produce
the long syntax. Each raises ``ValueError`` with a message meant for the user; callers add the location.
"""

from __future__ import annotations

from typing import Any

PROTOCOLS = ("tcp", "udp", "sctp")
_PROPAGATION = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
_CONSISTENCY = ("cached", "delegated", "consistent")


def _port_number(text: str, what: str, *, allow_zero: bool = False) -> int:
    if not text.isdigit():
        raise ValueError(f"invalid {what} {text!r}: expected a number between 1 and 65535")
    number = int(text)
    if not (0 if allow_zero else 1) <= number <= 65535:
        raise ValueError(f"invalid {what} {number}: ports go from 1 to 65535")
    return number


def _port_range(text: str, what: str, *, allow_zero: bool = False) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    first = _port_number(start.strip(), what, allow_zero=allow_zero)
    last = _port_number(end.strip(), what, allow_zero=allow_zero) if sep else first
    if last < first:
        raise ValueError(f"invalid {what} range {text!r}: the end is lower than the start")
    return first, last


def split_port(spec: str) -> tuple[str | None, str, str, str]:
    """``"127.0.0.1:8080:80/udp"`` → ``("127.0.0.1", "8080", "80", "udp")`` (published may be ``""``)."""
    text = spec.strip()
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.rsplit("/", 1)
        protocol = protocol.lower()
        if protocol not in PROTOCOLS:
            raise ValueError(f"invalid protocol {protocol!r} in port {spec!r}: use tcp, udp or sctp")
    host_ip: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            raise ValueError(f"invalid port {spec!r}: expected [IPv6]:PUBLISHED:TARGET")
        host_ip = text[1:end]
        parts = text[end + 2 :].split(":")
        if len(parts) != 2:
            raise ValueError(f"invalid port {spec!r}: expected [IPv6]:PUBLISHED:TARGET")
        published, target = parts
    else:
        parts = text.split(":")
        if len(parts) == 1:
            published, target = "", parts[0]
        elif len(parts) == 2:
            published, target = parts
        else:
            host_ip = ":".join(parts[:-2])
            published, target = parts[-2:]
    if host_ip == "":
        host_ip = None
    return host_ip, published.strip(), target.strip(), protocol


def parse_port(spec: Any) -> list[dict[str, Any]]:
    """Short port syntax → long entries, ranges expanded (``"3000-3001"`` gives two entries)."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        return [{"mode": "ingress", "target": _port_number(str(spec), "container port"), "protocol": "tcp"}]
    if isinstance(spec, float):
        raise ValueError(f"invalid port {spec!r}: expected a whole number")
    host_ip, published, target, protocol = split_port(str(spec))
    if not target:
        raise ValueError(f"invalid port {spec!r}: the container port is missing")
    t_first, t_last = _port_range(target, "container port")
    entries: list[dict[str, Any]] = []
    if published:
        p_first, p_last = _port_range(published, "published port", allow_zero=True)
        if p_last - p_first != t_last - t_first:
            if t_first == t_last:
                raise ValueError(
                    f"port {spec!r} publishes a host port range on one container port; Escadre needs "
                    "one host port per container port (for example '8080:80')"
                )
            raise ValueError(f"invalid port {spec!r}: the published and container ranges differ in size")
        pairs: list[tuple[int, int | None]] = [(t_first + i, p_first + i) for i in range(t_last - t_first + 1)]
    else:
        pairs = [(t, None) for t in range(t_first, t_last + 1)]
    for container, host in pairs:
        entry: dict[str, Any] = {"mode": "ingress"}
        if host_ip is not None:
            entry["host_ip"] = host_ip
        entry["target"] = container
        if host is not None:
            entry["published"] = str(host)
        entry["protocol"] = protocol
        entries.append(entry)
    return entries


def port_key(spec: Any) -> str:
    """Identity of a port entry for merging: ``host_ip:published:target/protocol``."""
    if isinstance(spec, dict):
        return (
            f"{spec.get('host_ip') or '0.0.0.0'}:{spec.get('published') or ''}:"
            f"{spec.get('target')}/{spec.get('protocol') or 'tcp'}"
        )
    try:
        host_ip, published, target, protocol = split_port(str(spec))
    except ValueError:
        return str(spec)
    return f"{host_ip or '0.0.0.0'}:{published}:{target}/{protocol}"


def is_bind_source(source: str) -> bool:
    """Short volume syntax: a source that looks like a path is a bind mount, otherwise a named volume."""
    return source.startswith(("/", ".", "~"))


def parse_volume(spec: str) -> dict[str, Any]:
    """``"./data:/data:ro,z"`` → ``{type: bind, source: ./data, target: /data, read_only: true, ...}``."""
    parts = spec.split(":")
    if len(parts) > 3 or not all(parts[:2]):
        raise ValueError(f"invalid volume {spec!r}: expected [SOURCE:]TARGET[:OPTIONS]")
    if len(parts) == 1:
        target = parts[0]
        if not target.startswith("/"):
            raise ValueError(f"invalid volume {spec!r}: the container path must be absolute")
        return {"type": "volume", "target": target}
    source, target = parts[0], parts[1]
    options = [o for o in parts[2].split(",") if o] if len(parts) == 3 else []
    if not target.startswith("/"):
        raise ValueError(f"invalid volume {spec!r}: the container path {target!r} must be absolute")
    bind = is_bind_source(source)
    entry: dict[str, Any] = {"type": "bind" if bind else "volume", "source": source, "target": target}
    bind_opts: dict[str, Any] = {"create_host_path": True} if bind else {}
    volume_opts: dict[str, Any] = {}
    for option in options:
        if option in ("ro", "rw"):
            entry["read_only"] = option == "ro"
        elif option in ("z", "Z") and bind:
            bind_opts["selinux"] = option
        elif option in _PROPAGATION and bind:
            bind_opts["propagation"] = option
        elif option == "nocopy" and not bind:
            volume_opts["nocopy"] = True
        elif option in _CONSISTENCY:
            entry["consistency"] = option
        else:
            kind = "bind mount" if bind else "named volume"
            raise ValueError(f"invalid option {option!r} for a {kind} in {spec!r}")
    if bind:
        entry["bind"] = bind_opts
    if volume_opts:
        entry["volume"] = volume_opts
    return entry


def volume_target(spec: Any) -> str:
    """Identity of a service volume for merging: its container path."""
    if isinstance(spec, dict):
        return str(spec.get("target", ""))
    try:
        return str(parse_volume(str(spec))["target"])
    except ValueError:
        return str(spec)


def parse_extra_host(entry: str) -> tuple[str, str]:
    """``"db:10.0.0.2"`` or ``"db=10.0.0.2"`` (or ``"db=::1"``) → ``("db", "10.0.0.2")``."""
    if "=" in entry:
        host, _, address = entry.partition("=")
    else:
        host, _, address = entry.partition(":")
    host, address = host.strip(), address.strip()
    if not host or not address:
        raise ValueError(f"invalid extra host {entry!r}: expected HOST=IP or HOST:IP")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    return host, address
