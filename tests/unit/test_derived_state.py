"""The derived-state fold is order-independent: the base of replay and of dedupe safety."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from relevo.domain.derived import RecentItem, derive, merge_recent, micros
from relevo.domain.events import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)

entries = st.lists(
    st.builds(
        RecentItem,
        st.integers(0, 50),
        st.sampled_from(["e1", "e2", "e3", "e4"]),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.sampled_from(["view", "click"]),
    ),
    max_size=30,
)


@given(entries, st.integers(1, 6), st.randoms())
def test_merging_recent_items_in_any_grouping_gives_the_same_list(items, limit, rnd) -> None:
    once = merge_recent([], items, limit)
    shuffled = items[:]
    rnd.shuffle(shuffled)
    state: list[RecentItem] = []
    for start in range(0, len(shuffled), 3):
        state = merge_recent(state, shuffled[start : start + 3], limit)
    assert state == once
    assert len({e.item_id for e in once}) == len(once) <= limit


def test_derive_counts_types_items_and_recent_items() -> None:
    def ev(i: int, kind: str, item: str | None, minutes: int) -> Event:
        return Event(f"e{i}", kind, T0 + timedelta(minutes=minutes), user_id="u", item_id=item)

    delta = derive(
        [
            ev(1, "view", "a", 1),
            ev(2, "view", "b", 2),
            ev(3, "purchase", "a", 3),
            ev(4, "impression", "c", 4),
            ev(5, "signup", None, 5),
        ],
        recent_limit=10,
    )
    assert delta.type_counts == {"view": 2, "purchase": 1, "impression": 1, "signup": 1}
    assert delta.item_stats[("a", "view")].count == 1
    assert delta.item_stats[("a", "purchase")].last_at_us == micros(T0 + timedelta(minutes=3))
    assert [r.item_id for r in delta.recent["u:u"]] == ["a", "b"]  # impressions are not interest


def test_micros_is_exact() -> None:
    moment = datetime(2026, 11, 21, 10, 0, 0, 123457, tzinfo=UTC)
    assert micros(moment) == int(moment.replace(microsecond=0).timestamp()) * 1_000_000 + 123457
    assert micros(moment.astimezone(timezone(timedelta(hours=5)))) == micros(moment)
