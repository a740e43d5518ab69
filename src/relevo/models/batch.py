"""Top-k lists for many people at once, from any model: the batch answer's numerical part,
and what evaluation and selection measure.

A registered model knows its own item index; the people's histories may come from data indexed
otherwise (the log has grown since the model was trained), so histories are re-indexed to the
model's items first, and items the model never saw are left out of them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from relevo.models.base import Model, People, spans
from relevo.models.interactions import Interactions
from relevo.models.topk import top_k


def ranked(model: Model, people: People, k: int) -> np.ndarray:
    """Each person's top ``k`` unseen items (item indices, -1 padded), in chunks that bound
    memory: what evaluation and selection measure."""
    found = [
        top_k(model.score(chunk), k, exclude=chunk.history)
        for chunk in (people.part(*span) for span in spans(len(people), len(model.item_ids)))
    ]
    return np.vstack(found) if found else np.empty((0, k), dtype=np.int64)


def top_items(
    model: Model, data: Interactions, people: np.ndarray, k: int
) -> list[tuple[int, str, int, float]]:
    """(position in ``people``, item id, rank from 1, score) of each person's top ``k`` unseen."""
    align = _alignment(data.item_ids, model.item_ids)
    rows: list[tuple[int, str, int, float]] = []
    for start, end in spans(len(people), len(model.item_ids)):
        batch = _in_vocabulary(People.of(data, people[start:end]), align, model)
        scores = model.score(batch)
        for offset, (best, row) in enumerate(
            zip(top_k(scores, k, exclude=batch.history), scores, strict=True)
        ):
            for rank, item in enumerate(best[best >= 0], start=1):
                rows.append((start + offset, str(model.item_ids[item]), rank, float(row[item])))
    return rows


def _alignment(data_items: np.ndarray, model_items: np.ndarray) -> np.ndarray | None:
    """For each item index of the data, its index in the model (-1 if the model lacks it);
    None when both index the same items alike (the model was trained on this data)."""
    if np.array_equal(data_items, model_items):
        return None
    position = {item: i for i, item in enumerate(model_items.tolist())}
    return np.asarray([position.get(str(item), -1) for item in data_items], dtype=np.int64)


def _in_vocabulary(people: People, align: np.ndarray | None, model: Model) -> People:
    if align is None:
        return people
    coo = people.history.tocoo()
    keep = align[coo.col] >= 0
    history = sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], align[coo.col[keep]])),
        shape=(len(people), len(model.item_ids)),
    )
    sequences = [align[s][align[s] >= 0].astype(np.int32) for s in people.sequences]
    return People(history, sequences, people.regions, people.last_seen_us)
