from __future__ import annotations

import json

import pytest

from escadre.core.errors import SourceLocation
from escadre.model.project import (
    Dependency,
    FileMount,
    Healthcheck,
    Mount,
    Port,
    Resources,
    ServiceNetwork,
    UpdateConfig,
)

from .conftest import Project, where

COMPOSE = """
name: shop
x-escadre:
  analysis_templates:
    success-rate:
      metrics:
        - name: ok
          provider: {http: {path: /health}}
  rollout: {strategy: rolling}
services:
  api:
    build: ./api
    command: serve --port 8000
    environment: {MODE: prod}
    ports: ["8000:8000", "9000/udp"]
    volumes: ["./data:/data:ro", "cache:/cache"]
    tmpfs: ["/run:size=64m,mode=1777"]
    secrets: [token]
    depends_on:
      db: {condition: service_healthy}
    healthcheck: {test: ["CMD", "true"], interval: 5s, retries: 2}
    deploy:
      replicas: 3
      resources: {limits: {cpus: "0.5", memory: 256m}}
      update_config: {delay: 10s, order: start-first}
    devices: ["/dev/fuse:/dev/fuse:rwm"]
    x-escadre:
      rollout:
        strategy: canary
        steps:
          - set_weight: 20
          - pause: 30s
          - analysis: {templates: [success-rate]}
  db:
    image: postgres:16
volumes:
  cache:
secrets:
  token: {file: ./token.txt}
"""


@pytest.fixture
def shop(proj: Project) -> Project:
    proj.write("api/Dockerfile", "FROM python\n")
    proj.write("token.txt", "t0ken\n")
    proj.write("compose.yaml", COMPOSE)
    return proj


def test_model_fields(shop: Project) -> None:
    project = shop.load(project_name=None).project
    assert project.name == "shop"
    assert project.working_dir == str(shop.root)
    assert project.files == (str(shop.root / "compose.yaml"),)
    api = project.services["api"]
    assert api.image == "shop-api"
    assert api.build is not None
    assert api.build.context == str(shop.root / "api")
    assert api.command == ("serve", "--port", "8000")
    assert dict(api.environment) == {"MODE": "prod"}
    assert api.ports == (Port(target=8000, published=8000), Port(target=9000, protocol="udp"))
    assert api.mounts == (
        Mount(type="bind", target="/data", source=str(shop.root / "data"), read_only=True),
        Mount(type="volume", target="/cache", source="cache", create_host_path=False),
        Mount(type="tmpfs", target="/run", tmpfs_size=64 * 1024**2, tmpfs_mode=0o1777),
    )
    assert api.secrets == (FileMount(source="token", target="/run/secrets/token"),)
    assert api.depends_on == (Dependency(service="db", condition="service_healthy"),)
    assert api.healthcheck == Healthcheck(test=("CMD", "true"), interval=5.0, retries=2)
    assert api.replicas == 3
    assert api.deploy.limits == Resources(cpus=0.5, memory=256 * 1024**2)
    assert api.deploy.update_config == UpdateConfig(delay=10.0, order="start-first")
    assert api.networks == (ServiceNetwork(name="default"),)
    assert api.devices == ("/dev/fuse:/dev/fuse:rwm",)
    assert api.location == SourceLocation(str(shop.root / "compose.yaml"), 10, 3)
    assert project.services["db"].image == "postgres:16"
    assert project.networks["default"].name == "shop_default"
    assert project.volumes["cache"].name == "shop_cache"
    token = project.secrets["token"]
    assert (token.name, token.file) == ("shop_token", str(shop.root / "token.txt"))
    assert token.location == SourceLocation(str(shop.root / "compose.yaml"), 38, 3)
    assert project.dependency_order() == [["db"], ["api"]]


def test_settings_are_parsed(shop: Project) -> None:
    project = shop.load().project
    rollout = project.rollout_for("api")
    assert rollout.strategy == "canary"
    assert [s.set_weight for s in rollout.steps] == [20, None, None]
    assert rollout.steps[1].pause is not None
    assert rollout.steps[1].pause.duration == 30.0
    assert project.rollout_for("db").strategy == "rolling"
    assert project.settings is not None
    assert list(project.settings.analysis_templates) == ["success-rate"]


def test_specs_are_json_and_read_only(shop: Project) -> None:
    project = shop.load().project
    json.dumps(dict(project.spec), default=dict)
    json.dumps(dict(project.services["api"].spec))
    with pytest.raises(TypeError):
        project.services["api"].spec["image"] = "x"  # type: ignore[index]
    assert project.services["api"].spec["x-escadre"]["rollout"]["strategy"] == "canary"


def test_invalid_strategy(proj: Project) -> None:
    error = proj.error("services:\n  api:\n    image: x\n    x-escadre:\n      rollout:\n        strategy: bluegreen\n")
    assert where(error) == ("compose.yaml", 6, 9)
    assert (
        error.message == "services.api.x-escadre.rollout.strategy: must be one of recreate, rolling, blue-green, canary"
    )


def test_unknown_settings_key_with_suggestion(proj: Project) -> None:
    error = proj.error("services:\n  api:\n    image: x\n    x-escadre:\n      rollout:\n        stratgy: canary\n")
    assert where(error) == ("compose.yaml", 6, 9)
    assert error.message == "services.api.x-escadre.rollout.stratgy: unknown key 'stratgy' (did you mean 'strategy'?)"


def test_settings_validator_messages(proj: Project) -> None:
    error = proj.error(
        "services:\n  api:\n    image: x\n    x-escadre:\n      rollout:\n        strategy: rolling\n"
        "        steps: [{set_weight: 10}]\n"
    )
    assert where(error) == ("compose.yaml", 5, 7)
    assert error.message == "services.api.x-escadre.rollout: 'steps' only applies to the canary strategy, not 'rolling'"
    error = proj.error(
        "x-escadre:\n  rollout: {strategy: canary, steps: [{set_weight: 101}]}\nservices:\n  a: {image: x}\n"
    )
    assert error.message == "x-escadre.rollout.steps[0].set_weight: input should be less than or equal to 100"
    assert where(error) == ("compose.yaml", 2, 40)


def test_missing_required_settings_key(proj: Project) -> None:
    error = proj.error("services:\n  api:\n    image: x\n    x-escadre:\n      autoscale: {cpu: 50}\n")
    assert error.message == "services.api.x-escadre.autoscale.max_replicas: missing required key 'max_replicas'"
    assert where(error) == ("compose.yaml", 5, 7)


def test_undefined_analysis_template(proj: Project) -> None:
    error = proj.error(
        """
        services:
          api:
            image: x
            x-escadre:
              rollout:
                strategy: canary
                steps:
                  - set_weight: 20
                  - analysis: {templates: [missing]}
        """
    )
    assert where(error) == ("compose.yaml", 9, 36)
    assert error.message == (
        "services.api.x-escadre.rollout.steps[1].analysis.templates[0]: analysis template 'missing' is not defined "
        "(defined: none)"
    )
