"""JSON Schema files for every Kafka topic, generated from the models and committed."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from schemas.errors import SchemaDriftError
from schemas.topics import TOPICS, TopicSpec

__all__ = ["check_schemas", "render_schema", "schema_dir", "write_schemas"]


def schema_dir() -> Path:
    """The package's ``jsonschema/`` folder (in a checkout: the committed files ``generate`` rewrites)."""
    return Path(str(resources.files("schemas").joinpath("jsonschema")))


def render_schema(topic: TopicSpec) -> str:
    """The JSON Schema text of a topic's record value, stable across runs."""
    schema = topic.value_model.model_json_schema(mode="serialization")
    schema["$id"] = f"https://serambi.invalid/schemas/{topic.name}.json"
    schema["description"] = f"{topic.description} Key: {topic.key}."
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(directory: Path | None = None) -> list[Path]:
    """Write one ``<topic>.json`` per topic (default: :func:`schema_dir`); return the paths written."""
    directory = directory or schema_dir()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for topic in TOPICS:
        path = directory / f"{topic.name}.json"
        path.write_text(render_schema(topic), encoding="utf-8")
        paths.append(path)
    return paths


def check_schemas(directory: Path | None = None) -> None:
    """Raise :class:`SchemaDriftError` naming every topic whose committed schema is stale."""
    directory = directory or schema_dir()
    stale = []
    for topic in TOPICS:
        path = directory / f"{topic.name}.json"
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != render_schema(topic):
            stale.append(path.name)
    if stale:
        msg = f"JSON Schemas out of date: {', '.join(stale)}; run `serambi schemas generate`"
        raise SchemaDriftError(msg)
