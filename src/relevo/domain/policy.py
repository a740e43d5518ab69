"""Policy and business filters: which items may be shown to whom, as pure predicates.

Policy constrains the model, never the reverse: every answer, personalized or fallback, goes
through the same checks, each reporting how many candidates it removed. Where a fact is missing
the check fails closed: an item the catalog does not know is not shown, an age-gated item is not
shown to a person of unknown age, a region-limited item is not shown where the region is
unknown.

Placement rules use a small syntax, one rule a string:

- ``include category=books``: only items that match;
- ``exclude tag=adult``: never items that match;
- ``boost category=sale 1.5``: multiply the score of matching items.

A match is ``category=V``, ``tag=V``, ``item=V`` or ``attribute.NAME=V``.

>>> rule = parse_rule("boost tag=sale 1.5")
>>> rule.action, rule.matches(Item("x", tags=["sale"])), rule.factor
('boost', True, 1.5)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from relevo.domain.decisions import FilterReport, Filters
from relevo.domain.items import Item

Check = tuple[str, Callable[[Item], bool]]  # a name, and "may this item be shown?"


@dataclass(frozen=True)
class Audience:
    """What policy knows of the person: region, and age if known."""

    region: str | None
    age: int | None


@dataclass(frozen=True)
class Rule:
    action: str  # include, exclude or boost
    field: str  # category, tag, item or attribute.NAME
    value: str
    factor: float = 1.0

    def matches(self, item: Item) -> bool:
        if self.field == "category":
            return item.category == self.value
        if self.field == "tag":
            return self.value in item.tags
        if self.field == "item":
            return item.item_id == self.value
        return str(item.attributes.get(self.field.removeprefix("attribute."))) == self.value


class RuleError(ValueError):
    """A placement rule that does not parse; the message says what the syntax is."""


def parse_rule(text: str) -> Rule:
    parts = text.split()
    usage = "a rule is 'include|exclude FIELD=VALUE' or 'boost FIELD=VALUE FACTOR'"
    if len(parts) not in (2, 3) or "=" not in parts[1]:
        raise RuleError(f"'{text}': {usage}")
    action, (field, value) = parts[0], parts[1].split("=", 1)
    known = field in ("category", "tag", "item") or field.startswith("attribute.")
    if action not in ("include", "exclude", "boost") or not known or not value:
        raise RuleError(f"'{text}': {usage}, FIELD one of category, tag, item, attribute.NAME")
    if (action == "boost") != (len(parts) == 3):
        raise RuleError(f"'{text}': {usage}")
    try:
        factor = float(parts[2]) if action == "boost" else 1.0
    except ValueError:
        raise RuleError(f"'{text}': the boost factor must be a number") from None
    return Rule(action, field, value, factor)


POLICY = frozenset({"unavailable", "region", "age"})
"""The names of ``policy_checks``."""


def unrestricted(catalog: Mapping[str, Item]) -> frozenset[str]:
    """The items no policy check can refuse, whoever asks (available, in every region, not
    age-gated): ``apply_checks`` need not run those checks on them, and most items are such.

    >>> sorted(unrestricted({"a": Item("a"), "b": Item("b", min_age=18)}))
    ['a']
    """
    return frozenset(
        item_id
        for item_id, item in catalog.items()
        if item.available and not item.regions and item.min_age is None
    )


def policy_checks(audience: Audience) -> list[Check]:
    """Checks no answer may skip, whatever the strategy and whatever the fallback."""
    region, age = audience.region, audience.age
    return [
        ("unavailable", lambda item: item.available),
        ("region", lambda item: not item.regions or region in item.regions),
        ("age", lambda item: item.min_age is None or (age is not None and age >= item.min_age)),
    ]


def request_checks(
    filters: Filters, excluded: Collection[str], seen: Collection[str], rules: Sequence[Rule]
) -> list[Check]:
    """The caller's and the placement's business filters; only those that apply."""
    checks: list[Check] = []
    if seen:
        checks.append(("seen", lambda item: item.item_id not in seen))
    if excluded:
        checks.append(("exclude_ids", lambda item: item.item_id not in excluded))
    if filters.category is not None:
        categories = set(filters.category)
        checks.append(("category", lambda item: item.category in categories))
    if filters.tags is not None:
        tags = set(filters.tags)
        checks.append(("tags", lambda item: not tags.isdisjoint(item.tags)))
    if filters.price_min is not None or filters.price_max is not None:
        low = filters.price_min if filters.price_min is not None else 0.0
        high = filters.price_max if filters.price_max is not None else float("inf")
        checks.append(("price", lambda item: item.price is not None and low <= item.price <= high))
    for name, wanted in filters.attributes.items():
        checks.append(
            (f"attribute.{name}", lambda item, n=name, w=wanted: item.attributes.get(n) == w)
        )
    for rule in rules:
        if rule.action == "include":
            checks.append((f"rule:{rule.field}={rule.value}", rule.matches))
        elif rule.action == "exclude":
            checks.append(
                (f"rule:not {rule.field}={rule.value}", lambda i, r=rule: not r.matches(i))
            )
    return checks


def apply_checks(
    candidates: Sequence[str],
    catalog: Callable[[str], Item | None],
    checks: Sequence[Check],
    want: int | None = None,
    free: Collection[str] = frozenset(),
) -> tuple[list[str], list[FilterReport]]:
    """The candidates every check lets through, in order, and what each check removed; a
    removed item counts for the first check that refused it. With ``want``, it stops once that
    many passed (the rest were not examined, and count nowhere). Items in ``free`` (see
    ``unrestricted``) skip the policy checks, which would let them through.

    An id the catalog does not know is removed first, as ``not_in_catalog``.

    >>> items = {"a": Item("a"), "b": Item("b", available=False)}
    >>> apply_checks(["a", "b", "c"], items.get, policy_checks(Audience("eu", None)))
    (['a'], [FilterReport(name='not_in_catalog', removed=1), FilterReport(name='unavailable', removed=1), FilterReport(name='region', removed=0), FilterReport(name='age', removed=0)])
    >>> apply_checks(["a", "b", "c"], items.get, [], want=1)[0]
    ['a']
    >>> checks = policy_checks(Audience("eu", None))
    >>> apply_checks(["a", "b"], items.get, checks, free=unrestricted(items))[0]  # same answer
    ['a']
    """
    removed = dict.fromkeys(["not_in_catalog", *(name for name, _ in checks)], 0)
    allowed: list[str] = []
    others = [(name, check) for name, check in checks if name not in POLICY]
    for candidate in candidates:
        item = catalog(candidate)
        if item is None:
            removed["not_in_catalog"] += 1
            continue
        for name, check in others if candidate in free else checks:
            if not check(item):
                removed[name] += 1
                break
        else:
            allowed.append(candidate)
            if want is not None and len(allowed) >= want:
                break
    return allowed, [FilterReport(name, count) for name, count in removed.items()]
