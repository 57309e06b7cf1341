import pytest

from litmos_pipeline import settings as cfg

SECRET = "k3y-that-must-never-show"


def test_defaults_and_parsing() -> None:
    s = cfg.load(cfg.LitmosSettings, {
        "LITMOS_API_KEY": SECRET, "LITMOS_SOURCE": "acme-lms",
        "LITMOS_COURSE_IDS": " c1, c2 ,,c3", "LITMOS_BASE_URL": "EU",
        "LITMOS_SYNC_TEAM_ROLES": "off",
    })
    assert s.course_ids == ("c1", "c2", "c3")
    assert s.base_url == "https://api.litmoseu.com/v1.svc"
    assert s.sync_team_roles is False
    assert s.requests_per_minute == 90
    assert SECRET not in repr(s)


def test_missing_setting_is_named() -> None:
    with pytest.raises(cfg.SettingsError, match="LITMOS_API_KEY is not set"):
        cfg.load(cfg.LitmosSettings, {"LITMOS_SOURCE": "x"})


@pytest.mark.parametrize(("name", "value"), [
    ("LITMOS_BASE_URL", "ftp://nope"),
    ("LITMOS_SYNC_TEAM_ROLES", "perhaps"),
    ("LITMOS_REQUESTS_PER_MINUTE", "-1"),
    ("LITMOS_SOURCE", "s" * 51),
])
def test_malformed_setting_is_named_without_value(name: str, value: str) -> None:
    values = {"LITMOS_API_KEY": SECRET, "LITMOS_SOURCE": "src", name: value}
    with pytest.raises(cfg.SettingsError) as err:
        cfg.load(cfg.LitmosSettings, values)
    assert name in str(err.value)
    assert value not in str(err.value)
    assert SECRET not in str(err.value)


def test_too_long_api_key_does_not_echo_it() -> None:
    long_key = "x" * 60
    with pytest.raises(cfg.SettingsError) as err:
        cfg.load(cfg.LitmosSettings, {"LITMOS_API_KEY": long_key, "LITMOS_SOURCE": "s"})
    assert "LITMOS_API_KEY" in str(err.value)
    assert long_key not in str(err.value)


def test_cron_must_have_five_fields() -> None:
    with pytest.raises(cfg.SettingsError, match="LITMOS_SYNC_CRON"):
        cfg.load(cfg.ScheduleSettings, {"LITMOS_SYNC_CRON": "daily"})
