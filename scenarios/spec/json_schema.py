"""The scenario format as a JSON Schema, generated from SCHEMA (scenarios/spec/schema.py).

Editors that read JSON Schema for TOML files (Taplo, the Even Better TOML extension) validate
and complete scenario files with it: `chemtrace schema` prints it, and docs/scenario.schema.json
is this output, kept equal by a test. The loader stays the judge: the schema says what each key
may hold; cross-key rules (a partition naming a known nation, lane shares summing to 1) are the
loader's alone.
"""

from __future__ import annotations

import json

from scenarios.spec.schema import BEHAVIOURS, REQUIRED, SCHEMA, Key, Table

DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID = "https://chemtrace.invalid/scenario.schema.json"  # a name, not a place to fetch from


def scenario_json_schema() -> dict:
    """The JSON Schema of a scenario file (as tomllib reads it)."""
    properties = {}
    for name, table in SCHEMA.items():
        obj = _table(table)
        properties[name] = ({"type": "array", "description": table.doc, "items": obj}
                            if table.array else obj)
    properties["behaviour"]["items"]["allOf"] = [_params_of(kind) for kind in BEHAVIOURS]
    return {
        "$schema": DIALECT,
        "$id": ID,
        "title": "chemtrace scenario",
        "description": "A chemtrace scenario file (TOML). Generated from scenarios/spec/schema.py "
                       "by `chemtrace schema`; docs/scenario-reference.md explains each key.",
        "type": "object",
        "properties": properties,
        "required": [name for name, table in SCHEMA.items() if table.required],
        "additionalProperties": False,
    }


def schema_text() -> str:
    """The schema as the committed file holds it: indented JSON ending in a newline."""
    return json.dumps(scenario_json_schema(), indent=2) + "\n"


def _table(table: Table) -> dict:
    return {
        "type": "object",
        "description": table.doc,
        "properties": {key: _key(k) for key, k in table.keys.items()},
        "required": [key for key, k in table.keys.items() if k.default is REQUIRED],
        "additionalProperties": False,
    }


def _key(k: Key) -> dict:
    t = k.type
    out: dict = {"description": f"{k.doc} Example: {k.example}"}
    bounds = {name: value for name, value in (("minimum", k.minimum), ("maximum", k.maximum))
              if value is not None}
    if t in ("str", "int", "float", "bool"):
        out["type"] = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}[t]
        out.update(bounds)
        if k.choices is not None:
            out["enum"] = list(k.choices)
    elif t == "list[str]":
        out.update(type="array", items={"type": "string"})
        if k.choices is not None:
            out["items"]["enum"] = list(k.choices)
    elif t == "list[int]":
        out.update(type="array", items={"type": "integer", **bounds})
    elif t == "list[list[str]]":
        out.update(type="array", items={"type": "array", "items": {"type": "string"}})
    elif t == "safety":
        out["anyOf"] = [{"type": "boolean"}, {"const": "any"}]
    elif t == "params":
        out["type"] = "object"
    elif t == "dict[str,int]":
        out.update(type="object", additionalProperties={"type": "integer", **bounds})
        if k.choices is not None:
            out["propertyNames"] = {"enum": list(k.choices)}
    elif t == "tables":
        out.update(type="array", items=_table(k.table))  # type: ignore[arg-type]
    else:  # pragma: no cover - a schema bug
        raise AssertionError(t)
    if k.default is not REQUIRED and k.default is not None:
        out["default"] = k.default
    return out


def _params_of(kind: str) -> dict:
    """`params` of a [[behaviour]] of this kind: only the kind's own params."""
    doc, params = BEHAVIOURS[kind]
    return {"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"properties": {"params": {
                "description": f"{kind}: {doc}",
                "type": "object",
                "properties": {name: _key(k) for name, k in params.items()},
                "required": [name for name, k in params.items() if k.default is REQUIRED],
                "additionalProperties": False}}}}


if __name__ == "__main__":  # pragma: no cover
    print(schema_text(), end="")
