"""Declarative records: one field schema per record drives its msgpack form, its JSON form and the parsing of both.

    @record
    class DepositLocked:
        log_index: int = field(UINT, "log_index")
        sender: Address = field(ADDRESS, "from")
        amount: int = field(AMOUNT, "amount")

    to_wire(event)                    -> [log_index, sender (20 bytes), amount (minimal big-endian bytes)]
    from_wire(DepositLocked, fields)  -> DepositLocked     (DecodeError naming the field)
    to_json(event)                    -> {"log_index": 0, "from": "0xAbC...", "amount": "77"}
    from_json(DepositLocked, obj)     -> DepositLocked     (JsonFieldError naming the field)

`@record` makes the class a frozen, slotted dataclass and builds its Schema
from the fields' codecs (node.codecs: UINT, AMOUNT, ADDRESS, HASH, ...), so
each field is written once and every form derives from it: the msgpack
array lists the fields in declaration order, the JSON object names them.

A field may be held outside the record's msgpack array (`wire=False`: a
record stored under a key that carries its index; the decoder is given it,
`from_wire(cls, fields, index=i)`), left out of JSON (`json=None`), sit in
a nested JSON object (`json=("claims", "lo")`), be omitted from JSON while
None (`omit_none=True`), or spread a nested record's JSON fields into its
parent's object (`json=INLINE`). A record with a JSON form only (an RPC
report) is declared `@record(wire=False)`. A class declared elsewhere gets
an explicit `Schema(cls, [Field(...), ...])`, checked to cover exactly the
class's fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, dataclass_transform, overload

from node.codecs import (  # re-exported: a record module imports its codecs from here
    ADDRESS,
    AMOUNT,
    BOOL,
    BYTES,
    HASH,
    INT,
    TEXT,
    UINT,
    Bytes,
    Codec,
    Coded,
    JsonFieldError,
    JsonOnly,
    Nullable,
    RecordSchemaError,
    Text,
    TupleOf,
    UInt,
    WireOnly,
    to_hex,
)
from node.encoding import expect_list

T = TypeVar("T")
R = TypeVar("R")

_METADATA_KEY = "record_field"
_SCHEMA_ATTR = "__record_schema__"


# -- fields and schemas --


class _Inline:
    def __repr__(self) -> str:
        return "INLINE"


INLINE: Any = _Inline()  # json=INLINE: a nested record's JSON fields sit in its parent's object


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One field of a record: its attribute, codec, JSON name (or path, None, INLINE) and whether it is in msgpack."""

    name: str
    codec: Codec[Any]
    json: Any = None
    wire: bool = True
    omit_none: bool = False

    @property
    def json_path(self) -> tuple[str, ...]:
        return (self.json,) if isinstance(self.json, str) else tuple(self.json or ())


def field(
    codec: Codec[Any],
    json: Any = None,
    *,
    wire: bool = True,
    omit_none: bool = False,
    default: Any = dataclasses.MISSING,
) -> Any:
    """Declare a record field (see the module docstring); `default` as for dataclasses.field."""
    spec = {_METADATA_KEY: (codec, json, wire, omit_none)}
    return dataclasses.field(default=default, metadata=spec)


class Schema(Generic[R]):
    """The fields of one record class, and the conversions they drive."""

    def __init__(self, cls: type[R], fields: Sequence[Field] | None = None, wire: bool = True) -> None:
        self.cls = cls
        self.has_wire = wire
        self.fields = tuple(fields) if fields is not None else _declared_fields(cls)
        names = [f.name for f in self.fields]
        expected = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if sorted(names) != sorted(expected):
            raise RecordSchemaError(f"schema of {cls.__name__} lists {names}, the class has {expected}")
        for f in self.fields:
            if f.json is INLINE and not isinstance(f.codec, Nested):
                raise RecordSchemaError(f"{cls.__name__}.{f.name}: only a Nested record can be INLINE")
        self.wire_fields = tuple(f for f in self.fields if f.wire) if wire else ()
        self.json_fields = tuple(f for f in self.fields if f.json is not None)

    def __repr__(self) -> str:
        return f"Schema({self.cls.__name__})"

    def with_codec(self, name: str, codec: Codec[Any]) -> Schema[R]:
        """This schema with field `name` travelling through `codec` (e.g. events parsed through a given table)."""
        if name not in {f.name for f in self.fields}:
            raise RecordSchemaError(f"{self.cls.__name__} has no field {name!r}")
        fields = [dataclasses.replace(f, codec=codec) if f.name == name else f for f in self.fields]
        return Schema(self.cls, fields, wire=self.has_wire)

    # -- msgpack --

    def to_wire(self, record: R) -> list[Any]:
        if not self.has_wire:
            raise RecordSchemaError(f"{self.cls.__name__} has a JSON form only")
        return [f.codec.to_wire(getattr(record, f.name)) for f in self.wire_fields]

    def from_wire(self, raw: Any, **held: Any) -> R:
        """The record from its msgpack array; `held`: the fields stored outside it (e.g. the index in its key)."""
        if not self.has_wire:
            raise RecordSchemaError(f"{self.cls.__name__} has a JSON form only")
        values = expect_list(raw, len(self.wire_fields), self.cls.__name__)
        kwargs = {f.name: f.codec.from_wire(v, f.name) for f, v in zip(self.wire_fields, values)}
        return self.cls(**kwargs, **held)

    # -- JSON --

    def to_json(self, record: R) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for f in self.json_fields:
            value = getattr(record, f.name)
            if f.omit_none and value is None:
                continue
            if f.json is INLINE:
                obj.update(f.codec.to_json(value))
                continue
            *parents, last = f.json_path
            target = obj
            for key in parents:
                target = target.setdefault(key, {})
            target[last] = f.codec.to_json(value)
        return obj

    def from_json(self, obj: Any, **held: Any) -> R:
        """The record from its JSON object (extra keys are ignored); `held`: the fields JSON does not carry."""
        if not isinstance(obj, dict):
            raise JsonFieldError(f"{self.cls.__name__} must be a JSON object, got {type(obj).__name__}")
        kwargs: dict[str, Any] = {}
        for f in self.json_fields:
            if f.json is INLINE:
                kwargs[f.name] = f.codec.from_json(obj, f.name)
                continue
            found, raw = _lookup(obj, f.json_path)
            if not found:
                if f.omit_none:
                    kwargs[f.name] = None
                    continue
                raise JsonFieldError(f"{self.cls.__name__} lacks field {'.'.join(f.json_path)!r}: {str(obj)[:200]}")
            kwargs[f.name] = f.codec.from_json(raw, ".".join(f.json_path))
        return self.cls(**kwargs, **held)


class Nested(Codec[R]):
    """A record inside a record: its msgpack array, its JSON object (`schema`: a @record class or a Schema)."""

    def __init__(self, schema: Schema[R] | type[R]) -> None:
        self._schema = schema

    @property
    def schema(self) -> Schema[R]:
        return self._schema if isinstance(self._schema, Schema) else schema_of(self._schema)

    def to_wire(self, value: R) -> list[Any]:
        return self.schema.to_wire(value)

    def from_wire(self, raw: Any, what: str) -> R:
        return self.schema.from_wire(raw)

    def to_json(self, value: R) -> dict[str, Any]:
        return self.schema.to_json(value)

    def from_json(self, raw: Any, what: str) -> R:
        return self.schema.from_json(raw)


def _lookup(obj: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    value: Any = obj
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def _declared_fields(cls: type[Any]) -> tuple[Field, ...]:
    result = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_METADATA_KEY)
        if spec is None:
            raise RecordSchemaError(f"{cls.__name__}.{f.name} has no codec: declare it with node.records.field")
        codec, json, wire, omit_none = spec
        result.append(Field(f.name, codec, json, wire, omit_none))
    return tuple(result)


# -- the decorator and the generic conversions --


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, wire: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, wire: bool = True) -> Any:
    """Make `cls` a frozen, slotted dataclass with a Schema of its fields (`wire=False`: a JSON form only)."""

    def build(target: type[T]) -> type[T]:
        made = dataclasses.dataclass(frozen=True, slots=True)(target)
        setattr(made, _SCHEMA_ATTR, Schema(made, wire=wire))
        return made

    return build if cls is None else build(cls)


def schema_of(cls: type[R]) -> Schema[R]:
    schema = cls.__dict__.get(_SCHEMA_ATTR)
    if not isinstance(schema, Schema):
        raise RecordSchemaError(f"{cls.__name__} is not a @record")
    return schema


def to_wire(value: Any) -> list[Any]:
    return schema_of(type(value)).to_wire(value)


def from_wire(cls: type[R], raw: Any, **held: Any) -> R:
    return schema_of(cls).from_wire(raw, **held)


def to_json(value: Any) -> dict[str, Any]:
    return schema_of(type(value)).to_json(value)


def from_json(cls: type[R], obj: Any, **held: Any) -> R:
    return schema_of(cls).from_json(obj, **held)


__all__ = [
    "ADDRESS",
    "AMOUNT",
    "BOOL",
    "BYTES",
    "HASH",
    "INLINE",
    "INT",
    "TEXT",
    "UINT",
    "Bytes",
    "Codec",
    "Coded",
    "Field",
    "JsonFieldError",
    "JsonOnly",
    "Nested",
    "Nullable",
    "RecordSchemaError",
    "Schema",
    "Text",
    "TupleOf",
    "UInt",
    "WireOnly",
    "field",
    "from_json",
    "from_wire",
    "record",
    "schema_of",
    "to_hex",
    "to_json",
    "to_wire",
]
