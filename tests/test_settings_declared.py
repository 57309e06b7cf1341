"""Each setting is declared once (litmos_pipeline.settings); everything else derives from it."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from litmos_pipeline import settings as cfg
from litmos_pipeline.defs.resources import RESOURCES, SettingsResource

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^\| variable \|.*?\n(?=\n)", text, flags=re.S | re.M)
    assert match, "the README has no settings table"
    return match.group(0)


def test_readme_table_is_the_declarations() -> None:
    # Regenerate with: .venv/bin/python -m litmos_pipeline.settings
    assert readme_table() == cfg.settings_table()


def test_every_variable_is_declared_once() -> None:
    names = [cfg.env_name(f) for model in cfg.GROUPS for f in model.model_fields.values()]
    assert len(names) == len(set(names))
    assert all(f.description for model in cfg.GROUPS for f in model.model_fields.values())


def test_each_resource_carries_its_group_under_the_same_field_names() -> None:
    carried = {cls.settings_model for cls in RESOURCES}
    assert carried == {model for model in cfg.GROUPS if model.resource}
    for cls in RESOURCES:
        fields = cls.model_fields
        assert set(fields) == set(cls.settings_model.model_fields)
        for name, field in cls.settings_model.model_fields.items():
            assert fields[name].repr is not cfg.is_secret(field), name
            assert cfg.env_name(field) in (fields[name].description or "")


def unset(monkeypatch: pytest.MonkeyPatch, model: type[cfg.Settings]) -> None:
    # Set first, so that monkeypatch restores the variables from_env declares empty.
    for field in model.model_fields.values():
        monkeypatch.setenv(cfg.env_name(field), "")
        monkeypatch.delenv(cfg.env_name(field))


@pytest.mark.parametrize("cls", RESOURCES, ids=lambda c: c.__name__)
def test_definitions_point_every_field_at_its_variable(cls: type[SettingsResource],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    unset(monkeypatch, cls.settings_model)
    resource = cls.from_env()
    for name, field in cls.settings_model.model_fields.items():
        value = getattr(resource, name)
        assert isinstance(value, dg.EnvVar) and value.env_var_name == cfg.env_name(field)


def test_unset_optional_settings_resolve_to_the_declared_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from litmos_pipeline.defs.resources import WarehouseResource

    unset(monkeypatch, cfg.WarehouseSettings)
    resource = WarehouseResource.from_env()
    assert resource.settings() == cfg.load(cfg.WarehouseSettings, {})
    assert resource.settings().history_retention_syncs == 30
