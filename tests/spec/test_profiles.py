from __future__ import annotations

from .conftest import Project, where

COMPOSE = """
services:
  web:
    image: web
  debug:
    image: debug
    profiles: [dev, debug]
  worker:
    image: worker
    profiles: [jobs]
networks:
  unused: {}
"""


def test_services_without_profiles_are_always_enabled(proj: Project) -> None:
    project = proj.load(COMPOSE).project
    assert list(project.services) == ["web"]
    assert project.profiles == ()
    assert "unused" in project.networks


def test_profile_enables_its_services(proj: Project) -> None:
    project = proj.load(COMPOSE, profiles=["debug"]).project
    assert list(project.services) == ["web", "debug"]
    assert project.profiles == ("debug",)


def test_compose_profiles_variable(proj: Project) -> None:
    project = proj.load(COMPOSE, environ={"COMPOSE_PROFILES": "jobs, dev"}).project
    assert list(project.services) == ["web", "debug", "worker"]


def test_compose_profiles_from_dotenv_and_star(proj: Project) -> None:
    proj.write(".env", "COMPOSE_PROFILES=jobs\n")
    assert list(proj.load(COMPOSE).project.services) == ["web", "worker"]
    assert list(proj.load(COMPOSE, profiles=["*"]).project.services) == ["web", "debug", "worker"]


def test_explicit_profiles_win_over_the_variable(proj: Project) -> None:
    project = proj.load(COMPOSE, profiles=[], environ={"COMPOSE_PROFILES": "jobs"}).project
    assert list(project.services) == ["web"]


def test_dependency_on_a_disabled_service_names_the_profile(proj: Project) -> None:
    error = proj.error(
        """
        services:
          web:
            image: web
            depends_on:
              - db
              - cache
          db: {image: db}
          cache:
            image: redis
            profiles: [cache]
        """
    )
    assert where(error) == ("compose.yaml", 6, 9)
    assert error.message == (
        "services.web.depends_on.cache: service 'web' depends on 'cache', which is only in profile(s) 'cache': "
        "add --profile cache"
    )


def test_optional_dependency_on_a_disabled_service_is_dropped(proj: Project) -> None:
    result = proj.load(
        """
        services:
          web:
            image: web
            depends_on:
              cache: {condition: service_started, required: false}
          cache: {image: redis, profiles: [cache]}
        """
    )
    assert result.project.services["web"].depends_on == ()
    assert result.warnings == ["service 'web': optional dependency 'cache' is disabled by profiles; ignored"]
