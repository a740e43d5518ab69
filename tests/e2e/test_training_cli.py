"""``relevo train``, ``evaluate`` and ``recommend-batch`` as a user runs them; promote and
roll back change what ``recommend-batch`` answers with."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

from relevo.synthetic import generate
from tests.conftest import iso, now


def _events(path, rows) -> None:
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_id": f"e-{i}",
                    "type": "purchase",
                    "occurred_at": iso(now() - timedelta(days=days)),
                    "user_id": user,
                    "item_id": item,
                }
            )
            for i, (user, item, days) in enumerate(rows, start=len(_events.sent))
        )
        + "\n"
    )
    _events.sent.extend(rows)


_events.sent = []  # type: ignore[attr-defined]


def _answer(cli, people) -> list[tuple[str, str]]:
    output = cli.run("recommend-batch", str(people), "-t", "shop", "--model", "popularity").stdout
    return [(row["user_id"], row["item_id"]) for row in csv.DictReader(io.StringIO(output))]


def test_promote_and_rollback_change_what_recommend_batch_uses(cli, tmp_path) -> None:
    cli.create_tenant("shop", "eu")
    first = tmp_path / "first.jsonl"
    rows = [(f"u{p}", item, 20 - p) for p in range(6) for item in ("mug", "tea")]
    rows += [("u0", "kettle", 3), ("u1", "kettle", 3), ("u2", "spoon", 2)]
    _events(first, rows)
    cli.run("import", str(first), "-t", "shop")
    cli.run("train", "-t", "shop", "--models", "popularity")
    people = tmp_path / "people.txt"
    people.write_text("user_id\nu3\nu4\n")
    before = _answer(cli, people)
    assert before[0] == ("u3", "kettle")

    second = tmp_path / "second.jsonl"  # a new favourite, then a new version that knows it
    _events(second, [(f"n{p}", "teapot", 1) for p in range(8)])
    cli.run("import", str(second), "-t", "shop")
    cli.run("train", "-t", "shop", "--models", "popularity")
    after = _answer(cli, people)
    assert after[0] == ("u3", "teapot") and after != before

    rolled = cli.run("models", "rollback", "popularity", "-t", "shop").stdout
    assert "1" in rolled
    assert _answer(cli, people) == before
    cli.run("models", "promote", "popularity", "2", "-t", "shop")
    assert _answer(cli, people) == after


def _shop_of_generated_data(cli, tmp_path) -> None:
    """Tenant ``shop`` with a generated catalog and 600 people's events."""
    cli.create_tenant("shop", "eu")
    data = tmp_path / "generated"
    cli.run("generate", str(data), "--people", "600", "--items", "80")
    cli.run("items", "import", str(data / "items.jsonl"), "-t", "shop")
    cli.run("import", str(data / "events.jsonl"), "-t", "shop")


def test_evaluate_prints_every_metric_as_json(cli, tmp_path) -> None:
    _shop_of_generated_data(cli, tmp_path)
    done = cli.run(
        "evaluate", "-t", "shop", "--split", "random", "--seed", "3", "--models",
        "popularity,itemknn,ease", "--json",
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert result["protocol"] == "random" and result["k"] == 10
    assert [r["model"] for r in result["results"]] == ["popularity", "itemknn", "ease"]
    for row in result["results"]:
        assert set(row["metrics"]) == {
            f"{m}@10" for m in ("precision", "recall", "ndcg", "map", "mrr", "hitrate", "coverage")
        }
        assert 0 <= row["metrics"]["ndcg@10"] <= 1 and row["train_seconds"] >= 0
    personal = {r["model"]: r["metrics"]["ndcg@10"] for r in result["results"]}
    assert max(personal["itemknn"], personal["ease"]) > personal["popularity"]


def test_evaluate_a_file_needs_no_tenant_and_says_why_rows_were_skipped(cli, tmp_path) -> None:
    data = tmp_path / "generated"
    cli.run("generate", str(data), "--people", "300", "--items", "80")
    events = data / "events.jsonl"
    with events.open("a") as file:
        file.write('{"event_id": "bad", "type": "purchase", "item_id": "i1"}\n')
    done = cli.run(
        "evaluate", "--interactions", str(events), "--split", "random", "--models",
        "popularity,ease",
    )  # fmt: skip
    assert "1 rows of events.jsonl broke the event contract" in done.stderr
    assert re.search(r"row \d+: occurred_at: is required \(required\)", done.stderr)
    header = next(line for line in done.stdout.splitlines() if "ndcg@10" in line)
    for column in ("precision@10", "coverage@10", "hitrate@10", "train s"):
        assert column in header  # whole, though the output is piped (Rich assumes 80 columns)
    assert "events.jsonl, random split" in done.stdout
    assert not (cli.data_dir / "control.sqlite3").exists()  # no storage was touched
    done = cli.run("evaluate", "--models", "ease", check=False)
    assert done.returncode == 2 and "--interactions" in done.stderr


def test_bad_training_input_is_a_one_line_error(cli, tmp_path) -> None:
    cli.create_tenant("shop", "eu")
    done = cli.run("train", "-t", "shop", "--models", "magic", check=False)
    assert done.returncode == 2 and "models:" in done.stderr and "Traceback" not in done.stderr
    done = cli.run("train", "-t", "shop", check=False)
    assert done.returncode == 2 and "no interactions" in done.stderr
    done = cli.run("recommend-batch", str(tmp_path / "absent.txt"), "-t", "shop", check=False)
    assert done.returncode == 2 and "no such file" in done.stderr


def test_train_and_answer_from_a_file_with_the_imports_mapping(cli, tmp_path) -> None:
    cli.create_tenant("shop", "eu")
    orders = tmp_path / "orders.csv"
    lines = ["customer,sku,ordered_at"]
    for person in range(12):
        basket = ("pen", "ink", "pad") if person % 2 else ("cup", "tea", "pot")
        basket = basket[:1] if person == 0 else basket  # c0 has only bought a cup so far
        lines += [f"c{person},{sku},2026-01-0{1 + j}T10:00:00Z" for j, sku in enumerate(basket)]
    lines.append("c99,,not-a-time")  # breaks the contract: skipped, counted
    orders.write_text("\n".join(lines) + "\n")
    reading = ["--map", "user_id=customer,item_id=sku,occurred_at=ordered_at", "--type", "purchase"]
    done = cli.run(
        "train", "-t", "shop", "--models", "itemknn", "--param", "itemknn.neighbors=5",
        "--interactions", str(orders), *reading, "--json",
    )  # fmt: skip
    (record,) = json.loads(done.stdout)
    assert record["params"]["neighbors"] == 5 and record["lineage"]["source"] == "orders.csv"
    assert record["event_count"] == 34 and "1 rows of orders.csv" in done.stderr
    people = tmp_path / "people.txt"
    people.write_text("c0\nc1\n")
    answer = cli.run(
        "recommend-batch", str(people), "-t", "shop", "--model", "itemknn",
        "--interactions", str(orders), *reading,
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(answer.stdout)))
    first = [(r["item_id"], r["rank"]) for r in rows if r["user_id"] == "c0"][:2]
    assert sorted(first) == [("pot", "2"), ("tea", "1")] or sorted(first) == [
        ("pot", "1"),
        ("tea", "2"),
    ]
    bad = cli.run("train", "-t", "shop", "--param", "ease.lambda=3", check=False)
    assert bad.returncode == 2 and "param" in bad.stderr and "Traceback" not in bad.stderr


def _promoted(cli) -> dict[str, int | None]:
    listed = json.loads(cli.run("models", "list", "-t", "shop", "--json").stdout)
    return {entry["name"]: entry["promoted"] for entry in listed}


def test_a_newcomer_dated_now_leaves_the_hybrid_trainable(cli, tmp_path) -> None:
    cli.create_tenant("shop")
    old = tmp_path / "old"
    generate(old, people=150, items=60, end=now() - timedelta(days=365), days=60)
    cli.run("items", "import", str(old / "items.jsonl"), "-t", "shop")
    cli.run("import", str(old / "events.jsonl"), "-t", "shop")
    newcomer = tmp_path / "newcomer.jsonl"
    _events(newcomer, [("newcomer", "mug", 0)])  # the one event of a new person, dated now
    cli.run("import", str(newcomer), "-t", "shop")
    done = cli.run("train", "-t", "shop", "--models", "hybrid", check=False)
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stderr
    assert _promoted(cli)["hybrid"] == 1


def test_a_model_that_fails_is_named_and_the_others_are_registered(cli, tmp_path) -> None:
    cli.create_tenant("shop", "eu")
    events = tmp_path / "events.jsonl"
    _events(events, [(f"u{p}", item, 20 - p) for p in range(8) for item in ("mug", "tea", "pot")])
    cli.run("import", str(events), "-t", "shop")
    done = cli.run(
        "train", "-t", "shop", "--models", "popularity,ease,itemknn",
        "--param", "ease.l2=-1000000000", check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "ease could not be trained: LinAlgError" in done.stderr
    assert "popularity" in done.stdout and "itemknn" in done.stdout  # the table of the others
    assert _promoted(cli) == {"itemknn": 1, "popularity": 1}


def test_train_auto_then_models_show_says_which_won_and_by_how_much(cli, tmp_path) -> None:
    _shop_of_generated_data(cli, tmp_path)
    trained = json.loads(
        cli.run("train", "-t", "shop", "--models", "popularity,ease,auto", "--json").stdout
    )
    auto = next(record for record in trained if record["name"] == "auto")
    ((chosen, version),) = auto["lineage"]["selected"].items()
    contenders = auto["lineage"]["contenders"]
    assert set(contenders) == {"popularity", "ease"}
    assert contenders[chosen]["ndcg@10"] == max(c["ndcg@10"] for c in contenders.values())
    shown = " ".join(cli.run("models", "show", "auto", "-t", "shop").stdout.split())
    assert f"{chosen} version {version}, NDCG@10 {contenders[chosen]['ndcg@10']:.4f}" in shown
    other = next(name for name in contenders if name != chosen)
    assert f"the next, {other} ({contenders[other]['ndcg@10']:.4f})" in shown
    assert "validation" in shown and "of the events" in shown
