"""A stateful fake Kubernetes API server for testing the live driver without a cluster.

No API server can be obtained on CI machines, and ``kmock`` keeps no state (no resourceVersion, no
label selectors, no server-side apply). This package keeps the semantics the driver relies on, over real
HTTP, so the driver is exercised through the official ``kubernetes`` client exactly as against a cluster:

* ``store.py`` — objects, resourceVersion and 409s, generation, status subresource, selectors, watch;
* ``merge.py`` — server-side apply with field managers, merge patches;
* ``server.py`` — the REST paths, discovery, 401/403, pod logs; ``FakeCluster`` ties it all together;
* ``controller.py`` — a simulated controller manager and kubelet, with scripted failures.

Each module's docstring lists what it does **not** simulate; docs/kubernetes.md sums it up.
"""

from tests.drivers.kubernetes.fakeapi.server import FakeCluster

__all__ = ["FakeCluster"]
