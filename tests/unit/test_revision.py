from __future__ import annotations

from escadre.model.project import Service, frozen_map
from escadre.model.revision import REVISION_ID_LENGTH, make_revision, revision_spec


def svc(**spec: object) -> Service:
    return Service(name="api", image="shop/api:1", spec=frozen_map(spec))


def test_same_spec_same_revision() -> None:
    a = make_revision(svc(image="shop/api:1", environment={"A": "1"}), image="shop/api:1", image_id="sha256:aa")
    b = make_revision(svc(image="shop/api:1", environment={"A": "1"}), image="shop/api:1", image_id="sha256:aa")
    assert a.id == b.id
    assert len(a.id) == REVISION_ID_LENGTH


def test_spec_change_makes_new_revision() -> None:
    a = make_revision(svc(environment={"A": "1"}), image="x", image_id="sha256:aa")
    b = make_revision(svc(environment={"A": "2"}), image="x", image_id="sha256:aa")
    assert a.id != b.id


def test_image_change_makes_new_revision() -> None:
    a = make_revision(svc(), image="x", image_id="sha256:aa")
    b = make_revision(svc(), image="x", image_id="sha256:bb")
    assert a.id != b.id


def test_replicas_and_rollout_settings_do_not_change_the_revision() -> None:
    a = make_revision(svc(deploy={"replicas": 1, "resources": {"limits": {"memory": 5}}}), image="x", image_id="i")
    b = make_revision(
        svc(
            deploy={"replicas": 5, "resources": {"limits": {"memory": 5}}},
            **{"x-escadre": {"rollout": {}}},
            depends_on={"db": {}},
        ),
        image="x",
        image_id="i",
    )
    assert a.id == b.id
    c = make_revision(svc(deploy={"replicas": 1, "resources": {"limits": {"memory": 6}}}), image="x", image_id="i")
    assert c.id != a.id


def test_secret_content_digest_changes_the_revision() -> None:
    a = make_revision(svc(), image="x", image_id="i", content_digests={"secret:pw": "d1"})
    b = make_revision(svc(), image="x", image_id="i", content_digests={"secret:pw": "d2"})
    assert a.id != b.id


def test_build_section_ignored_when_image_id_known() -> None:
    spec = svc(build={"context": "/src"})
    assert "build" not in revision_spec(spec, image_known=True)
    assert "build" in revision_spec(spec, image_known=False)
