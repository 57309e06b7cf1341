"""Reading request bodies: one object's fields, or lists of ids, as XML or JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from litmos_sandbox.litmos.tenant import TenantError
from litmos_sandbox.litmos.wire import XSI_NS

BULK_MAX_USERS = 25


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_body(body: bytes) -> ET.Element | Any:
    text = body.decode("utf-8-sig", errors="strict").strip() if body else ""
    if not text:
        raise TenantError(400, "request body is empty")
    if text.startswith("<"):
        try:
            return ET.fromstring(text)
        except ET.ParseError as exc:
            raise TenantError(400, f"request body is not well-formed XML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TenantError(400, f"request body is neither XML nor JSON: {exc}") from None


def _xml_value(el: ET.Element) -> str | None:
    if el.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    return el.text or ""


def object_fields(body: bytes, item: str) -> dict[str, Any]:
    """Fields of one object body: ``<User><UserName>…`` or ``{"UserName": …}``."""
    doc = parse_body(body)
    if isinstance(doc, ET.Element):
        if _local(doc.tag) != item:
            raise TenantError(400, f"expected a <{item}> body, got <{_local(doc.tag)}>")
        return {_local(child.tag): _xml_value(child) for child in doc}
    if isinstance(doc, dict):
        return doc
    raise TenantError(400, f"expected a {item} object in the body")


def _id_of(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("Id"), str):
        return entry["Id"]
    raise TenantError(400, f"expected an object with an Id, got {entry!r}")


def ids_from(doc: Any, root: str, item: str) -> list[str]:
    """Ids of ``<Root><Item><Id>…`` (or a single ``<Item>``), or of a JSON array
    ``[{"Id": …}]`` (a single object is accepted too)."""
    if isinstance(doc, ET.Element):
        tag = _local(doc.tag)
        if tag == item:
            items = [doc]
        elif tag == root:
            items = [c for c in doc if _local(c.tag) == item]
        else:
            raise TenantError(400, f"expected a <{root}> body, got <{tag}>")
        ids = []
        for el in items:
            id_el = next((c for c in el if _local(c.tag) == "Id"), None)
            if id_el is None or not (id_el.text or "").strip():
                raise TenantError(400, f"<{item}> without an <Id>")
            ids.append((id_el.text or "").strip())
        return ids
    if isinstance(doc, list):
        return [_id_of(e) for e in doc]
    if isinstance(doc, dict):
        return [_id_of(doc)]
    raise TenantError(400, f"expected a list of {item} ids in the body")


def bulk_pairs(body: bytes) -> list[tuple[str, list[str]]]:
    """``POST /users/courses``: the body shape is not in litmos-api.md; accepted
    here as ``<Users><User><Id>u</Id><Courses><Course><Id>c</Id>…`` or
    ``[{"Id": "u", "Courses": [{"Id": "c"}]}]``."""
    doc = parse_body(body)
    pairs: list[tuple[str, list[str]]] = []
    if isinstance(doc, ET.Element):
        if _local(doc.tag) != "Users":
            raise TenantError(400, f"expected a <Users> body, got <{_local(doc.tag)}>")
        for user_el in doc:
            uid = next((c.text or "" for c in user_el if _local(c.tag) == "Id"), "").strip()
            courses_el = next((c for c in user_el if _local(c.tag) == "Courses"), None)
            if not uid or courses_el is None:
                raise TenantError(400, "each <User> needs an <Id> and <Courses>")
            pairs.append((uid, ids_from(courses_el, "Courses", "Course")))
    elif isinstance(doc, list):
        for entry in doc:
            if not isinstance(entry, dict) or "Courses" not in entry:
                raise TenantError(400, "each entry needs an Id and Courses")
            pairs.append((_id_of(entry), ids_from(entry["Courses"], "Courses", "Course")))
    else:
        raise TenantError(400, "expected a list of users with courses")
    if len(pairs) > BULK_MAX_USERS:
        raise TenantError(400, f"at most {BULK_MAX_USERS} users per bulk assignment")
    return pairs
