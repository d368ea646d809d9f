"""The Kubernetes target: Compose → manifests (``render``), and a live driver over the official client.

Layout, and why it is split this way:

* ``translate/`` — pure functions from the immutable ``Project`` to Kubernetes objects (plain dicts), one
  module per concern (workloads, pods, probes, security, services, config, storage, network, autoscale).
  No I/O, no client: golden-tested, and shared by ``render`` and the live driver so what ``escadre render
  kubernetes`` prints is exactly what ``escadre up`` applies.
* ``render.py`` — ``render(project, options) -> str``: multi-document YAML for ``kubectl apply -f``.
* ``validate.py`` — every rendered object against the official schemas (``kubernetes-validate``) and the
  Gateway API CRD schemas.
* ``support.py`` — what this target does with every Compose key (``TABLE``).
* ``client.py`` — the only module that imports the ``kubernetes`` SDK: kubeconfig loading, raw REST calls
  and the translation of API errors into Escadre's exception tree.
* ``driver.py`` (+ ``observe.py``, ``traffic.py``) — ``KubernetesDriver``.

Importing this package imports neither the SDK nor the driver: ``escadre render kubernetes`` must work on a
machine without the ``kubernetes`` extra.
"""
