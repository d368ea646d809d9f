from __future__ import annotations

import pytest

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.interpolate import Interpolator, TemplateError, interpolate_tree, missing_warnings
from escadre.spec.yamlsource import Override, parse_yaml

from .conftest import Project, where

ENV = {"SET": "value", "EMPTY": "", "B": "b"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("pre-${SET}-post", "pre-value-post"),
        ("$SET.txt", "value.txt"),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${SET:-default}", "value"),
        ("${UNSET-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${SET:+replacement}", "replacement"),
        ("${EMPTY:+replacement}", ""),
        ("${UNSET:+replacement}", ""),
        ("${EMPTY+replacement}", "replacement"),
        ("${UNSET+replacement}", ""),
        ("$$SET", "$SET"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-${ALSO_UNSET:-x}}", "x"),
        ("${UNSET:-${B}}", "b"),
        ("${UNSET:-a $$ b}", "a $ b"),
        ("${SET:-${UNSET:?never evaluated}}", "value"),
        ("${UNSET:-}", ""),
        ("$UNSET", ""),
    ],
)
def test_forms(template: str, expected: str) -> None:
    assert Interpolator(ENV.get).substitute(template) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?set it}", "required variable UNSET is missing a value: set it"),
        ("${EMPTY:?}", "required variable EMPTY is missing a value"),
        ("${UNSET?must be set}", "required variable UNSET is missing a value: must be set"),
        ("${UNSET:-${OTHER:?neither}}", "required variable OTHER is missing a value: neither"),
        (
            "echo $1",
            "invalid use of '$' in 'echo $1': write '$$' for a literal dollar sign, or $NAME / ${NAME} for a variable",
        ),
        ("5$", "a '$' at the end of a value must be written '$$'"),
        ("${SET", "unclosed '${' in '${SET'"),
        ("${UNSET:-${X}", "unclosed '${' in '${UNSET:-${X}'"),
        ("${A B}", "invalid character ' ' after ${A in '${A B}'"),
        ("${}", "invalid variable name '' in '${}'"),
    ],
)
def test_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Interpolator(ENV.get).substitute(template)
    assert str(info.value) == message


def test_set_but_empty_satisfies_the_question_form_without_colon() -> None:
    assert Interpolator(ENV.get).substitute("${EMPTY?x}") == ""


def test_unset_variables_are_reported_once_each_in_order() -> None:
    interpolator = Interpolator(ENV.get)
    interpolator.substitute("$ZED ${ALPHA} $ZED ${SET}")
    assert missing_warnings(interpolator) == [
        'The "ZED" variable is not set. Defaulting to a blank string.',
        'The "ALPHA" variable is not set. Defaulting to a blank string.',
    ]


def test_tree_interpolates_values_not_keys_and_locates_errors() -> None:
    parsed = parse_yaml("services:\n  ${SET}:\n    image: ${SET}\n    x: [a, '${SET}', !override '${B}']\n", "c.yaml")
    interpolate_tree(parsed.data, parsed.loc, Interpolator(ENV.get))
    assert parsed.data == {"services": {"${SET}": {"image": "value", "x": ["a", "value", Override("b")]}}}
    bad = parse_yaml("services:\n  web:\n    image: 'x:${TAG:?tag needed}'\n", "c.yaml")
    with pytest.raises(SpecError) as info:
        interpolate_tree(bad.data, bad.loc, Interpolator(ENV.get))
    assert str(info.value) == "c.yaml:3:12: services.web.image: required variable TAG is missing a value: tag needed"
    assert info.value.location == SourceLocation("c.yaml", 3, 12)


def test_loader_uses_environment_over_dotenv_and_warns(proj: Project) -> None:
    proj.write(".env", "TAG=from-dotenv\nOTHER=dotenv\n")
    result = proj.load(
        """
        services:
          web:
            image: "app:${TAG}"
            environment:
              OTHER: $OTHER
              MISSING: ${NOPE}
        """,
        environ={"TAG": "from-env"},
    )
    web = result.project.services["web"]
    assert web.image == "app:from-env"
    assert dict(web.environment) == {"OTHER": "dotenv", "MISSING": ""}
    assert result.warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


def test_required_variable_error_from_the_loader(proj: Project) -> None:
    error = proj.error(
        """
        services:
          db:
            image: postgres
            environment:
              POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}
        """
    )
    assert where(error) == ("compose.yaml", 5, 26)
    assert (
        error.message
        == "services.db.environment.POSTGRES_PASSWORD: required variable DB_PASSWORD is missing a value: set it"
    )


def test_interpolated_strings_are_cast_after_validation(proj: Project) -> None:
    web = proj.load(
        """
        services:
          web:
            image: x
            read_only: ${RO:-true}
            deploy:
              replicas: ${N:-3}
        """
    ).project.services["web"]
    assert web.read_only is True
    assert web.replicas == 3


def test_project_name_is_available_for_interpolation(proj: Project) -> None:
    spec = proj.spec("services:\n  web:\n    image: x\n    labels: {p: $COMPOSE_PROJECT_NAME}\n", project_name="shop")
    assert spec["services"]["web"]["labels"] == {"p": "shop"}
