"""The Litmos sandbox's hostile answers, seen on the wire: cut bodies, malformed pages,
repeated pages, a key revoked half way, a course deleted after it was listed, LoginKey."""

from __future__ import annotations

import http.client
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from litmos_sandbox.litmos import FaultRule, LitmosSandbox
from litmos_sandbox.litmos.tenant import TenantSpec


@pytest.fixture
def sb() -> Iterator[LitmosSandbox]:
    with LitmosSandbox(TenantSpec.preset("tiny"), rate_limit_per_minute=None) as sandbox:
        yield sandbox


def get(sb: LitmosSandbox, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{sb.base_url}{path}", params={"source": "t", **params},
                     headers={"apikey": sb.api_key}, timeout=10)


def raw_get(sb: LitmosSandbox, path: str) -> tuple[int, bytes]:
    """(promised Content-Length, bytes received before the server closed the socket)."""
    with socket.create_connection((sb.host, sb.port), timeout=10) as conn:
        request = (f"GET /v1.svc{path}?source=t HTTP/1.1\r\nHost: x\r\n"
                   f"apikey: {sb.api_key}\r\n\r\n")
        conn.sendall(request.encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return length, body


def test_cut_body_promises_the_length_sends_half_and_closes(sb: LitmosSandbox) -> None:
    sb.add_fault(FaultRule("cut", count=1, path_prefix="/users"))
    promised, received = raw_get(sb, "/users")
    assert promised > 100 and len(received) == promised // 2
    sb.add_fault(FaultRule("cut", count=1, path_prefix="/users"))
    conn = http.client.HTTPConnection(sb.host, sb.port, timeout=10)
    conn.request("GET", "/v1.svc/users?source=t", headers={"apikey": sb.api_key})
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    assert get(sb, "/users").status_code == 200  # one answer only
    assert sb.stats()["injected_faults"]["cut"] == 2


def test_malformed_page_is_complete_on_the_wire_but_does_not_parse(sb: LitmosSandbox) -> None:
    sb.add_fault(FaultRule("malformed", count=2, path_prefix="/teams"))
    xml = get(sb, "/teams")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    with pytest.raises(ET.ParseError):
        ET.fromstring(xml.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(get(sb, "/teams", format="json").content)
    ET.fromstring(get(sb, "/teams").content)  # the rule is used up


def test_repeat_answers_the_previous_page(sb: LitmosSandbox) -> None:
    sb.add_fault(FaultRule("repeat", count=1, path_prefix="/users"))
    first = get(sb, "/users", start="0", limit="4", format="json").json()  # not used up
    second = get(sb, "/users", start="4", limit="4", format="json").json()
    third = get(sb, "/users", start="4", limit="4", format="json").json()
    assert [u["Id"] for u in second] == [u["Id"] for u in first]
    assert not {u["Id"] for u in third} & {u["Id"] for u in first}


def test_key_revoked_after_n_requests(sb: LitmosSandbox) -> None:
    sb.add_fault(FaultRule("401", after=3))
    statuses = [get(sb, "/users").status_code for _ in range(6)]
    assert statuses == [200, 200, 200, 401, 401, 401]
    assert "Unauthorized" in get(sb, "/teams").text


def test_course_deleted_between_listing_and_enrollees(sb: LitmosSandbox) -> None:
    course = sb.tenant.courses()[1]
    assert get(sb, f"/courses/{course.id}/users").status_code == 200  # not yet armed
    sb.vanish_course_after_listing(course.id)
    listed = [c["Id"] for c in get(sb, "/courses", format="json").json()]
    assert course.id in listed  # the list that was answered still showed it
    assert get(sb, f"/courses/{course.id}/users").status_code == 404
    assert get(sb, f"/courses/{course.id}").status_code == 404
    assert course.id not in [c["Id"] for c in get(sb, "/courses", format="json").json()]
    assert sb.app.vanished_courses == {course.id}
    other = sb.tenant.courses()[0]
    assert get(sb, f"/courses/{other.id}/users").status_code == 200


def test_vanish_through_the_control_api(sb: LitmosSandbox) -> None:
    course = sb.tenant.courses()[0]
    r = httpx.post(f"{sb.control_url}/vanish-course", json={"course_id": course.id})
    assert r.status_code == 200
    assert httpx.post(f"{sb.control_url}/vanish-course", json={}).status_code == 400
    get(sb, "/courses")
    assert get(sb, f"/courses/{course.id}/users").status_code == 404


def test_single_user_record_carries_a_distinctive_login_key(sb: LitmosSandbox) -> None:
    users = sb.tenant.users()[:3]
    keys = {sb.login_key(u.id) for u in users}
    assert len(keys) == 3 and all("/login.aspx?loginkey=" in k for k in keys)
    for user in users:
        key = sb.login_key(user.id)
        assert get(sb, f"/users/{user.id}", format="json").json()["LoginKey"] == key
        root = ET.fromstring(get(sb, f"/users/{user.id}").content)
        assert root.findtext("LoginKey") == key
    listed = get(sb, "/users").text
    assert "loginkey" not in listed.lower()  # only the single-user record carries it
