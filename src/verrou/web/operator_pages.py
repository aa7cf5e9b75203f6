"""The operators' pages (``/operator...``), every one behind :func:`operator_of` (called first,
GET and POST alike: the session, and for a POST its CSRF token and origin).

- breaches: every breach with its severity and figures; one breach's timeline with the
  canaries' evidence, dwell time, severity and its reasons, runs, and a form to record its
  dates and titles (what ``verrou breach set`` does);
- ingest runs with their counts, and one run's rejected values as the store keeps them
  (masked at ingest: row, column, reason, a masked shape, never the value);
- canaries (id, source, planting, kinds: never a value) and their incidents. Planting is the
  command line's (``verrou canary create``): it writes the made-up identities once, to a file
  readable by the operator only, and a web answer would put them in a browser's cache and
  history;
- the outcome curve of a breach, as a PNG and as a table of the same figures;
- relying parties, and revoking one's key;
- keys two accounts claim, and giving one to the account that owns it
  (:mod:`verrou.registry.conflicts`).

Handlers parse, call the domain in the store's thread (:func:`in_store`) and render; a change
answers with a 303 back to its page, ``?done=`` naming what was done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from verrou import plots
from verrou.api.schemas import BREACH_NAME_MAX
from verrou.api.state import in_store
from verrou.errors import InvalidApplicant, NotFound
from verrou.registry import canaries, conflicts, outcomes
from verrou.registry.breaches import BreachPage, breach_pages
from verrou.registry.canary_records import CanaryIncident
from verrou.registry.checks import utc_now
from verrou.registry.records import MEASURES, BreachInfo, IngestRun, Reject
from verrou.store.protocols import RegistryStore
from verrou.web import labels
from verrou.web.forms import field, form_route, posted
from verrou.web.i18n import N_
from verrou.web.operator_auth import operator_of
from verrou.web.pages import gettext, harden, redirect, render

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: The most rejected values one run's page lists (the count says how many there are).
REJECTS_SHOWN: Final = 1_000
#: The newest canary incidents the canaries' page lists.
INCIDENTS_SHOWN: Final = 200
#: The longest text a breach's form takes in each field.
TEXT_MAX: Final = {"title": 200, "source": 200, "description": 4_000}
#: The breach form's dates, and the timeline field each sets.
DATE_FIELDS: Final = {
    "intrusion_started": "intrusion_started_at",
    "detected": "detected_at",
    "contained": "contained_at",
    "disclosed": "disclosed_at",
}

BreachName = Annotated[str, Path(max_length=BREACH_NAME_MAX)]


def _actor(name: str) -> str:
    """How the audit log names an operator acting from the portal."""
    return f"operator:{name}"


# --- breaches -------------------------------------------------------------------------------------


@router.get("/operator")
async def operator_home(request: Request) -> Response:
    await operator_of(request)
    return redirect("/operator/breaches")


@router.get("/operator/breaches")
async def breaches_page(request: Request) -> Response:
    await operator_of(request)
    pages = await in_store(request, breach_pages)
    return render(request, "operator/breaches.html", {"pages": pages})


def _breach_view(store: RegistryStore, name: str) -> tuple[BreachPage, list[IngestRun]]:
    found = breach_pages(store, name)
    if not found:
        raise NotFound("the registry holds no breach of this name")
    runs = [run for run in store.list_runs() if run.breach_id == found[0].breach.id]
    return found[0], runs


@router.get("/operator/breaches/{name}")
async def breach_page(request: Request, name: BreachName) -> Response:
    await operator_of(request)
    page, runs = await in_store(request, lambda store: _breach_view(store, name))
    return render(
        request, "operator/breach.html", {"page": page, "runs": runs, "timeline": _timeline(page)}
    )


#: The breach's dates a timeline shows, and what each event is called in the template.
_EVENTS: Final = {
    "intrusion_started_at": "taken",
    "detected_at": "found",
    "contained_at": "contained",
    "disclosed_at": "disclosed",
}


def _timeline(page: BreachPage) -> list[dict[str, Any]]:
    """The breach's dated events, oldest first (those recorded): the timeline's items."""
    events = [
        {"what": what, "at": getattr(page.breach, attribute)}
        for attribute, what in _EVENTS.items()
        if getattr(page.breach, attribute) is not None
    ]
    if page.first_ingested_at is not None:
        events.append({"what": "first_ingest", "at": page.first_ingested_at})
    events += [{"what": "evidence", "at": e.planted_at, "evidence": e} for e in page.evidence]
    return sorted(events, key=lambda event: event["at"])


def _breach_form(form: Mapping[str, str], current: BreachInfo) -> BreachInfo:
    """The timeline and titles a breach's form posted: a field left empty, or a date on the
    day already recorded, keeps what the breach holds (as ``verrou breach set``'s options
    left out). :class:`InvalidApplicant` naming each field that is not valid."""
    problems: dict[str, str] = {}
    texts: dict[str, Any] = {}
    for name, longest in TEXT_MAX.items():
        value = form.get(name, "").strip()
        if len(value) > longest:
            problems[name] = "too_long"
        texts[name] = value or None
    moments: dict[str, Any] = {}
    for name, attribute in DATE_FIELDS.items():
        text = form.get(name, "").strip()
        moments[attribute] = None
        if not text:
            continue
        try:
            day = date.fromisoformat(text)
        except ValueError:
            problems[name] = "not_a_date"
            continue
        held: datetime | None = getattr(current, attribute)
        if held is None or held.astimezone(UTC).date() != day:
            moments[attribute] = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if problems:
        raise InvalidApplicant(problems)
    return BreachInfo(name=current.name, **texts, **moments)


@router.post("/operator/breaches/{name}")
async def save_breach(request: Request, name: BreachName) -> Response:
    operator = await operator_of(request)
    form = await posted(request)
    fields = {key: field(form, key) for key in (*TEXT_MAX, *DATE_FIELDS)}

    def save(store: RegistryStore) -> None:
        current = store.get_breach(name)
        if current is None:
            raise NotFound("the registry holds no breach of this name")
        store.ensure_breach(_breach_form(fields, current))

    await in_store(request, save)
    logger.info("operator %s recorded breach %s's timeline", operator.name, name)
    return redirect(f"{request.url.path}?done=breach_saved")


# --- ingest runs ----------------------------------------------------------------------------------


def _runs_view(store: RegistryStore) -> tuple[list[IngestRun], dict[int, str]]:
    names = {summary.breach.id: summary.breach.name for summary in store.list_breaches()}
    return store.list_runs(), names


@router.get("/operator/runs")
async def runs_page(request: Request) -> Response:
    await operator_of(request)
    runs, names = await in_store(request, _runs_view)
    return render(request, "operator/runs.html", {"runs": runs, "breach_names": names})


def _run_view(store: RegistryStore, run_id: int) -> tuple[IngestRun, str, list[Reject], int]:
    run = store.get_run(run_id)
    name = next((s.breach.name for s in store.list_breaches() if s.breach.id == run.breach_id), "")
    shown: list[Reject] = []
    total = 0
    for reject in store.rejects(run_id):
        total += 1
        if len(shown) < REJECTS_SHOWN:
            shown.append(reject)
    return run, name, shown, total


@router.get("/operator/runs/{run_id}")
async def run_page(request: Request, run_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    await operator_of(request)
    run, name, rejects, total = await in_store(request, lambda store: _run_view(store, run_id))
    return render(
        request,
        "operator/run.html",
        {"run": run, "breach_name": name, "rejects": rejects, "rejects_total": total},
    )


# --- canaries -------------------------------------------------------------------------------------


def _canaries_view(
    store: RegistryStore,
) -> tuple[list[canaries.CanarySummary], list[CanaryIncident]]:
    return canaries.summaries(store), canaries.incidents(store)


@router.get("/operator/canaries")
async def canaries_page(
    request: Request, source: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    await operator_of(request)
    planted, found = await in_store(request, _canaries_view)
    if source:
        found = [incident for incident in found if incident.canary.source == source]
    return render(
        request,
        "operator/canaries.html",
        {
            "canaries": planted,
            "incidents": found[:INCIDENTS_SHOWN],
            "incidents_total": len(found),
            "source": source or "",
        },
    )


# --- outcome curves -------------------------------------------------------------------------------


#: The outcome plot's words (:class:`verrou.plots.PlotTexts`), translated per page.
PLOT_TEXTS: Final = {
    "title": N_("{breach}: attempts on its identities, by {by} since {origin} ({day})"),
    "x_label": N_("{by}s since {origin}"),
    "y_label": N_("count"),
    "sectors_label": N_("checks by sector"),
}
PLOT_WORDS: Final = {
    "month": N_("month"),
    "week": N_("week"),
    "disclosure": N_("disclosure"),
    "ingest": N_("first ingest"),
    "checks": N_("checks on exposed identities"),
    "step_up": N_("stronger proof asked"),
    "deny": N_("refused"),
    "reports": N_("identity-theft reports"),
    "canary_hits": N_("canary hits"),
}


def plot_texts(request: Request) -> plots.PlotTexts:
    """The plot's words in the page's language."""
    words = {
        code: gettext(request, text) for code, text in {**labels.SECTORS, **PLOT_WORDS}.items()
    }
    return plots.PlotTexts(
        **{name: gettext(request, text) for name, text in PLOT_TEXTS.items()},
        measures={measure: words[measure] for measure in MEASURES},
        words=words,
    )


async def _curve(request: Request, name: str) -> tuple[Any, outcomes.Curve | None]:
    return await in_store(request, lambda store: outcomes.breach_curve(store, name))


@router.get("/operator/outcomes")
async def outcomes_page(
    request: Request, breach: Annotated[str | None, Query(max_length=BREACH_NAME_MAX)] = None
) -> Response:
    await operator_of(request)
    names = await in_store(
        request, lambda store: [summary.breach.name for summary in store.list_breaches()]
    )
    chosen = breach or (names[0] if len(names) == 1 else None)
    shown = None
    if chosen:
        _, shown = await _curve(request, chosen)
    return render(
        request,
        "operator/outcomes.html",
        {"names": names, "chosen": chosen or "", "curve": shown, "measures": MEASURES},
    )


@router.get("/operator/outcomes/{name}.png")
async def outcome_plot(request: Request, name: BreachName) -> Response:
    await operator_of(request)
    _, shown = await _curve(request, name)
    if shown is None:
        raise NotFound("this breach has no disclosure date and no ingest yet: no curve")
    # Drawn off the event loop (a tenth of a second of matplotlib): other requests go on.
    image = await asyncio.to_thread(plots.png, shown, plot_texts(request))
    return harden(Response(image, media_type="image/png"))


# --- relying parties ------------------------------------------------------------------------------


@router.get("/operator/relying-parties")
async def relying_parties_page(request: Request) -> Response:
    await operator_of(request)
    parties = await in_store(request, lambda store: store.list_relying_parties())
    return render(request, "operator/relying_parties.html", {"parties": parties})


@form_route(router, "/operator/relying-parties/{party_id}/revoke", page="/operator/relying-parties")
async def revoke_relying_party(
    request: Request, party_id: Annotated[str, Path(max_length=64)]
) -> Response:
    operator = await operator_of(request)
    now = utc_now()
    revoked = await in_store(
        request,
        lambda store: store.revoke_relying_party(party_id, actor=_actor(operator.name), at=now),
    )
    if not revoked:
        raise NotFound("no active relying party has this id")
    logger.info("operator %s revoked relying party %s", operator.name, party_id)
    return redirect("/operator/relying-parties?done=party_revoked")


# --- conflicts ------------------------------------------------------------------------------------


@router.get("/operator/conflicts")
async def conflicts_page(request: Request) -> Response:
    await operator_of(request)
    now = utc_now()
    found = await in_store(request, lambda store: conflicts.key_conflicts(store, now=now))
    return render(request, "operator/conflicts.html", {"conflicts": found})


@form_route(router, "/operator/conflicts/{key}/resolve", page="/operator/conflicts")
async def resolve_conflict(request: Request, key: Annotated[str, Path(max_length=64)]) -> Response:
    operator = await operator_of(request)
    keep = field(await posted(request), "keep").strip()
    if not keep:
        raise InvalidApplicant({"keep": "required"})
    now = utc_now()
    resolution = await in_store(
        request,
        lambda store: conflicts.resolve_contested_key(
            store, key, keep=keep, actor=_actor(operator.name), now=now
        ),
    )
    logger.info(
        "operator %s resolved key %s: %d claim(s) released",
        operator.name,
        key,
        len(resolution.released),
    )
    return redirect("/operator/conflicts?done=conflict_resolved")


__all__ = ["router"]
