"""The field types of spec models: integers that refuse booleans, 64-bit bounds, names.

Shared by the kinds' config models (:mod:`routegraph.kinds`) and the spec's own
models (:mod:`routegraph.spec.schema`, which re-exports them). No torch here.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(PosInt).validate_python(3)
3
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

#: Largest integer a spec field accepts: torch sizes are 64-bit.
MAX_INT = 2**63 - 1


def _refuse_bool(error_type: str, message: str):
    """A validator refusing ``true``/``false`` where a number is meant (pydantic's lax
    mode would read them as 1 and 0)."""

    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(error_type, message)
        return value

    return BeforeValidator(check)


_NOT_BOOL_INT = _refuse_bool("int_type", "Input should be a valid integer")
_NOT_BOOL_FLOAT = _refuse_bool("float_type", "Input should be a valid number")


def _only_bool(value: Any) -> Any:
    """Booleans are ``true`` or ``false``, not 1, 0 or ``"yes"``."""
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be true or false")
    return value


def spec_int(**bounds) -> Any:
    """The spec's integer type: never a boolean, and within 64 bits (``bounds``: gt, ge).

    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(spec_int(ge=0)).validate_python(0)
    0
    """
    if "gt" not in bounds and "ge" not in bounds:
        bounds["ge"] = -MAX_INT
    # constraints before the validator, so they stay plain JSON-schema keywords
    return Annotated[int, Field(le=MAX_INT, **bounds), _NOT_BOOL_INT]


def spec_float(**bounds) -> Any:
    """The spec's number type: an integer or a float, never a boolean.

    >>> from pydantic import TypeAdapter
    >>> TypeAdapter(spec_float(gt=0)).validate_python(2)
    2.0
    """
    return Annotated[float, Field(**bounds), _NOT_BOOL_FLOAT]


Int = spec_int()
PosInt = spec_int(gt=0)
NonNegInt = spec_int(ge=0)
Float = spec_float()
Bool = Annotated[bool, BeforeValidator(_only_bool)]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="node name: letters, digits, '_', dotted for template instances")]
Init = Literal["xavier", "zeros"]


class Strict(BaseModel):
    """Base of every spec model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
