"""A real multi-node Docker Swarm on one machine, for tests.

Each node is its own ``dockerd`` in its own network namespace (``ip netns``), with its own hostname
(``unshare --uts``), data root, exec root, pid file, socket, ``--bip`` and cgroup parent, plugged into a
private Linux bridge by a veth pair. The first node runs ``swarm init`` on its bridge address, the others
join it with the real worker token, so the cluster speaks the real Swarm protocols (Raft, gossip on 7946,
VXLAN overlays on 4789) between distinct network stacks — nothing is simulated.

Why namespaces and not docker-in-docker: no image with dockerd can be pulled here, and a dockerd inside a
container needs a privileged container plus its own image; a namespace needs nothing but ``iproute2`` and
the host's ``dockerd``. Gotchas (MACHINE-NOTES): ``nsenter --net=`` rather than ``ip netns exec`` (which
remounts /sys and breaks dockerd's cgroup detection); the host sets iptables FORWARD to DROP, so an ACCEPT
rule for the bridge is added (and removed afterwards).

``kill(node)`` is a real node loss: its dockerd, containerd, shims and every container process are
SIGKILLed and its link goes down, so the managers see it stop heartbeating and reschedule its tasks.
``close()`` removes everything: processes, mounts, namespaces, veths, the bridge, the iptables rule,
cgroups and data directories. The harness never touches the host's own engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("ip", "nsenter", "unshare", "iptables", "dockerd", "docker")
CGROUP_ROOT = Path("/sys/fs/cgroup")


class HarnessUnavailable(Exception):
    """This machine cannot run the harness (not root, a tool is missing); the message says why."""


def unavailable_reason() -> str | None:
    """Why the harness cannot run here, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "the multi-node swarm harness needs root (network namespaces, bridges, iptables)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        tools = ", ".join(missing)
        return f"the multi-node swarm harness needs {tools} (apt-get install iproute2 util-linux iptables docker.io)"
    if not Path("/proc/sys/net/bridge").exists() and not Path("/sys/class/net").exists():
        return "no Linux bridge support"
    return None


def _run(*cmd: str, check: bool = True, input: bytes | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, input=input, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode(errors="replace")


def _free_subnet() -> int:
    """A third octet X such that 10.231.X.0/24 is not routed on this machine."""
    routes = _run("ip", "-4", "route", "show")
    for x in range(10, 250):
        if f"10.231.{x}." not in routes:
            return x
    raise HarnessUnavailable("no free 10.231.X.0/24 subnet for the swarm harness bridge")


@dataclass
class Node:
    name: str
    address: str
    root: Path
    netns: str
    veth: str
    cgroup: str
    process: subprocess.Popen[bytes] | None = None
    alive: bool = True

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` of this node's engine."""
        return f"unix://{self.socket}"

    def docker(self, *args: str, check: bool = True, input: bytes | None = None, timeout: float = 60) -> str:
        return _run("docker", "-H", self.host, *args, check=check, input=input, timeout=timeout)


@dataclass
class SwarmCluster:
    """``workers`` workers and one manager; ``start()`` builds it, ``close()`` tears it all down."""

    workers: int = 2
    standalone: int = 0
    """Extra engines that never join the swarm (to test what a driver says about them)."""
    registry: bool = False
    """Run Debian's docker-registry (distribution v2) on the bridge, trusted by every node (``registry_address``)."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    nodes: list[Node] = field(default_factory=list)
    bridge: str = ""
    subnet: int = 0
    base: Path = field(default_factory=Path)
    _rule: list[str] = field(default_factory=list)
    _registry: subprocess.Popen[bytes] | None = None

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def worker(self, index: int) -> Node:
        return self.nodes[index]

    @property
    def outsider(self) -> Node:
        """An engine that is not part of the swarm (``standalone`` must be at least 1)."""
        return self.nodes[self.workers + 1]

    # ------------------------------------------------------------------------------------- build

    def start(self) -> SwarmCluster:
        reason = unavailable_reason()
        if reason is not None:
            raise HarnessUnavailable(reason)
        self.base = Path(tempfile.mkdtemp(prefix=f"escadre-swarm-{self.id}-", dir="/var/tmp"))
        self.subnet = _free_subnet()
        self.bridge = f"escsw{self.id}"
        try:
            self._network()
            if self.registry:
                self._start_registry()
            for index in range(self.workers + 1 + self.standalone):
                self._node(index)
            for node in self.nodes:
                self._wait_engine(node)
            self._form_swarm()
        except BaseException:
            self.close()
            raise
        return self

    def _network(self) -> None:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"10.231.{self.subnet}.1/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        self._rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        _run("iptables", "-I", *self._rule)

    def _node(self, index: int) -> None:
        role = "manager" if index == 0 else f"worker{index}" if index <= self.workers else f"alone{index}"
        name = f"sw{self.id}-{role}"
        node = Node(
            name=name,
            address=f"10.231.{self.subnet}.{10 + index}",
            root=self.base / role,
            netns=f"escsw{self.id}n{index}",
            veth=f"escsw{self.id}v{index}",
            cgroup=f"escadre-swarm-{self.id}-{role}",
        )
        node.root.mkdir(parents=True)
        self.nodes.append(node)
        peer = f"escsw{self.id}p{index}"
        _run("ip", "netns", "add", node.netns)
        _run("ip", "link", "add", node.veth, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", node.netns)
        _run("ip", "link", "set", node.veth, "master", self.bridge, "up")
        inside = ("ip", "netns", "exec", node.netns)
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "link", "set", peer, "name", "eth0")
        _run(*inside, "ip", "addr", "add", f"{node.address}/24", "dev", "eth0")
        _run(*inside, "ip", "link", "set", "eth0", "up")
        _run(*inside, "ip", "route", "add", "default", "via", f"10.231.{self.subnet}.1")
        dockerd = [
            # no DNS from the namespaces: a task referring to an image by tag first tries to pull it, which
            # stalls; Escadre runs local images by id (never pulled) and registry ones by digest (pulled
            # from the cluster's registry by IP), so tests never wait on that
            "dockerd",
            f"--data-root={node.root / 'data'}",
            f"--exec-root={node.root / 'exec'}",
            f"--pidfile={node.root / 'docker.pid'}",
            f"--host={node.host}",
            f"--bip=172.{31 - index}.250.1/24",
            f"--cgroup-parent={node.cgroup}",
            f"--insecure-registry={self.registry_address}",
            "--log-level=warn",
        ]
        script = f"hostname {name} && exec " + " ".join(dockerd)
        log = (node.root / "dockerd.log").open("wb")
        node.process = subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{node.netns}", "unshare", "--uts", "sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def registry_address(self) -> str:
        """``host:port`` of the cluster's registry, as every node (and the host) reaches it."""
        return f"10.231.{self.subnet}.1:5000"

    def _start_registry(self) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise HarnessUnavailable("the registry needs Debian's docker-registry: apt-get install docker-registry")
        root = self.base / "registry"
        root.mkdir()
        (root / "config.yml").write_text(
            f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
            f"http: {{addr: '{self.registry_address}'}}\n"
        )
        log = (root / "registry.log").open("wb")
        self._registry = subprocess.Popen(
            [binary, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((f"10.231.{self.subnet}.1", 5000), 1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the registry did not start: {(root / 'registry.log').read_text()[-500:]}")

    def _wait_engine(self, node: Node, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert node.process is not None
            if node.process.poll() is not None:
                raise RuntimeError(f"dockerd of {node.name} exited: {self.log(node)}")
            if node.socket.exists() and node.docker("version", "--format", "{{.Server.Version}}", check=False):
                return
            time.sleep(0.2)
        raise RuntimeError(f"dockerd of {node.name} did not answer within {timeout}s: {self.log(node)}")

    def _form_swarm(self) -> None:
        manager = self.manager
        manager.docker(
            "swarm", "init", "--advertise-addr", manager.address, "--listen-addr", f"{manager.address}:2377",
            "--dispatcher-heartbeat", "1s", "--task-history-limit", "5",
        )  # fmt: skip
        token = manager.docker("swarm", "join-token", "-q", "worker").strip()
        for node in self.nodes[1 : self.workers + 1]:
            node.docker(
                "swarm", "join", "--token", token, "--advertise-addr", node.address,
                "--listen-addr", f"{node.address}:2377", f"{manager.address}:2377",
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = manager.docker("node", "ls", "--format", "{{.Status}}").split()
            if ready.count("Ready") == self.workers + 1:
                return
            time.sleep(0.3)
        raise RuntimeError(f"the nodes never all became Ready: {manager.docker('node', 'ls')}")

    def log(self, node: Node) -> str:
        path = node.root / "dockerd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    # --------------------------------------------------------------------------------- services

    def load_image(self, ref: str, nodes: Sequence[Node] | None = None) -> None:
        """Copy an image of the host engine onto swarm nodes (``docker save | docker load``: no registry)."""
        data = subprocess.run(["docker", "save", ref], capture_output=True, check=True).stdout
        for node in nodes if nodes is not None else self.nodes[: self.workers + 1]:
            node.docker("load", "-q", input=data, timeout=120)

    def label(self, node: Node, key: str, value: str) -> None:
        self.manager.docker("node", "update", "--label-add", f"{key}={value}", node.name)

    def node_state(self, node: Node) -> str:
        return self.manager.docker("node", "inspect", node.name, "--format", "{{.Status.State}}").strip()

    # ------------------------------------------------------------------------------------ losses

    def _node_pids(self, node: Node) -> list[int]:
        """Every process of the node: dockerd, containerd, shims (by their paths) and containers (by cgroup)."""
        pids: set[int] = set()
        marker = str(node.root)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.add(int(entry.name))
        for procs in (CGROUP_ROOT / "pids" / node.cgroup).glob("**/cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
        if node.process is not None:
            pids.add(node.process.pid)
        return sorted(pids)

    def kill(self, node: Node) -> None:
        """Lose ``node`` abruptly: SIGKILL everything it runs and cut its link."""
        for pid in self._node_pids(node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _run("ip", "link", "set", node.veth, "down", check=False)
        if node.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(10)
        node.alive = False

    def wait_node_state(self, node: Node, state: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node_state(node) == state:
                return
            time.sleep(0.3)
        raise AssertionError(f"node {node.name} never became {state}: {self.manager.docker('node', 'ls')}")

    # ---------------------------------------------------------------------------------- teardown

    def close(self) -> None:
        """Remove every trace; safe to call on a half-built cluster and more than once."""
        for node in self.nodes:
            for pid in self._node_pids(node):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if node.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.process.wait(10)
        time.sleep(0.2)
        self._unmount_all()
        for node in self.nodes:
            _run("ip", "link", "del", node.veth, check=False)
            _run("ip", "netns", "del", node.netns, check=False)
            for controller in CGROUP_ROOT.iterdir():
                self._remove_cgroup(controller / node.cgroup)
        if self._registry is not None:
            self._registry.kill()
            self._registry.wait(10)
            self._registry = None
        if self.bridge:
            _run("ip", "link", "del", self.bridge, check=False)
        if self._rule:
            _run("iptables", "-D", *self._rule, check=False)
            self._rule = []
        if self.base != Path() and self.base.exists():
            shutil.rmtree(self.base, ignore_errors=True)
        self.nodes = []

    def _unmount_all(self) -> None:
        if self.base == Path():
            return
        prefix = str(self.base)
        mounts = []
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix):
                    mounts.append(point)
        for point in sorted(mounts, key=len, reverse=True):
            _run("umount", "-l", point, check=False)

    @staticmethod
    def _remove_cgroup(path: Path) -> None:
        if not path.is_dir():
            return
        for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            path.rmdir()

    def __enter__(self) -> SwarmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def swarm_cluster(workers: int = 2) -> Iterator[SwarmCluster]:
    cluster = SwarmCluster(workers=workers)
    with cluster:
        yield cluster
