import pytest

from litmos_pipeline import settings as cfg

SECRET = "k3y-that-must-never-show"


def test_defaults_and_parsing() -> None:
    s = cfg.load(cfg.LitmosSettings, {
        "LITMOS_API_KEY": SECRET, "LITMOS_SOURCE": "acme-lms",
        "LITMOS_COURSE_IDS": " c1, c2 ,c3", "LITMOS_BASE_URL": "EU",
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


def test_the_schedule_time_zone_must_be_known() -> None:
    zone = cfg.load(cfg.ScheduleSettings, {"LITMOS_SYNC_TIMEZONE": "Europe/Paris"}).timezone
    assert zone == "Europe/Paris"
    for bad in ("Mars/Olympus", "../etc/passwd"):
        with pytest.raises(cfg.SettingsError, match="LITMOS_SYNC_TIMEZONE expected an IANA"):
            cfg.load(cfg.ScheduleSettings, {"LITMOS_SYNC_TIMEZONE": bad})


def litmos(**values: str) -> cfg.LitmosSettings:
    return cfg.load(cfg.LitmosSettings, {"LITMOS_API_KEY": SECRET, "LITMOS_SOURCE": "s",
                                         **values})


@pytest.mark.parametrize("value", ["12,abc,,", ",,", "12,,abc", "12, ,abc", "12,"])
def test_blank_course_id_is_a_settings_error_not_all_courses(value: str) -> None:
    with pytest.raises(cfg.SettingsError, match="LITMOS_COURSE_IDS has a blank entry"):
        litmos(LITMOS_COURSE_IDS=value)


@pytest.mark.parametrize("value", ["", "  "])
def test_unset_or_empty_course_ids_mean_all_courses(value: str) -> None:
    assert litmos(LITMOS_COURSE_IDS=value).course_ids == ()
    assert litmos().course_ids == ()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/v1.svc", "http://127.9.9.9/v1.svc/", "http://localhost:1/v1.svc",
    "http://[::1]:8080/v1.svc", "https://api.litmos.com/v1.svc", "https://proxy.example/x/v1.svc",
])
def test_litmos_url_accepted(url: str) -> None:
    assert litmos(LITMOS_BASE_URL=url).base_url == url.rstrip("/")


@pytest.mark.parametrize(("url", "reason"), [
    ("http://api.litmos.com/v1.svc", "plain http for a non-loopback host"),
    ("http://10.0.0.5:8080/v1.svc", "plain http for a non-loopback host"),
    ("http://localhost.evil.example/v1.svc", "plain http for a non-loopback host"),
    ("https://api.litmos.com", "ending in /v1.svc"),
    ("https://api.litmos.com/v2.svc", "ending in /v1.svc"),
    ("https://api.litmos.com/v1.svc?apikey=leak", "no credentials, query or fragment"),
    ("https://user:pw@api.litmos.com/v1.svc", "no credentials, query or fragment"),
    ("https:///v1.svc", "ending in /v1.svc"),
    ("https://[::1/v1.svc", "ending in /v1.svc"),
])
def test_litmos_url_refused_names_setting_without_value(url: str, reason: str) -> None:
    with pytest.raises(cfg.SettingsError) as err:
        litmos(LITMOS_BASE_URL=url)
    message = str(err.value)
    assert "LITMOS_BASE_URL" in message and reason in message
    assert url not in message and SECRET not in message


def test_loopback_rule_is_shared_with_the_c1_side() -> None:
    from litmos_pipeline.c1 import credentials

    assert credentials.is_loopback_host is cfg.is_loopback_host
    assert cfg.is_loopback_host("127.0.0.1") and cfg.is_loopback_host("[::1]")
    assert not cfg.is_loopback_host("10.0.0.1") and not cfg.is_loopback_host("example.com")


def test_course_ids_must_look_like_litmos_ids() -> None:
    with pytest.raises(cfg.SettingsError, match=r"LITMOS_COURSE_IDS entry 2 is not a Litmos"):
        cfg.load(cfg.LitmosSettings, {"LITMOS_API_KEY": SECRET, "LITMOS_SOURCE": "s",
                                        "LITMOS_COURSE_IDS": "c1,../x"})
