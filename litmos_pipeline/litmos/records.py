"""Turn Litmos response bodies (XML or JSON) into flat records of strings.

Every value is kept as the API's text (booleans as "true"/"false", numbers as written,
empty or nil as None); typing happens in SQL, where the rest of the transform lives.

Bodies are untrusted: XML is parsed by defusedxml with DTDs (so entity bombs and external
entities) refused, JSON nested past any record's shape is refused, and `LoginKey` (a
credential that signs its user in) is dropped here, before a record goes anywhere.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

Record = dict[str, str | None]

XML_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
# Fields never kept, compared lower-cased: LoginKey signs its user in to Litmos.
DROPPED_FIELDS = frozenset({"loginkey"})
# Litmos records are flat; a value nested deeper than this is not one of theirs, and
# turning it back into text (as_text) must not recurse without bound.
MAX_JSON_DEPTH = 32


class LitmosParseError(ValueError):
    """A response body that is not the XML or JSON the endpoint promises."""


def is_json(content_type: str | None) -> bool:
    return bool(content_type) and "json" in content_type.lower()


@dataclass(frozen=True, slots=True)
class Page:
    """One list response.

    JSON records keep their decoded values (bool, number, str) and XML records are text
    already; `text_records` gives the API's text either way. `json_array` is the body of
    a plain JSON array page, so a bulk loader can have DuckDB parse it whole.
    """

    records: list[dict[str, Any]]
    decoded: bool = False
    json_array: str | None = None
    rows: int = -1  # len(records), or the count of a page whose records were not decoded

    def __post_init__(self) -> None:
        if self.rows < 0:
            object.__setattr__(self, "rows", len(self.records))

    def text_records(self) -> list[Record]:
        if not self.decoded:
            return self.records
        return [{key: as_text(value) for key, value in item.items()} for item in self.records]


def parse_page(body: bytes, content_type: str | None, what: str) -> Page:
    """A list response (`<Users><User>…` or a JSON array) as a Page.

    Also accepts a single record or a paginated wrapper (`<UserCollection><Items>…`).
    """
    if not body.strip():
        return Page([])
    if not is_json(content_type):
        return Page(_xml_records(body, what))
    data = _json_value(body, what)
    if isinstance(data, list):
        _require_objects(data, what)
        _check_depth(data, what)
        # A body that carried a dropped field is not handed on as text.
        dropped = _drop_fields(data)
        return Page(data, decoded=True, json_array=None if dropped else _utf8(body))
    items = data.get("Items") if isinstance(data, dict) else None
    records = items if isinstance(items, list) else [data]
    _require_objects(records, what)
    _check_depth(records, what)
    _drop_fields(records)
    return Page(records, decoded=True)


def parse_records(body: bytes, content_type: str | None, what: str) -> list[Record]:
    return parse_page(body, content_type, what).text_records()


def parse_record(body: bytes, content_type: str | None, what: str) -> Record:
    records = parse_records(body, content_type, what)
    if len(records) != 1:
        raise LitmosParseError(f"{what}: expected one record, got {len(records)}")
    return records[0]


def _json_value(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        msg, pos = getattr(exc, "msg", str(exc)), getattr(exc, "pos", "?")
        raise LitmosParseError(f"{what}: malformed JSON ({msg} at {pos})") from None
    except RecursionError:
        raise LitmosParseError(f"{what}: JSON nested too deeply to be a Litmos answer") \
            from None


def _check_depth(records: list[dict[str, Any]], what: str) -> None:
    """Refuse values nested past MAX_JSON_DEPTH, without recursing to find out."""
    stack = [(value, 2) for record in records for value in record.values()
             if isinstance(value, dict | list)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise LitmosParseError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _drop_fields(records: list[dict[str, Any]]) -> bool:
    """Remove DROPPED_FIELDS from every record in place; True if any was there."""
    dropped = False
    for record in records:
        for key in [k for k in record if k.lower() in DROPPED_FIELDS]:
            del record[key]
            dropped = True
    return dropped


def _utf8(body: bytes) -> str | None:
    # json.loads also accepts UTF-16/32; DuckDB is only handed what is UTF-8.
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _require_objects(items: list[Any], what: str) -> None:
    if not all(isinstance(item, dict) for item in items):
        raise LitmosParseError(f"{what}: expected a JSON array of objects")


def as_text(value: Any) -> str | None:
    """A JSON value as the API's text: booleans true/false, empty as None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return text if text != "" else None


def _xml_records(body: bytes, what: str) -> list[Record]:
    try:
        # No DTD at all: Litmos sends none, and refusing it refuses entity expansion
        # ("billion laughs") and external entities with it.
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True)
    except DefusedXmlException as exc:
        raise LitmosParseError(f"{what}: XML with a DTD or entities refused ({exc})") from None
    except (ET.ParseError, ValueError, LookupError) as exc:
        # ValueError, LookupError: an encoding declaration expat cannot read.
        raise LitmosParseError(f"{what}: malformed XML ({exc})") from None
    items = root.find("Items")
    if items is not None:
        return [_xml_record(element) for element in items]
    if len(root) and all(len(child) for child in root):
        return [_xml_record(element) for element in root]
    if len(root) == 0:
        return []
    return [_xml_record(root)]


def _xml_record(element: ET.Element) -> Record:
    record: Record = {}
    for child in element:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag.lower() in DROPPED_FIELDS:
            continue
        if child.get(XML_NIL) == "true" or len(child):
            record[tag] = None
            continue
        text = child.text
        record[tag] = text if text else None
    return record


def xml_id_list(collection: str, item: str, ids: list[str]) -> bytes:
    """`<Users><User><Id>…</Id></User></Users>`: the write body Litmos documents."""
    root = ET.Element(collection)
    for value in ids:
        ET.SubElement(ET.SubElement(root, item), "Id").text = value
    return ET.tostring(root, encoding="utf-8")


def xml_record(item: str, fields: dict[str, Any]) -> bytes:
    root = ET.Element(item)
    for key, value in fields.items():
        child = ET.SubElement(root, key)
        if isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)
    return ET.tostring(root, encoding="utf-8")
