"""The derived-state fold is order-independent: the base of replay and of dedupe safety."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from relevo.domain.derived import (
    DAY_US,
    PersonDay,
    RecentItem,
    StateDelta,
    decayed,
    derive,
    merge_recent,
    micros,
)
from relevo.domain.events import DEFAULT_WEIGHTS, Event
from relevo.domain.people import PersonAttributes
from relevo.domain.person_state import SeenItem, Session, person_state, sessions_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY0 = micros(T0) // DAY_US
FACETS = {"a": ("shoes", ["red", "sale"]), "b": ("hats", ["red"]), "c": (None, ["sale", "sale"])}

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
        weights=DEFAULT_WEIGHTS,
        facets=FACETS,
    )
    assert delta.type_counts == {"view": 2, "purchase": 1, "impression": 1, "signup": 1}
    assert delta.item_stats[("a", "view")].count == 1
    assert delta.item_stats[("a", "purchase")].last_at_us == micros(T0 + timedelta(minutes=3))
    assert [r.item_id for r in delta.recent["u:u"]] == ["a", "b"]  # impressions are not interest


def test_derive_folds_weighted_affinities_counters_and_item_days() -> None:
    at = T0 + timedelta(hours=1)
    events = [
        Event("e1", "view", at, user_id="u", item_id="a", session_id="s1"),
        Event("e2", "purchase", at, user_id="u", item_id="a"),
        Event("e3", "dismiss", at + timedelta(days=1), user_id="u", item_id="b"),
        Event("e4", "impression", at, user_id="u", item_id="c", decision_id="d"),
        Event("e5", "view", at, user_id="u", item_id="zz"),  # not in the catalog
        Event("e6", "view", at, user_id="u", item_id="c", session_id="s2"),  # "sale" counts once
        Event("e7", "search", at, user_id="u", properties={"query": "boots"}),
    ]
    delta = derive(events, 10, {**DEFAULT_WEIGHTS, "view": 0.25}, FACETS)
    us = micros(at)
    assert delta.person_days == {
        ("u:u", DAY0): PersonDay(
            us,
            {"view": 3, "purchase": 1, "impression": 1, "search": 1},
            us,
            {"shoes": 5250},
            {"red": 5250, "sale": 5500},
        ),
        ("u:u", DAY0 + 1): PersonDay(
            us + DAY_US, {"dismiss": 1}, us + DAY_US, {"hats": -2000}, {"red": -2000}
        ),
    }
    assert delta.item_days == {
        ("a", DAY0): 5250,
        ("b", DAY0 + 1): -2000,
        ("zz", DAY0): 250,
        ("c", DAY0): 250,
    }  # an impression has no weight: it adds to no affinity and no popularity
    assert RecentItem(us, "e6", "c", "view", "s2") in delta.recent["u:u"]


people_events = st.lists(
    st.builds(
        lambda i, kind, person, item, hour, session, birth_year: Event(
            f"e{i}",
            kind,
            T0 + timedelta(hours=hour),
            user_id=person,
            item_id=item,
            session_id=session,
            properties={} if birth_year is None else {"person": {"birth_year": birth_year}},
        ),
        st.integers(0, 40),
        st.sampled_from(["view", "purchase", "dismiss", "return", "impression"]),
        st.sampled_from(["p", "q"]),
        st.sampled_from(["a", "b", "c", "zz"]),
        st.integers(0, 24 * 5),
        st.sampled_from([None, "s1", "s2"]),
        st.one_of(st.none(), st.integers(1950, 2010)),
    ),
    max_size=30,
    unique_by=lambda e: e.event_id,
)


def fold(deltas: list[StateDelta], limit: int) -> StateDelta:
    """Deltas applied one after the other, as the partition writer does."""
    total = StateDelta()
    for delta in deltas:
        total.type_counts.update(delta.type_counts)
        total.item_days.update(delta.item_days)
        for key, day in delta.person_days.items():
            held = total.person_days.setdefault(key, PersonDay(day.counted_at_us, {}))
            held.merge(day)
        for key, attribute in delta.attributes.items():
            held_attribute = total.attributes.get(key)
            if held_attribute is None or attribute[:2] > held_attribute[:2]:
                total.attributes[key] = attribute
        for person, entries in delta.recent.items():
            total.recent[person] = merge_recent(total.recent.get(person, ()), entries, limit)
    return total


@given(people_events, st.integers(1, 5), st.randoms())
def test_affinities_counters_and_attributes_fold_in_any_order_and_grouping(
    events, size, rnd
) -> None:
    once = derive(events, 4, DEFAULT_WEIGHTS, FACETS)
    shuffled = events[:]
    rnd.shuffle(shuffled)
    chunks = [shuffled[i : i + size] for i in range(0, len(shuffled), size)]
    parts = fold([derive(chunk, 4, DEFAULT_WEIGHTS, FACETS) for chunk in chunks], 4)
    assert parts.item_days == once.item_days
    assert parts.person_days == once.person_days
    assert parts.attributes == once.attributes
    assert parts.recent == once.recent


def test_decay_halves_a_days_weight_every_half_life() -> None:
    rows = [("shoes", 100, 1000), ("shoes", 70, 4000), ("hats", 40, 1000), ("hats", 40, 1000)]
    assert decayed(rows, 100, 30) == {"hats": 0.5, "shoes": 3.0}
    assert decayed(rows, 130, 30) == {"hats": 0.25, "shoes": 1.5}
    assert decayed([("shoes", 101, 1000)], 100, 30) == {"shoes": 1.0}  # ahead: never more
    assert decayed([("hats", 1, 1000), ("hats", 1, -1000)], 1) == {"hats": 0.0}


def test_each_days_thousandths_are_summed_exactly_before_decay() -> None:
    tenths = [("x", 5, 100)] * 10 + [("x", 5, -1000)]  # 0.1 ten times, minus one: exactly 0
    assert decayed(tenths, 5, 7) == {"x": 0.0}
    assert decayed(list(reversed(tenths)), 5, 7) == decayed(tenths, 5, 7)


def test_sessions_group_recent_items_newest_first() -> None:
    recent = [
        SeenItem(50, "e", "view", "s3"),
        SeenItem(40, "d", "click", "s1"),
        SeenItem(30, "c", "view"),
        SeenItem(20, "b", "view", "s1"),
        SeenItem(10, "a", "view", "s2"),
    ]
    assert sessions_of(recent) == [
        Session("s3", 50, 50, ["e"]),
        Session("s1", 20, 40, ["d", "b"]),
        Session("s2", 10, 10, ["a"]),
    ]
    assert sessions_of([SeenItem(1, "a", "view")]) == []


def test_person_state_keeps_the_best_twenty_positive_affinities_rounded() -> None:
    now = (DAY0 + 30) * DAY_US + 5
    days = [
        (DAY0, PersonDay(4, {"view": 3, "dismiss": 1}, 3, {"shoes": 2000})),  # 1 half-life: 1.0
        (DAY0 + 1, PersonDay(11, {"view": 1})),
        (DAY0 + 29, PersonDay(9, {}, 9, {"bags": 1})),  # 0.00098: rounds to 0.001
        (
            DAY0 + 30,
            PersonDay(
                7, {}, 7, {"hats": -500, "socks": 0}, {f"t{i:02}": 1000 + i for i in range(25)}
            ),
        ),
    ]
    state = person_state([], days, None, {}, now)
    assert state.affinities["category"] == {"shoes": 1.0, "bags": 0.001}
    assert list(state.affinities["tag"]) == [f"t{i:02}" for i in range(24, 4, -1)]
    assert state.affinities["tag"]["t24"] == 1.024
    assert state.counters == {"dismiss": 1, "view": 4}
    assert state.updated_us == {"affinities": 9, "counters": 11}
    assert state.attributes is None and state.recent == [] and state.sessions == []


@given(
    st.dictionaries(
        st.integers(DAY0 - 90, DAY0 + 1),
        st.dictionaries(st.sampled_from("abcdef"), st.integers(-5000, 9000), min_size=1),
        max_size=12,
    ),
    st.floats(0.5, 60),
)
def test_person_state_decays_as_decayed_does(tags_by_day, half_life) -> None:
    days = [(day, PersonDay(0, {}, 0, {}, tags)) for day, tags in tags_by_day.items()]
    rows = [(key, day, milli) for day, tags in tags_by_day.items() for key, milli in tags.items()]
    scores = decayed(rows, DAY0, half_life)
    state = person_state([], days[::-1], None, {}, DAY0 * DAY_US, half_life)
    expected = sorted(
        ((k, round(v, 4)) for k, v in scores.items() if round(v, 4) > 0),
        key=lambda pair: (-pair[1], pair[0]),
    )
    assert list(state.affinities["tag"].items()) == expected


def test_person_state_merges_put_and_event_attributes_by_time() -> None:
    put = PersonAttributes(birth_year=1990, segments=["vip"], home_region="eu")
    by_events = {"birth_year": (200, 1991), "segments": (50, ["old"]), "attributes": (150, {})}
    state = person_state([], [], (put, 100), by_events, 1_000)
    assert state.attributes == PersonAttributes(birth_year=1991, segments=["vip"], home_region="eu")
    assert state.updated_us == {"attributes": 200}
    alone = person_state([], [], None, {"segments": (5, ["x"])}, 1_000)
    assert alone.attributes == PersonAttributes(segments=["x"])
    assert alone.updated_us == {"attributes": 5}


def test_recent_items_stored_before_sessions_still_decode() -> None:
    stored = b'[[5,"e1","a","view"]]'
    assert msgspec.json.decode(stored, type=list[RecentItem]) == [RecentItem(5, "e1", "a", "view")]
    with_session = RecentItem(5, "e1", "a", "view", "s1")
    assert msgspec.json.decode(msgspec.json.encode(with_session), type=RecentItem) == with_session


def test_micros_is_exact() -> None:
    moment = datetime(2026, 11, 21, 10, 0, 0, 123457, tzinfo=UTC)
    assert micros(moment) == int(moment.replace(microsecond=0).timestamp()) * 1_000_000 + 123457
    assert micros(moment.astimezone(timezone(timedelta(hours=5)))) == micros(moment)
