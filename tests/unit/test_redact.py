from __future__ import annotations

import pytest

from escadre.core.redact import looks_secret, redact_spec, redact_value


@pytest.mark.parametrize(
    "key", ["DB_PASSWORD", "api_key", "SECRET", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "PGPASSWD"]
)
def test_secret_names(key: str) -> None:
    assert looks_secret(key)


@pytest.mark.parametrize("key", ["LOG_LEVEL", "PORT", "HOSTNAME", "REDIS_HOST"])
def test_plain_names(key: str) -> None:
    assert not looks_secret(key)


def test_values_are_replaced_by_a_digest_marker() -> None:
    out = redact_value("DB_PASSWORD", "hunter2")
    assert "hunter2" not in out
    assert out.startswith("<redacted sha256:")
    assert redact_value("DB_PASSWORD", "hunter2") == out  # stable, so changes stay visible
    assert redact_value("LOG_LEVEL", "debug") == "debug"


def test_credentials_in_urls_are_hidden() -> None:
    out = redact_value("DATABASE", "postgresql://shop:s3cret@db:5432/shop")
    assert "s3cret" not in out
    assert out.startswith("postgresql://shop:<redacted")
    assert out.endswith("@db:5432/shop")


def test_redact_spec_walks_services_build_args_and_secret_content() -> None:
    doc = {
        "services": {
            "api": {"environment": {"API_TOKEN": "abc", "MODE": "prod"}, "build": {"args": {"NPM_TOKEN": "xyz"}}}
        },
        "secrets": {"pw": {"content": "topsecret"}, "f": {"file": "/x"}},
    }
    out = redact_spec(doc)
    text = repr(out)
    for value in ("abc", "xyz", "topsecret"):
        assert f"'{value}'" not in text
    assert out["services"]["api"]["environment"]["MODE"] == "prod"
    assert out["secrets"]["f"] == {"file": "/x"}
    assert doc["services"]["api"]["environment"]["API_TOKEN"] == "abc"  # input untouched


def test_paths_to_secret_files_are_not_secrets() -> None:
    assert redact_value("DB_PASSWORD_FILE", "/run/secrets/db_password") == "/run/secrets/db_password"
    assert redact_value("DB_PASSWORD_FILE", "hunter2").startswith("<redacted")
