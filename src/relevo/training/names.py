"""Model names and parameters as a user gives them, checked against the names of the domain.

Kept apart from the model classes so that the command line can name them (in ``--help`` and
errors) without importing NumPy, SciPy, scikit-learn, implicit and LightGBM on every command.
"""

from __future__ import annotations

from relevo.decoding import InvalidInput
from relevo.domain.model_names import AUTO, BASE_NAMES, HYBRID_BASES, MODEL_NAMES, TRAIN_NAMES
from relevo.domain.violations import Violation

__all__ = [
    "AUTO",
    "BASE_NAMES",
    "HYBRID_BASES",
    "MODEL_NAMES",
    "TRAIN_NAMES",
    "model_names",
    "model_params",
]


def model_names(text: str | None) -> list[str]:
    """Names from ``a,b,c`` (all of them when empty), each checked.

    >>> model_names("ease, als")
    ['ease', 'als']
    """
    if not text:
        return list(TRAIN_NAMES)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRAIN_NAMES]
    if unknown or not names:
        raise InvalidInput(
            [
                Violation(
                    "/models",
                    "enum",
                    f"unknown model {', '.join(unknown) or '(none)'}: choose among"
                    f" {', '.join(TRAIN_NAMES)}",
                )
            ]
        )
    return list(dict.fromkeys(names))


def model_params(settings: list[str] | None) -> dict[str, dict[str, float]]:
    """``NAME.PARAMETER=NUMBER`` settings, by model name (checked against the model by
    ``fit_models``).

    >>> model_params(["ease.l2=500", "als.factors=32"])
    {'ease': {'l2': 500}, 'als': {'factors': 32}}
    """
    found: dict[str, dict[str, float]] = {}
    for setting in settings or []:
        name, dot, rest = setting.partition(".")
        key, equals, text = rest.partition("=")
        try:
            value: float = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            value = float("nan")
        if not (dot and equals and key) or name not in MODEL_NAMES or value != value:
            raise InvalidInput(
                [
                    Violation(
                        "/param",
                        "format",
                        f"'{setting}' must be NAME.PARAMETER=NUMBER with NAME one of"
                        f" {', '.join(MODEL_NAMES)}, e.g. ease.l2=500",
                    )
                ]
            )
        found.setdefault(name, {})[key] = value
    return found
