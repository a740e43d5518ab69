"""Why an input was refused: the field it concerns (as a JSON Pointer) and the rule it broke.

Every entry point reports bad input as a list of these, so a caller can always tell which
field to fix and why, and a bad record never hides the good ones beside it.
"""

from __future__ import annotations

import re

import msgspec


class Violation(msgspec.Struct, frozen=True):
    """One broken rule. ``pointer`` is a JSON Pointer into the offending record ("" = whole).

    >>> Violation("/user_id", "type", "Expected `str`, got `int`").field
    'user_id'
    """

    pointer: str
    rule: str
    detail: str

    @property
    def field(self) -> str:
        """The dotted field path people read in messages and logs."""
        return self.pointer.lstrip("/").replace("/", ".")

    def under(self, prefix: str) -> Violation:
        """The same violation, seen from a record nested at ``prefix`` (a JSON Pointer)."""
        return Violation(prefix + self.pointer, self.rule, self.detail)


_RULES = (
    (re.compile(r"^Object missing required field `([^`]+)`"), "required"),
    (re.compile(r"^Object contains unknown field `([^`]+)`"), "unknown_field"),
    (re.compile(r"^Expected `[^`]+` of length >="), "min_length"),
    (re.compile(r"^Expected `[^`]+` of length <="), "max_length"),
    (re.compile(r"^Expected `[^`]+` matching regex"), "pattern"),
    (re.compile(r"^Expected `[^`]+` >="), "minimum"),
    (re.compile(r"^Expected `[^`]+` <="), "maximum"),
    (re.compile(r"^Invalid RFC3339"), "format"),
    (re.compile(r"^Invalid enum value"), "enum"),
    (re.compile(r"^Expected `"), "type"),
    (re.compile(r"^(JSON is malformed|Input data was truncated)"), "json"),
)
_AT = re.compile(r" - at `\$((?:\.[^.`\[]+|\[\d+\]|\[\.\.\.\])*)`$")


def from_msgspec_error(message: str) -> Violation:
    """Turn msgspec's one-line validation message into a Violation with a pointer and a rule.

    >>> from_msgspec_error("Expected `str`, got `int` - at `$.user_id`")
    Violation(pointer='/user_id', rule='type', detail='Expected `str`, got `int`')
    >>> from_msgspec_error("Object missing required field `type`").pointer
    '/type'
    >>> from_msgspec_error("Expected `int` >= 0 - at `$.tags[2]`").pointer
    '/tags/2'
    >>> from_msgspec_error("Expected `bool`, got `str` - at `$[...]`")  # a value in a map
    Violation(pointer='', rule='type', detail='Expected `bool`, got `str`')
    """
    path = ""
    match = _AT.search(message)
    if match:
        message = message[: match.start()]
        path = match.group(1).replace("[...]", "")  # a map value: msgspec does not say which key
    pointer = "".join("/" + part.strip(".[]") for part in re.findall(r"\.[^.\[]+|\[\d+\]", path))
    rule = "invalid"
    for pattern, name in _RULES:
        found = pattern.search(message)
        if found:
            rule = name
            if name in ("required", "unknown_field"):
                pointer += "/" + found.group(1)
            break
    return Violation(pointer, rule, message)
