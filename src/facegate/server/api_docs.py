"""``/docs``: the API reference, rendered on the server from the service's own OpenAPI.

FastAPI's interactive pages load their scripts from a CDN, which this service's
Content-Security-Policy forbids and an offline machine cannot reach. This page is
plain HTML made from ``app.openapi()``: every endpoint with its parameters, body and
answers, and every schema with its fields, so it can never drift from the code. The
stream and the signing rules are summarised from the constants that enforce them;
``docs/apps.md`` is the full guide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from facegate.server.hub import MAX_STREAMS_PER_GRANT, CloseCode
from facegate.server.pages import render
from facegate.server.stream_ws import AUTH_SECONDS
from facegate.sharing.headers import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from facegate.sharing.signed_requests import MAX_SKEW_SECONDS

router = APIRouter(include_in_schema=False)

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[Field, ...]
    body: str | None
    responses: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    fields: tuple[Field, ...]


def _type(schema: dict[str, Any]) -> str:
    """A short, readable type: ``string``, ``array of Frame``, ``integer | null``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return " | ".join(_type(part) for part in schema[combinator])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    return kind


def _endpoints(spec: dict[str, Any]) -> dict[str, list[Endpoint]]:
    groups: dict[str, list[Endpoint]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            parameters = tuple(
                Field(
                    f"{p['name']} ({p.get('in', '')})",
                    _type(p.get("schema", {})),
                    bool(p.get("required")),
                    str(p.get("description", "")),
                )
                for p in op.get("parameters", [])
            )
            content = op.get("requestBody", {}).get("content", {})
            body = next((_type(c.get("schema", {})) for c in content.values()), None)
            responses = tuple(
                (str(code), str(r.get("description", "")))
                for code, r in sorted(op.get("responses", {}).items())
            )
            endpoint = Endpoint(
                method.upper(),
                path,
                str(op.get("summary", "")),
                str(op.get("description", "")),
                parameters,
                body,
                responses,
            )
            groups.setdefault(str((op.get("tags") or ["other"])[0]), []).append(endpoint)
    return groups


def _schemas(spec: dict[str, Any]) -> list[Schema]:
    found = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        fields = tuple(
            Field(field, _type(sub), field in required, str(sub.get("description", "")))
            for field, sub in schema.get("properties", {}).items()
        )
        found.append(Schema(name, str(schema.get("description", "")), fields))
    return found


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    """The API reference for app developers (no sign-in: it holds no personal data)."""
    spec = request.app.openapi()
    return render(
        request,
        "api_docs.html",
        title=spec.get("info", {}).get("title", "FaceGate"),
        groups=_endpoints(spec),
        schemas=_schemas(spec),
        signing={
            "headers": (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER),
            "skew": MAX_SKEW_SECONDS,
        },
        stream={
            "auth_seconds": AUTH_SECONDS,
            "max_streams": MAX_STREAMS_PER_GRANT,
            "close_codes": [(c.value, c.name.lower().replace("_", " ")) for c in CloseCode],
        },
    )
