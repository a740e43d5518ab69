"""Fitting any set of the models Relevo trains (``relevo.models.kinds``) at once.

The hybrid ranks the candidates of the base models it names (``HYBRID_BASES``), so asking for
it fits those too. A model whose fit fails is reported by name and reason beside the others,
which are kept: one model's failure never costs a run its other models.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from relevo.decoding import InvalidInput
from relevo.domain.model_names import HYBRID_BASES
from relevo.domain.model_records import CannotTrain, Failed
from relevo.domain.violations import Violation
from relevo.models.base import ItemFeatures, Model
from relevo.models.interactions import Interactions
from relevo.models.kinds import MODEL_CLASSES

log = logging.getLogger("relevo.training")


@dataclass(frozen=True)
class Fitted:
    model: Model
    seconds: float  # its own fit; a hybrid's includes fitting its bases


@dataclass(frozen=True)
class Fits:
    """What one run fitted (in fitting order, bases before the hybrid) and what failed."""

    fitted: dict[str, Fitted]
    failed: list[Failed]

    def model(self, name: str) -> Model:
        """The fitted model of that name, for a caller that needs that one: ``CannotTrain``
        with its reason if it failed."""
        self._refuse([f for f in self.failed if f.name == name])
        return self.fitted[name].model

    def every(self) -> dict[str, Fitted]:
        """Every model, for a caller whose answer needs them all (a comparison): otherwise
        ``CannotTrain`` naming each failure."""
        self._refuse(self.failed)
        return self.fitted

    @staticmethod
    def _refuse(failed: list[Failed]) -> None:
        if failed:
            raise CannotTrain(
                "; ".join(f"{f.name} could not be trained: {f.reason}" for f in failed)
            )


def check_params(params: Mapping[str, Mapping[str, object]]) -> None:
    """Refuse, before any work, a parameter a model does not have, naming the ones it has."""
    problems = []
    for name, given in params.items():
        known = set(inspect.signature(MODEL_CLASSES[name].__init__).parameters) - {"self", "bases"}
        unknown = sorted(set(given) - known)
        if unknown:
            problems.append(
                Violation(
                    "/param",
                    "enum",
                    f"{name} has no parameter {', '.join(unknown)}; it has {', '.join(sorted(known))}",
                )
            )
    if problems:
        raise InvalidInput(problems)


def build_model(name: str, params: Mapping[str, object], **parts: object) -> Model:
    """A model of that name with these parameters (``parts``: a hybrid's bases)."""
    check_params({name: params})
    return MODEL_CLASSES[name](**params, **parts)


def needed_models(names: Iterable[str]) -> list[str]:
    """The models fitting ``names`` takes, in fitting order: a hybrid's bases before it.

    >>> needed_models(["ease", "hybrid"])[:3], needed_models(["ease", "hybrid"])[-1]
    (['ease', 'popularity', 'trending'], 'hybrid')
    """
    wanted = list(dict.fromkeys(names))
    needed = [n for n in wanted if n != "hybrid"]
    if "hybrid" in wanted:
        needed += [*(n for n in HYBRID_BASES if n not in needed), "hybrid"]
    return needed


def fit_models(
    names: Iterable[str],
    interactions: Interactions,
    items: ItemFeatures,
    params: Mapping[str, Mapping[str, object]] | None = None,
    fitted: Mapping[str, Fitted] | None = None,
) -> Fits:
    """Fit each named model (and the bases a hybrid needs) on the same data, each with its
    ``params`` over its defaults; a model in ``fitted`` (fitted already on this data, with
    these parameters) is taken as it is. Parameters a model does not have stop the run
    before any work (``InvalidInput``); a fit that fails is that model's failure alone, and a
    hybrid whose base failed is failed too, since it cannot rank without it."""
    params = params or {}
    check_params(params)
    fits = Fits({}, [])
    for name in needed_models(names):  # a hybrid comes last, after its bases
        given = params.get(name, {})
        if fitted and name in fitted:
            _keep(fits, name, fitted[name])
        elif name == "hybrid":
            _keep(fits, name, _fit_hybrid(fits, given, interactions, items))
        else:
            _keep(fits, name, _fit(name, given, interactions, items))
    return fits


def _fit_hybrid(
    fits: Fits, params: Mapping[str, float], interactions: Interactions, items: ItemFeatures
) -> Fitted | Failed:
    """The hybrid on the bases fitted in this run; its time includes theirs."""
    missing = [name for name in HYBRID_BASES if name not in fits.fitted]
    if missing:
        return Failed("hybrid", f"its base {', '.join(missing)} could not be trained")
    bases = {name: fits.fitted[name].model for name in HYBRID_BASES}
    done = _fit("hybrid", params, interactions, items, bases=bases)
    if isinstance(done, Failed):
        return done
    return Fitted(done.model, done.seconds + sum(fits.fitted[n].seconds for n in HYBRID_BASES))


def _fit(
    name: str,
    params: Mapping[str, object],
    interactions: Interactions,
    items: ItemFeatures,
    **parts: object,
) -> Fitted | Failed:
    """One model fitted, or why not: any exception is caught here, because a model's failure
    (bad data for it, a parameter its library refuses, a bug) must not lose the others."""
    started = time.perf_counter()
    try:
        model = build_model(name, params, **parts)
        model.fit(interactions, items)
    except Exception as error:
        log.debug("%s could not be trained", name, exc_info=True)  # the trace, for debugging
        return Failed(name, failure_reason(error))
    return Fitted(model, time.perf_counter() - started)


def _keep(fits: Fits, name: str, done: Fitted | Failed) -> None:
    if isinstance(done, Failed):
        fits.failed.append(done)
    else:
        fits.fitted[name] = done


def failure_reason(error: Exception) -> str:
    """One line a person can act on: a domain refusal's own words, else the error's type and
    message (a library's message alone, such as "kth out of bounds", hides what failed)."""
    text = " ".join(str(error).split())
    if isinstance(error, CannotTrain):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
