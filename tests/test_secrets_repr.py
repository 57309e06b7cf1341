"""Resources never show a secret in repr, str, rich repr or the config Dagster keeps."""

from __future__ import annotations

import dagster as dg
import pytest

from litmos_pipeline.defs.resources import C1Resource, LitmosResource

API_KEY = "litmos-api-key-must-not-show"
C1_SECRET = "secret-token:conductorone.com:v1:must-not-show"


def shown(resource: dg.ConfigurableResource) -> list[str]:
    rich = "".join(repr(part) for part in resource.__rich_repr__())
    return [repr(resource), str(resource), rich, f"{resource}", f"{resource!r}"]


@pytest.mark.parametrize(("resource", "secret", "visible"), [
    (LitmosResource(api_key=API_KEY, source="acme"), API_KEY, "acme"),
    (C1Resource(client_id="n@acme.conductor.one/pcc", client_secret=C1_SECRET),
     C1_SECRET, "n@acme.conductor.one/pcc"),
])
def test_resource_text_shows_no_secret(resource: dg.ConfigurableResource, secret: str,
                                       visible: str) -> None:
    for text in shown(resource):
        assert secret not in text and "must-not-show" not in text
        assert visible in text  # the rest of the config is still shown


def test_secret_is_still_there_for_the_clients() -> None:
    litmos = LitmosResource(api_key=API_KEY, source="acme")
    assert litmos.settings().api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(litmos.settings())


def test_dagster_sees_env_var_names_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Definitions' resources point at environment variables; their config is names."""
    monkeypatch.setenv("LITMOS_API_KEY", API_KEY)
    monkeypatch.setenv("C1_CLIENT_ID", "n@acme.conductor.one/pcc")
    monkeypatch.setenv("C1_CLIENT_SECRET", C1_SECRET)
    for resource in (LitmosResource.from_env(), C1Resource.from_env()):
        config = str(resource.get_resource_definition().config_schema.as_field())
        for text in [*shown(resource), config]:
            assert "must-not-show" not in text
