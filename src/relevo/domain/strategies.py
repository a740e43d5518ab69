"""Strategies: how a placement answers. Configured per placement, checked when the engine
starts, so a bad strategy stops the process with a message rather than failing a request."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, NamedTuple

import msgspec

from relevo.domain.policy import Rule, RuleError, parse_rule

DEFAULT_PLACEMENT = "default"
MAX_PROPOSALS = 500


class Ranker(NamedTuple):
    """What ranks for a placement: a model and, for a hybrid, how many items each of its
    bases proposes. Rankings are cached and precomputed per ranker, so placements that rank
    alike share them."""

    model: str
    sources: tuple[tuple[str, int], ...] = ()


class Strategy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a placement does; every field has a default, so ``{}`` is a working strategy.

    - ``model``: the registered model that ranks (its promoted version serves); ``auto``, the
      default, is the model ``relevo train`` chose as measuring best on the tenant's data.
    - ``sources``: for a hybrid model, the candidate sources and their counts: how many items
      each base model proposes for the ranker to order (a base not named proposes as many as
      in training; 0 proposes none, though its score still informs the ranking).
    - ``exclude_seen`` / ``seen_window_days``: hide items the person interacted with lately.
    - ``max_per_category``: diversity, at most this many items of one category in an answer.
    - ``exploration``: the chance that the last slot shows an eligible item the model did not
      rank (epsilon-greedy), with the reason "Exploration".
    - ``rules``: include-only, exclude and boost rules (see ``relevo.domain.policy``).
    - ``fallback_items``: the static list, the answer that never fails.
    - ``model_budget_ms``: time the model stage may take before the fallback answers.
    - ``cache_ttl_s``: how long an answer is reused for an identical request of a person who
      did nothing since (0: never).
    """

    model: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,63}$")] = "auto"
    sources: dict[str, Annotated[int, msgspec.Meta(ge=0, le=MAX_PROPOSALS)]] = {}
    exclude_seen: bool = True
    seen_window_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    max_per_category: Annotated[int, msgspec.Meta(ge=1)] | None = None
    exploration: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    rules: list[str] = []
    fallback_items: list[str] = []
    model_budget_ms: Annotated[float, msgspec.Meta(gt=0, le=10_000)] = 50.0
    cache_ttl_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 2.0

    def parsed_rules(self) -> list[Rule]:
        return [parse_rule(text) for text in self.rules]

    @property
    def ranker(self) -> Ranker:
        return Ranker(self.model, tuple(sorted(self.sources.items())))


def strategies(
    configured: dict[str, object], source_names: Collection[str] = ()
) -> dict[str, Strategy]:
    """Each placement's strategy (``default`` always exists), or ValueError naming the field.
    With ``source_names``, the candidate sources a strategy names must be among them.

    >>> strategies({"home": {"exploration": 2}})
    Traceback (most recent call last):
    ValueError: placements.home: Expected `float` <= 1.0 - at `$.exploration`
    >>> strategies({"home": {"sources": {"magic": 5}}}, ("ease", "session"))
    Traceback (most recent call last):
    ValueError: placements.home: unknown candidate source 'magic' - at `$.sources`; known: ease, session
    """
    found = {DEFAULT_PLACEMENT: Strategy()}
    for placement, body in configured.items():
        try:
            strategy = msgspec.convert(body, Strategy)
            strategy.parsed_rules()
        except (msgspec.ValidationError, RuleError) as error:
            raise ValueError(f"placements.{placement}: {error}") from None
        unknown = [name for name in strategy.sources if source_names and name not in source_names]
        if unknown:
            raise ValueError(
                f"placements.{placement}: unknown candidate source '{unknown[0]}' - at"
                f" `$.sources`; known: {', '.join(source_names)}"
            )
        found[placement] = strategy
    return found
