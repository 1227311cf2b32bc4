"""The Bot API's shape, read from ``api.json``, and the checks that follow from it.

The spec is the reference nobody on this project wrote: a request is refused
when a parameter is unknown, a required one is missing, or a value does not
have one of the documented types (objects are checked field by field,
recursively). Form-encoded values arrive as strings and are decoded the way
Telegram decodes them (numbers, booleans and JSON-serialised objects).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.errors import InvalidRequest
from emulator.objects import UploadedFile

DEFAULT_SPEC_PATH = Path(__file__).with_name("api.json")

_INTEGER = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_DISCRIMINATOR = re.compile(r'(?:always|must be) "?([a-z_]+)"?\s*$')
_ARRAY = "Array of "
_SCALARS = frozenset({"Integer", "Float", "Boolean", "String", "InputFile"})

# Telegram's own wording for some missing parameters; the rest get a generic sentence.
_MISSING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "callback_query_id": "query_id is empty",
    "message_id": "message identifier is not specified",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "action": "wrong parameter action in request",
    "url": "bad webhook: URL must be non-empty",
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One parameter of a method or one field of a type."""

    name: str
    types: tuple[str, ...]
    required: bool
    description: str


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """An object type; abstract ones list ``subtypes`` told apart by ``discriminator``."""

    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]
    discriminator: tuple[str, str] | None


class _Mismatch(Exception):
    """A value that does not fit; ``path`` locates it inside the parameter."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _field(raw: Mapping[str, Any]) -> FieldSpec:
    return FieldSpec(
        name=str(raw["name"]),
        types=tuple(raw.get("types", ())),
        required=bool(raw.get("required", False)),
        description=str(raw.get("description", "")),
    )


def _discriminator(fields: Mapping[str, FieldSpec]) -> tuple[str, str] | None:
    for spec in fields.values():
        match = _DISCRIMINATOR.search(spec.description)
        if match and spec.types == ("String",):
            return spec.name, match.group(1)
    return None


class Spec:
    """The methods and types of one Bot API version."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data.get("version", "unknown"))
        self.methods: dict[str, MethodSpec] = {}
        for name, raw in data["methods"].items():
            fields = {f["name"]: _field(f) for f in raw.get("fields", ())}
            self.methods[name.lower()] = MethodSpec(name, fields, tuple(raw.get("returns", ())))
        self.types: dict[str, TypeSpec] = {}
        for name, raw in data["types"].items():
            fields = {f["name"]: _field(f) for f in raw.get("fields", ())}
            self.types[name] = TypeSpec(name, fields, tuple(raw.get("subtypes", ())), _discriminator(fields))

    @classmethod
    def load(cls, path: Path | str | None = None) -> Spec:
        """The spec in ``path`` (default: the copy shipped with the emulator), read once per path."""
        return _load(str(path or DEFAULT_SPEC_PATH))

    def method(self, name: str) -> MethodSpec | None:
        """The method called ``name``; Telegram matches method names case-insensitively."""
        return self.methods.get(name.lower())

    def validate(
        self,
        method: MethodSpec,
        params: Mapping[str, Any],
        files: Mapping[str, UploadedFile],
    ) -> dict[str, Any]:
        """The parameters decoded and checked against ``method``, or ``InvalidRequest``.

        Top-level string values are decoded for non-string types (Telegram does
        so for form fields and for JSON bodies alike); nested values are not.

        ``files`` are the multipart file parts: a part named like a parameter is
        that parameter; others may be referenced as ``attach://<name>``.
        """
        checked: dict[str, Any] = {}
        merged: dict[str, Any] = dict(params)
        for name, upload in files.items():
            if name in method.fields:
                merged[name] = upload
        for name, value in merged.items():
            spec = method.fields.get(name)
            if spec is None:
                raise InvalidRequest(f'unknown parameter "{name}"')
            try:
                checked[name] = self._check(value, spec.types, "", files, True)
            except _Mismatch as error:
                if not error.path:
                    raise InvalidRequest(f'parameter "{name}" {error.message}') from None
                raise InvalidRequest(f"can't parse {name}: {error.path} {error.message}") from None
        for spec in method.fields.values():
            if spec.required and spec.name not in checked:
                raise InvalidRequest(_MISSING.get(spec.name, f'parameter "{spec.name}" is required'))
        return checked

    # -- type checks -------------------------------------------------------------

    def _check(
        self, value: Any, types: tuple[str, ...], path: str, files: Mapping[str, UploadedFile], decode: bool
    ) -> Any:
        """``value`` converted to the first of ``types`` it fits, else the deepest mismatch."""
        failures: list[_Mismatch] = []
        for type_name in types:
            try:
                return self._check_one(value, type_name, path, files, decode)
            except _Mismatch as error:
                failures.append(error)
        if len(failures) == 1:
            raise failures[0]
        deepest = max(failures, key=lambda failure: _depth(failure.path))
        if _depth(deepest.path) > _depth(path):
            raise deepest
        raise _Mismatch(path, f"must be of type {' or '.join(types)}")

    def _check_one(self, value: Any, type_name: str, path: str, files: Mapping[str, UploadedFile], decode: bool) -> Any:
        if decode and isinstance(value, str) and type_name not in ("String", "InputFile"):
            value = _decode_form_value(value, type_name, path)
        if type_name in _SCALARS:
            return _scalar(value, type_name, path, files)
        if type_name.startswith(_ARRAY):
            if not isinstance(value, list):
                raise _Mismatch(path, f"must be of type {type_name}")
            item_type = type_name[len(_ARRAY) :]
            return [
                self._check(item, (item_type,), f"{path}[{index}]", files, False) for index, item in enumerate(value)
            ]
        return self._check_object(value, type_name, path, files)

    def _check_object(self, value: Any, type_name: str, path: str, files: Mapping[str, UploadedFile]) -> Any:
        spec = self.types.get(type_name)
        if spec is None or not isinstance(value, dict):
            raise _Mismatch(path, f"must be of type {type_name}")
        if spec.subtypes:
            return self._check_abstract(value, spec, path, files)
        if not spec.fields:  # placeholders such as CallbackGame accept any object
            return value
        checked: dict[str, Any] = {}
        for key, item in value.items():
            field = spec.fields.get(key)
            where = f"{path}.{key}" if path else key
            if field is None:
                raise _Mismatch(where, f"is not a field of {type_name}")
            checked[key] = self._check(item, field.types, where, files, False)
        for field in spec.fields.values():
            if field.required and field.name not in checked:
                raise _Mismatch(f"{path}.{field.name}" if path else field.name, "is required")
        return checked

    def _check_abstract(
        self, value: dict[str, Any], spec: TypeSpec, path: str, files: Mapping[str, UploadedFile]
    ) -> Any:
        """An abstract type (MenuButton, BotCommandScope, ...) picks its subtype by ``type``."""
        for name in spec.subtypes:
            subtype = self.types.get(name)
            if subtype is None or subtype.discriminator is None:
                continue
            key, expected = subtype.discriminator
            if value.get(key) == expected:
                return self._check_object(value, name, path, files)
        options = [self.types[n].discriminator for n in spec.subtypes if n in self.types]
        allowed = ", ".join(sorted(d[1] for d in options if d is not None))
        where = f"{path}.type" if path else "type"
        raise _Mismatch(where, f"must be one of: {allowed}")


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Spec:
    """Reading and indexing api.json takes a while; a Spec is never changed, so share it."""
    with open(path, encoding="utf-8") as handle:
        return Spec(json.load(handle))


def _depth(path: str) -> int:
    return (1 if path else 0) + path.count(".") + path.count("[")


def _decode_form_value(value: str, type_name: str, path: str) -> Any:
    """A form string decoded as Telegram does: JSON for objects and arrays, literals for scalars."""
    if type_name in ("Integer", "Float", "Boolean"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _Mismatch(path, f"must be a JSON-serialized {type_name}") from None


def _scalar(value: Any, type_name: str, path: str, files: Mapping[str, UploadedFile]) -> Any:
    """Scalars, with Telegram's leniency: numbers may come as strings and vice versa."""
    if type_name == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
    elif type_name == "Float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)
    elif type_name == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif type_name == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    elif type_name == "InputFile":
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            attached = files.get(value.removeprefix("attach://"))
            if attached is None:
                raise _Mismatch(path, "refers to a file that was not uploaded")
            return attached
        if isinstance(value, str) and value:
            return value
    raise _Mismatch(path, f"must be of type {type_name}")
