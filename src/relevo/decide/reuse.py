"""Decisions kept for reuse: whole answers, for identical requests within the placement's
TTL (``cache_ttl_s``), and prepared decisions, from which each answer is drawn anew.

Both are keyed by who asks for what (the request as sent) and hold the person's state
version they were made for (``versions``): a kept one is used only while it is still the
person's. Only answers that are not a passing fault are kept (``CACHEABLE``).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from relevo.decide.asking import Asking
from relevo.decide.cache import TtlCache
from relevo.decide.prepared import PREPARED_IDLE_S, Prepared
from relevo.decide.promoted import ServingModel
from relevo.domain.decisions import Decision
from relevo.monitoring import CACHE_LOOKUPS

CACHEABLE = frozenset({"none", "no_model", "no_consent"})
ANSWER_TTL_S = 3600
_LOOKUPS = {
    (name, outcome): CACHE_LOOKUPS.labels(name, outcome)
    for name in ("answers", "prepared")
    for outcome in ("hit", "miss")
}


class Reuse:
    def __init__(self, answer_entries: int) -> None:
        self.answers = TtlCache(max_entries=answer_entries, ttl_s=ANSWER_TTL_S)
        self.prepared = TtlCache(answer_entries, PREPARED_IDLE_S, sliding=True)

    def ask(self, asking: Asking) -> tuple[tuple[int, Decision] | None, Prepared | None]:
        """Key the decision, and say what is kept for it: an answer (with the version it was
        made for) and a prepared decision, each if it may be used for this request."""
        asking.key = (
            asking.tenant.tenant_id,
            asking.person,
            asking.region,
            msgspec.json.encode(asking.request),
        )
        asking.caching = asking.strategy.cache_ttl_s > 0 and asking.policy_known
        asking.reusing = asking.policy_known and not asking.request.explain  # explain: anew
        answer = self.answers.get(asking.key) if asking.caching else None
        prepared = self.prepared.get(asking.key) if asking.reusing else None
        return answer, prepared

    def answer(self, asking: Asking, kept: tuple[int, Decision] | None) -> Decision | None:
        """The kept answer, if it was made for the person's version (``asking.version``,
        0 when nothing was kept)."""
        if not asking.caching:
            return None
        hit = kept is not None and kept[0] == (asking.version or 0)
        _LOOKUPS["answers", "hit" if hit else "miss"].inc()
        return kept[1] if hit and kept is not None else None

    def still(
        self,
        asking: Asking,
        prepared: Prepared | None,
        served: ServingModel | None,
        catalog: Mapping | None,
    ) -> Prepared | None:
        """The prepared decision, if it still holds for the person as they are now (served by
        ``served`` from ``catalog``)."""
        if prepared is not None and (
            prepared.version != (asking.version or 0)
            or catalog is None
            or not prepared.holds(asking.now_us, served, catalog)
        ):
            prepared = None
        if asking.reusing:
            _LOOKUPS["prepared", "miss" if prepared is None else "hit"].inc()
        return prepared

    def keep(self, asking: Asking, prepared: Prepared) -> None:
        if asking.reusing and prepared.trace.fallback in CACHEABLE:
            exploring = asking.strategy.exploration > 0
            self.prepared.put(asking.key, prepared.kept(exploring))

    def keep_answer(self, asking: Asking, prepared: Prepared, decision: Decision) -> None:
        if asking.caching and decision.fallback in CACHEABLE:
            ttl_s = asking.strategy.cache_ttl_s
            self.answers.put(asking.key, (prepared.version, decision), ttl_s)
