"""Turn Litmos response bodies (XML or JSON) into flat records of strings.

Every value is kept as the API's text (booleans as "true"/"false", numbers as written,
empty or nil as None); typing happens in SQL, where the rest of the transform lives.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

Record = dict[str, str | None]

XML_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


class LitmosParseError(ValueError):
    """A response body that is not the XML or JSON the endpoint promises."""


def is_json(content_type: str | None) -> bool:
    return bool(content_type) and "json" in content_type.lower()


def parse_records(body: bytes, content_type: str | None, what: str, *,
                  raw: bool = False) -> list[Record]:
    """A list response (`<Users><User>…` or a JSON array) as records.

    Also accepts a single record or a paginated wrapper (`<UserCollection><Items>…`).
    With `raw`, JSON values are left as decoded (bool, number, str): a bulk loader turns
    only the fields it keeps into text (`as_text`), which is most of a large sync's work.
    """
    if not body.strip():
        return []
    if is_json(content_type):
        return _json_records(body, what, raw)
    return _xml_records(body, what)


def parse_record(body: bytes, content_type: str | None, what: str) -> Record:
    records = parse_records(body, content_type, what)
    if len(records) != 1:
        raise LitmosParseError(f"{what}: expected one record, got {len(records)}")
    return records[0]


def _json_records(body: bytes, what: str, raw: bool = False) -> list[Record]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise LitmosParseError(f"{what}: malformed JSON ({exc.msg} at {exc.pos})") from None
    if isinstance(data, dict):
        items = data.get("Items")
        data = items if isinstance(items, list) else [data]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise LitmosParseError(f"{what}: expected a JSON array of objects")
    if raw:
        return data
    return [{key: as_text(value) for key, value in item.items()} for item in data]


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
        root = ET.fromstring(body)
    except ET.ParseError as exc:
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
