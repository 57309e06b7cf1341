import pytest

from litmos_pipeline.litmos.records import (
    LitmosParseError,
    parse_page,
    parse_record,
    parse_records,
)

XML = b"""<?xml version="1.0" encoding="utf-8"?>
<Users xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <User><Id>u1</Id><UserName>ana</UserName><Active>true</Active><Email/>
        <LastLogin i:nil="true"/><FirstName>Ana \xc3\x89lise</FirstName></User>
  <User><Id>u2</Id><UserName>bo</UserName><Active>false</Active><Email>b@x.io</Email>
        <LastLogin>2016-12-09T07:54:27Z</LastLogin><FirstName>Bo</FirstName></User>
</Users>"""

JSON = (b'[{"Id":"u1","UserName":"ana","Active":true,"Email":"","LastLogin":null,'
        b'"FirstName":"Ana \xc3\x89lise"},{"Id":"u2","UserName":"bo","Active":false,'
        b'"Email":"b@x.io","LastLogin":"2016-12-09T07:54:27Z","FirstName":"Bo"}]')


def test_xml_and_json_give_the_same_records() -> None:
    from_xml = parse_records(XML, "application/xml; charset=utf-8", "users")
    from_json = parse_records(JSON, "application/json; charset=utf-8", "users")
    assert from_xml == from_json
    assert from_xml[0] == {"Id": "u1", "UserName": "ana", "Active": "true", "Email": None,
                           "LastLogin": None, "FirstName": "Ana Élise"}


def test_content_type_decides_not_the_request() -> None:
    # Asked for JSON, answered XML: parsed as XML.
    assert parse_records(XML, "text/xml", "users")[1]["Id"] == "u2"


def test_empty_list_and_empty_body() -> None:
    assert parse_records(b"<Users/>", "application/xml", "users") == []
    assert parse_records(b"[]", "application/json", "users") == []
    assert parse_records(b"", None, "users") == []


def test_single_record_and_paginated_wrapper() -> None:
    one = parse_record(b"<Course><Id>c1</Id><Name>Safety</Name></Course>", "application/xml",
                       "course")
    assert one == {"Id": "c1", "Name": "Safety"}
    wrapped = (b"<UserCollection><Pagination><TotalCount>1</TotalCount></Pagination>"
               b"<Items><User><Id>u9</Id></User></Items></UserCollection>")
    assert parse_records(wrapped, "application/xml", "users") == [{"Id": "u9"}]


@pytest.mark.parametrize(("body", "ctype"), [
    (b"<Users><User><Id>u1</Id></User>", "application/xml"),
    (b'[{"Id": "u1"', "application/json"),
    (b'{"not": "a list"', "application/json"),
    (b'["a", "b"]', "application/json"),
])
def test_malformed_bodies_raise_a_clear_error(body: bytes, ctype: str) -> None:
    with pytest.raises(LitmosParseError, match="users start=0"):
        parse_records(body, ctype, "users start=0")


# --------------------------------------------------------------------------- trust (issue 12)

def _laughs(levels: int) -> bytes:
    """The "billion laughs" entity bomb: each level ten of the one below."""
    entities = b"".join(b'<!ENTITY l%d "%s">' % (n, b"&l%d;" % (n - 1) * 10)
                        for n in range(1, levels + 1))
    return (b'<?xml version="1.0"?><!DOCTYPE Users [<!ENTITY l0 "lol">' + entities
            + b"]><Users><User><Id>&l%d;</Id></User></Users>" % levels)


@pytest.mark.parametrize("body", [
    _laughs(9),  # a billion laughs
    _laughs(2),  # a small expansion, which xml.etree accepted
    b'<!DOCTYPE Users [<!ENTITY e SYSTEM "file:///etc/hostname">]>'
    b"<Users><User><Id>&e;</Id></User></Users>",
    b'<!DOCTYPE Users SYSTEM "http://127.0.0.1:9/users.dtd"><Users/>',
], ids=["billion-laughs", "small-entity", "external-entity", "external-dtd"])
def test_xml_with_a_dtd_or_entities_is_refused(body: bytes) -> None:
    with pytest.raises(LitmosParseError, match=r"^users \(start=0\): XML with a DTD"):
        parse_records(body, "application/xml", "users (start=0)")


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # json.loads: RecursionError before the fix
    b'[{"Id": "u1", "X": ' + b"[" * 100 + b"]" * 100 + b"}]",  # deep, but under the limit
    b'{"Items": [{"Id": "u1", "X": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}]}",
], ids=["array-100k", "value-100", "wrapped-value-100"])
def test_deeply_nested_json_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(LitmosParseError, match=r"^users \(start=0\): JSON nested"):
        parse_records(body, "application/json", "users (start=0)")


def test_shallow_nested_values_still_parse() -> None:
    record = parse_record(b'{"Id": "u1", "X": {"a": [1, {"b": 2}]}}', "application/json", "u")
    assert record == {"Id": "u1", "X": '{"a": [1, {"b": 2}]}'}


SECRET = "/login.aspx?loginkey=7f1c2e9a-secret"

LOGIN_KEY_BODIES = [
    ("application/xml", b"<User><Id>u1</Id><UserName>ana</UserName><LoginKey>"
     + SECRET.encode() + b"</LoginKey><LastLogin/></User>"),
    ("application/xml", b"<Users><User><Id>u1</Id><LoginKey>" + SECRET.encode()
     + b"</LoginKey></User></Users>"),
    ("application/json", b'{"Id": "u1", "UserName": "ana", "LoginKey": "' + SECRET.encode()
     + b'", "LastLogin": null}'),
    ("application/json", b'[{"Id": "u1", "LoginKey": "' + SECRET.encode() + b'"}]'),
    ("application/json", b'{"Items": [{"Id": "u1", "loginkey": "' + SECRET.encode()
     + b'"}]}'),
]


@pytest.mark.parametrize(("ctype", "body"), LOGIN_KEY_BODIES,
                         ids=["xml-one", "xml-list", "json-one", "json-array", "json-items"])
def test_login_key_is_dropped_at_parse_time(ctype: str, body: bytes) -> None:
    page = parse_page(body, ctype, "user u1")
    assert SECRET not in repr(page)  # not in the records, nor in a JSON page's kept text
    assert page.json_array is None or SECRET not in page.json_array
    records = page.text_records()
    assert records[0]["Id"] == "u1"
    assert not [key for record in records for key in record if key.lower() == "loginkey"]
    if len(records) == 1:
        assert SECRET not in repr(parse_record(body, ctype, "user u1"))


def test_a_json_array_without_login_key_keeps_its_text() -> None:
    page = parse_page(JSON, "application/json", "users")
    assert page.json_array is not None and page.rows == 2
