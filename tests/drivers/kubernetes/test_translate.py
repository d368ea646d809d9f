"""The Compose → Kubernetes translation, key by key (the golden files show whole outputs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from escadre.core.errors import SpecError
from escadre.drivers.kubernetes.render import render
from escadre.drivers.kubernetes.translate import Options, translate
from escadre.drivers.kubernetes.translate.common import COMPOSE_PATH, dns_label, parse_version, service_name
from escadre.model.project import Healthcheck
from escadre.model.revision import make_revision
from escadre.spec import load_project
from tests.drivers.kubernetes.helpers import EXAMPLES, fixture_names, load_example, load_fixture, rendered
from tests.support import project, service


def load(tmp_path: Path, text: str, name: str = "t") -> Any:
    (tmp_path / "compose.yaml").write_text(text)
    return load_project([str(tmp_path / "compose.yaml")], project_name=name)


def by_kind(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''}"
    return found[0]


def container(objects: list[dict[str, Any]], name: str, kind: str = "Deployment") -> dict[str, Any]:
    return by_kind(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize("name", fixture_names())
def test_every_object_carries_escadre_labels_and_its_compose_path(name: str) -> None:
    for obj in rendered(load_fixture(name)):
        meta = obj["metadata"]
        labels = meta["labels"]
        assert labels["escadre.managed"] == "true"
        assert labels["escadre.app"] == name
        assert labels["app.kubernetes.io/managed-by"] == "escadre"
        assert labels["app.kubernetes.io/part-of"] == name
        assert meta["annotations"][COMPOSE_PATH].split(".")[0] in (
            "services",
            "networks",
            "volumes",
            "configs",
            "secrets",
            "name",
        )
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            assert labels["escadre.revision"]
            assert obj["spec"]["template"]["metadata"]["labels"]["escadre.revision"] == labels["escadre.revision"]
        if obj["kind"] != "Namespace":
            assert meta["namespace"] == name


def test_the_rendered_revision_is_the_one_up_would_deploy() -> None:
    from escadre.drivers.base import ResolvedImage
    from escadre.operations.plan import service_revision

    proj = load_fixture("basic")
    objects = rendered(proj)
    for name in ("api", "web", "db"):
        svc = proj.services[name]
        assert svc.image is not None
        image_id = svc.image.partition("@")[2] or svc.image
        expected = service_revision(proj, svc, ResolvedImage(svc.image, image_id)).id
        assert by_kind(objects, "Deployment", name)["metadata"]["labels"]["escadre.revision"] == expected


def test_names_are_made_dns_safe_and_collisions_refused(tmp_path: Path) -> None:
    assert dns_label("Shop_DB.data") == "shop-db-data"
    assert service_name("9lives") == "s-9lives"
    assert len(dns_label("x" * 100)) == 63
    with pytest.raises(SpecError, match="would both be named 'my-svc'"):
        translate(load(tmp_path, "services:\n  my_svc: {image: a}\n  my-svc: {image: b}\n"), Options("t"))


def test_versions_are_parsed_and_too_old_ones_refused() -> None:
    assert parse_version("v1.31.4") == (1, 31)
    with pytest.raises(SpecError, match="older than"):
        parse_version("1.20")
    with pytest.raises(SpecError, match=r"MAJOR\.MINOR"):
        parse_version("latest")


# --------------------------------------------------------------------------------------- workloads


def test_one_shot_services_are_jobs_and_long_running_ones_deployments() -> None:
    objects = rendered(load_fixture("jobs"))
    seed = by_kind(objects, "Job", "seed")
    assert seed["spec"]["backoffLimit"] == 3
    assert seed["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    report = by_kind(objects, "Job", "report")
    assert report["spec"]["backoffLimit"] == 0
    assert report["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "selector" not in report["spec"]  # the API server generates a Job's selector
    assert "readinessProbe" not in container(objects, "seed", "Job")
    assert not [o for o in objects if o["kind"] == "Deployment"]


def test_default_update_is_compose_stop_first_one_at_a_time() -> None:
    strategy = by_kind(rendered(load_fixture("basic")), "Deployment", "api")["spec"]["strategy"]
    assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    api = by_kind(rendered(load_fixture("autoscale")), "Deployment", "api")
    assert api["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 2, "maxUnavailable": 0}
    assert api["spec"]["minReadySeconds"] == 15
    assert "replicas" not in api["spec"]  # the HPA owns it
    gpu = by_kind(rendered(load_fixture("autoscale")), "Deployment", "gpu")
    assert gpu["spec"]["strategy"] == {"type": "Recreate"}


def test_statefulset_on_request_with_per_replica_claims() -> None:
    objects = rendered(load_fixture("stateful"))
    sts = by_kind(objects, "StatefulSet", "db")
    (template,) = sts["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "pgdata"
    assert template["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "20Gi"}},
        "storageClassName": "fast-ssd",
    }
    assert sts["spec"]["serviceName"] == "db-headless"
    assert by_kind(objects, "Service", "db-headless")["spec"]["clusterIP"] == "None"
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    assert claims == {"stateful-shared"}  # pgdata is per replica, legacy is external
    assert by_kind(objects, "DaemonSet", "agent")["spec"]["template"]["spec"]["volumes"] == [
        {"name": "host-0", "hostPath": {"path": "/var/log"}}
    ]


def test_statefulset_needs_a_named_volume_and_refuses_canaries(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="mounts no named volume"):
        render(load(tmp_path, "services:\n  db:\n    image: x\n    x-kubernetes: {workload: statefulset}\n"), {})
    text = (
        "services:\n  db:\n    image: x\n    volumes: [d:/d]\n    x-kubernetes: {workload: statefulset}\n"
        "    x-escadre: {rollout: {strategy: canary}}\nvolumes: {d: {}}\n"
    )
    with pytest.raises(SpecError, match="cannot run the canary strategy"):
        render(load(tmp_path, text), {})


def test_pod_spec_does_what_compose_does() -> None:
    objects = rendered(load_fixture("basic"))
    pod = by_kind(objects, "Deployment", "api")["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False
    api = pod["containers"][0]
    assert api["image"].startswith("registry.example.com/shop/api@sha256:")
    assert api["resources"] == {
        "limits": {"cpu": "1500m", "memory": "256Mi"},
        "requests": {"cpu": "250m", "memory": "128Mi"},
    }
    assert {"name": "DB_HOST", "value": "db"} in api["env"]
    migrate = container(objects, "migrate", "Job")
    assert migrate["args"] == ["/app/migrate", "--up"] and "command" not in migrate
    assert by_kind(objects, "Deployment", "db")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30


# ------------------------------------------------------------------------------------------ probes


def test_probes_keep_docker_timing_and_add_a_start_up_margin() -> None:
    api = container(rendered(load_fixture("basic")), "api")
    assert api["readinessProbe"] == {
        "exec": {"command": ["/app/healthcheck"]},
        "periodSeconds": 2,
        "timeoutSeconds": 2,
        "failureThreshold": 5,
        "successThreshold": 1,
    }
    # start_period 20s + 5 retries × 2s = 30s, checked every 2s
    assert api["startupProbe"]["failureThreshold"] == 15
    assert api["startupProbe"]["periodSeconds"] == 2
    assert api["livenessProbe"]["failureThreshold"] == 10
    web = container(rendered(load_fixture("basic")), "web")
    assert web["readinessProbe"]["exec"]["command"][:2] == ["/bin/sh", "-c"]
    # short start: at least 30 s before liveness may kill (every 5 s: min(interval 10s, 5s))
    assert web["startupProbe"]["periodSeconds"] == 5
    assert web["startupProbe"]["failureThreshold"] * 5 >= 30


def test_disabled_healthcheck_and_sub_second_intervals(tmp_path: Path) -> None:
    svc = service("web", healthy_after=0)  # interval 0.3 s
    result = translate(project("p", svc), Options("p"))
    probe = container(result.objects, "web")["readinessProbe"]
    assert probe["periodSeconds"] == 1
    assert any("rounds up to 1s" in n.message for n in result.notes)
    off = replace(svc, healthcheck=Healthcheck(("CMD", "true"), disabled=True))
    assert "readinessProbe" not in container(translate(project("p", off), Options("p")).objects, "web")


# ---------------------------------------------------------------------------------------- security


def test_security_context_from_compose() -> None:
    objects = rendered(load_fixture("security"))
    hardened = container(objects, "hardened")["securityContext"]
    assert hardened == {
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
        "appArmorProfile": {"type": "RuntimeDefault"},
    }
    pod = by_kind(objects, "Deployment", "hardened")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"supplementalGroups": [2000]}
    assert pod["shareProcessNamespace"] is True
    legacy = by_kind(objects, "Deployment", "legacy")["spec"]["template"]["spec"]
    assert legacy["containers"][0]["securityContext"]["privileged"] is True
    assert legacy["containers"][0]["securityContext"]["seLinuxOptions"] == {"type": "spc_t"}
    assert legacy["hostPID"] is True
    assert legacy["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["cache.local", "db.local"]}]
    assert legacy["dnsConfig"]["options"] == [{"name": "ndots", "value": "2"}]
    assert by_kind(objects, "Deployment", "hostnet")["spec"]["template"]["spec"]["hostNetwork"] is True


def test_apparmor_is_an_annotation_before_kubernetes_1_30() -> None:
    objects = rendered(load_fixture("security"), k8s_version="1.29")
    template = by_kind(objects, "Deployment", "hardened")["spec"]["template"]
    assert "appArmorProfile" not in template["spec"]["containers"][0]["securityContext"]
    key = "container.apparmor.security.beta.kubernetes.io/hardened"
    assert template["metadata"]["annotations"][key] == "runtime/default"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("user: postgres", "'postgres' is a name"),
        ("security_opt: [systempaths=unconfined]", "has no Kubernetes equivalent"),
        ("extra_hosts: ['host.docker.internal:host-gateway']", "host-gateway"),
        ("network_mode: 'service:other'", "network_mode"),
        ("ipc: 'service:other'", "ipc"),
        ("deploy: {placement: {constraints: ['engine.labels.x == y']}}", "no Kubernetes node label"),
        ("x-kubernetes: {service_typo: LoadBalancer}", r"x-kubernetes\.service_typo"),
        ("x-kubernetes: {expose: {host: a, path: nope}}", "path must start with"),
    ],
)
def test_values_kubernetes_cannot_carry_are_refused_with_their_location(
    tmp_path: Path, snippet: str, message: str
) -> None:
    proj = load(tmp_path, f"services:\n  other: {{image: o}}\n  web:\n    image: x\n    {snippet}\n")
    with pytest.raises(SpecError, match=message) as info:
        render(proj, {})
    assert "compose.yaml" in str(info.value)


def test_build_only_services_cannot_be_rendered(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(SpecError, match="cannot use an image built here"):
        render(load(tmp_path, "services:\n  web:\n    build: .\n"), {})


# ------------------------------------------------------------------------------------- dependencies


def test_depends_on_becomes_init_containers_that_wait_for_services() -> None:
    objects = rendered(load_fixture("basic"))
    api_init = by_kind(objects, "Deployment", "api")["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in api_init] == ["wait-for-db"]  # migrate is a Job: escadre up waits for it
    web_init = by_kind(objects, "Deployment", "web")["spec"]["template"]["spec"]["initContainers"]
    assert web_init[0]["command"][-1] == "until nc -z -w 2 api 8000; do echo waiting for api; sleep 2; done"
    assert web_init[0]["securityContext"]["runAsNonRoot"] is True


# ------------------------------------------------------------------------------- services & exposure


def test_services_use_container_ports_and_expose_on_request() -> None:
    objects = rendered(load_fixture("exposed"))
    shop = by_kind(objects, "Service", "shop")["spec"]
    assert shop["type"] == "LoadBalancer"
    assert {(p["port"], p["targetPort"]) for p in shop["ports"]} == {
        (8080, 8080),
        (8443, 8443),
        (80, 8080),
        (443, 8443),
    }
    admin = by_kind(objects, "Service", "admin")["spec"]
    assert {p.get("nodePort") for p in admin["ports"]} == {None, 30080}
    assert by_kind(objects, "Service", "worker")["spec"] == {
        "selector": {"escadre.app": "exposed", "escadre.service": "worker"},
        "clusterIP": "None",
    }
    www = by_kind(objects, "Ingress", "www")["spec"]
    assert www["tls"] == [{"secretName": "www-tls", "hosts": ["www.example.com"]}]
    assert www["ingressClassName"] == "nginx"
    route = by_kind(objects, "HTTPRoute", "api")["spec"]
    assert route["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "infra"}
    ]
    assert route["rules"][0]["backendRefs"] == [{"name": "api", "port": 8000}]
    assert route["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]
    assert by_kind(objects, "Ingress", "both") and by_kind(objects, "HTTPRoute", "both")
    public = by_kind(objects, "NetworkPolicy", "www-public")["spec"]
    assert public["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]


def test_networks_become_policies_and_internal_ones_limit_egress() -> None:
    objects = rendered(load_fixture("basic"))
    back = by_kind(objects, "NetworkPolicy", "basic-back")["spec"]
    member = {"matchLabels": {"net.escadre.dev/basic-back": "true"}}
    assert back["podSelector"] == member
    assert back["ingress"] == [{"from": [{"podSelector": member}]}]
    assert back["egress"][0] == {"to": [{"podSelector": member}]}
    assert {"port": 53, "protocol": "UDP"} in back["egress"][1]["ports"]
    assert by_kind(objects, "NetworkPolicy", "basic-front")["spec"]["egress"] == [{}]
    api_labels = by_kind(objects, "Deployment", "api")["spec"]["template"]["metadata"]["labels"]
    assert api_labels["net.escadre.dev/basic-front"] == api_labels["net.escadre.dev/basic-back"] == "true"


def test_disruption_budgets_for_replicated_services_only() -> None:
    objects = rendered(load_fixture("basic"))
    budgets = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "PodDisruptionBudget"}
    assert budgets == {
        "api": {"maxUnavailable": 1, "selector": {"matchLabels": {"escadre.app": "basic", "escadre.service": "api"}}}
    }


def test_autoscaler_from_x_escadre() -> None:
    hpa = by_kind(rendered(load_fixture("autoscale")), "HorizontalPodAutoscaler", "api")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu", "memory"]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120


# --------------------------------------------------------------------------------- configs & secrets


def test_secret_values_never_appear_in_rendered_output() -> None:
    proj = load_fixture("basic")
    secret = (Path(proj.working_dir) / "db_password.txt").read_text().strip()
    text = render(proj, {})
    assert secret not in text
    assert "kind: Secret" not in text
    assert "create secret generic basic-db-password --from-file=db_password=db_password.txt" in text
    for files in EXAMPLES:
        shop = load_example(files)
        value = Path(shop.secrets["db_password"].file or "").read_text().strip()
        assert value not in render(shop, {})


def test_configs_are_config_maps_mounted_as_files_and_roll_pods_when_changed(tmp_path: Path) -> None:
    text = (
        "services:\n  web:\n    image: x\n    configs: [{source: conf, target: /etc/app.conf, mode: 0400}]\n"
        "configs:\n  conf: {file: ./app.conf}\n"
    )
    (tmp_path / "app.conf").write_text("a = 1\n")
    first = rendered(load(tmp_path, text))
    assert by_kind(first, "ConfigMap")["data"] == {"conf": "a = 1\n"}
    mount = container(first, "web")["volumeMounts"][0]
    assert mount == {"name": "config-conf", "mountPath": "/etc/app.conf", "subPath": "conf", "readOnly": True}
    volume = by_kind(first, "Deployment")["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["items"] == [{"key": "conf", "path": "conf", "mode": 0o400}]
    (tmp_path / "app.conf").write_text("a = 2\n")
    second = rendered(load(tmp_path, text))

    def checksum(objs: list[dict[str, Any]]) -> str:
        return by_kind(objs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["escadre.dev/checksum-config"]  # type: ignore[no-any-return]

    assert checksum(first) != checksum(second)


def test_external_secrets_configs_and_volumes_are_referenced_not_created() -> None:
    objects = rendered(load_fixture("jobs"))
    assert not [o for o in objects if o["kind"] in ("Secret", "ConfigMap", "PersistentVolumeClaim")]
    volumes = by_kind(objects, "Job", "report")["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "secret-api-token",
        "secret": {"secretName": "shared-api-token", "items": [{"key": "api_token", "path": "api_token"}]},
    } in volumes
    assert {"name": "reports", "persistentVolumeClaim": {"claimName": "reports-claim"}} in volumes


# ------------------------------------------------------------------------------------------ live mode


def test_live_mode_names_and_selects_one_workload_per_revision() -> None:
    proj = project("shop", service("web", replicas=2))
    svc = proj.services["web"]
    rev = make_revision(svc, image=svc.image or "", image_id=None)
    from escadre.drivers.kubernetes.translate import Ctx, workload_objects

    (dep,) = workload_objects(Ctx(proj, Options("shop", live=True)), svc, rev, 3)
    assert dep["metadata"]["name"] == f"web-{rev.id}"
    assert dep["spec"]["selector"]["matchLabels"] == {
        "escadre.app": "shop",
        "escadre.service": "web",
        "escadre.revision": rev.id,
    }
    assert dep["spec"]["replicas"] == 3
    assert dep["metadata"]["annotations"]["escadre.dev/replicas"] == "3"


def test_notes_say_what_was_approximated() -> None:
    result = translate(load_fixture("stateful"), Options("stateful"))
    paths = {n.path for n in result.notes}
    assert "services.agent.volumes" in paths  # hostPath
    assert "services.files.volumes" not in paths  # ReadWriteMany, and an external claim: nothing to say
    header = render(load_fixture("stateful"), {}).split("---", 1)[0]
    assert "hostPath" in header and header.count("\n#   ") == len(result.notes)


def test_namespace_option_and_default(tmp_path: Path) -> None:
    proj = load(tmp_path, "services:\n  web: {image: x}\n", name="my_app")
    assert by_kind(rendered(proj), "Namespace")["metadata"]["name"] == "my-app"
    objects = rendered(proj, namespace="prod")
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"prod"}
