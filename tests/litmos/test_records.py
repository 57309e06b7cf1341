import pytest

from litmos_pipeline.litmos.records import LitmosParseError, parse_record, parse_records

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
