"""JSON Schema files for every Kafka topic, generated from the models and committed."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.errors import SchemaDriftError
from schemas.topics import TOPICS, TopicSpec

__all__ = ["SCHEMA_DIR", "check_schemas", "render_schema", "write_schemas"]

SCHEMA_DIR = Path(__file__).parent / "jsonschema"


def render_schema(topic: TopicSpec) -> str:
    """The JSON Schema text of a topic's record value, stable across runs."""
    schema = topic.value_model.model_json_schema(mode="serialization")
    schema["$id"] = f"https://serambi.invalid/schemas/{topic.name}.json"
    schema["description"] = f"{topic.description} Key: {topic.key}."
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one ``<topic>.json`` per topic; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for topic in TOPICS:
        path = directory / f"{topic.name}.json"
        path.write_text(render_schema(topic), encoding="utf-8")
        paths.append(path)
    return paths


def check_schemas(directory: Path = SCHEMA_DIR) -> None:
    """Raise :class:`SchemaDriftError` naming every topic whose committed schema is stale."""
    stale = []
    for topic in TOPICS:
        path = directory / f"{topic.name}.json"
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != render_schema(topic):
            stale.append(path.name)
    if stale:
        msg = f"JSON Schemas out of date: {', '.join(stale)}; run `serambi schemas generate`"
        raise SchemaDriftError(msg)
