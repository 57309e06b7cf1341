"""Rendering answers as Litmos does: XML (nil and empty fields, one namespace on the
root) or JSON, and the ``Response`` the server writes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from litmos_sandbox.litmos.tenant import Row

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "application/xml; charset=utf-8"
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


def _xml_escape(text: str) -> str:
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


XML_PROLOG = '<?xml version="1.0" encoding="utf-8"?>'
_FieldSpec = tuple[str, str, str, str, str, str]  # open, close, nil, empty, true, false
_SPEC_CACHE: dict[str, _FieldSpec] = {}


def _field_spec(name: str) -> _FieldSpec:
    spec = _SPEC_CACHE.get(name)
    if spec is None:
        o, c = f"<{name}>", f"</{name}>"
        spec = (o, c, f'<{name} i:nil="true"/>', o + c, f"{o}true{c}", f"{o}false{c}")
        _SPEC_CACHE[name] = spec
    return spec


def xml_row(parts: list[str], item: str, fields: tuple[str, ...], row: Row) -> None:
    parts.append(f"<{item}>")
    append = parts.append
    for name, v in zip(fields, row, strict=True):
        o, c, nil, empty, true, false = _field_spec(name)
        if v.__class__ is str:
            append(o + _xml_escape(v) + c if v else empty)
        elif v is None:
            append(nil)
        elif v is True:
            append(true)
        elif v is False:
            append(false)
        else:
            append(f"{o}{v}{c}")
    parts.append(f"</{item}>")


def xml_list(root: str, item: str, fields: tuple[str, ...], rows: Iterable[Row]) -> bytes:
    parts = [XML_PROLOG, f'<{root} xmlns:i="{XSI_NS}">']
    for row in rows:
        xml_row(parts, item, fields, row)
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8")


def xml_one(item: str, fields: tuple[str, ...], row: Row) -> bytes:
    parts: list[str] = []
    xml_row(parts, item, fields, row)
    body = "".join(parts)
    # The namespace declaration goes on the root element itself.
    body = f'<{item} xmlns:i="{XSI_NS}">' + body[len(item) + 2:]
    return (XML_PROLOG + body).encode("utf-8")


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    drop: bool = False  # close the connection without answering
    cut: bool = False  # promise the whole body, send half, close the connection


def empty(status: int = 200) -> Response:
    """Litmos answers assign/unassign style writes with no body and no Content-Type."""
    return Response(status)


def plain(status: int, message: str) -> Response:
    return Response(status, message.encode("utf-8"), TEXT_TYPE)


def malformed(body: bytes) -> bytes:
    """The first half of a good body and a broken tail: complete on the wire (its
    Content-Length matches), unparseable as XML or JSON."""
    return body[: len(body) // 2] + b"<\x00 malformed {"
