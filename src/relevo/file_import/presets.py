"""Ready mappings for the public data sets Relevo is tried on; each is plain ``--map`` text.

Online Retail: a row is a purchase of ``Quantity`` units by ``CustomerID``; a row with no
CustomerID is a guest checkout, imported as an anonymous person whose ``anonymous_id`` is the
invoice (one guest per invoice); the invoice is also the session. The invoice number is not copied into
``properties``: it would undo the pseudonym of a guest, whose id it is. Cancellations and returns
(negative quantities, invoices starting with ``C``) become ``return`` events of the absolute
quantity, by the general rule that a negative purchase is a return. ``Country`` maps to a region
(uk, eu, row) when the tenant has those three regions; otherwise rows go to the person's home.
Times are the retailer's local time (Europe/London).
"""

from __future__ import annotations

from dataclasses import dataclass, field

EU = (
    "Austria",
    "Belgium",
    "Cyprus",
    "Czech Republic",
    "Denmark",
    "EIRE",
    "European Community",
    "Finland",
    "France",
    "Germany",
    "Greece",
    "Italy",
    "Lithuania",
    "Malta",
    "Netherlands",
    "Poland",
    "Portugal",
    "Spain",
    "Sweden",
)


@dataclass(frozen=True)
class Preset:
    events: str
    event_type: str
    items: str
    timezone: str = "UTC"
    region_values: dict[str, str] = field(default_factory=dict)
    default_region: str | None = None


def _retail_regions() -> dict[str, str]:
    regions = {country: "eu" for country in EU}
    regions["United Kingdom"] = "uk"
    return regions


PRESETS: dict[str, Preset] = {
    "online-retail": Preset(
        events=(
            "user_id=CustomerID,guest_id=InvoiceNo,session_id=InvoiceNo,item_id=StockCode,"
            "occurred_at=InvoiceDate,value=Quantity,context.region=Country,"
            "properties.unit_price=UnitPrice,properties.country=Country"
        ),
        event_type="purchase",
        items="item_id=StockCode,title=Description,price=UnitPrice",
        timezone="Europe/London",
        region_values=_retail_regions(),
        default_region="row",
    ),
    "movielens": Preset(
        events="user_id=userId,item_id=movieId,value=rating,occurred_at=timestamp",
        event_type="rate",
        items="item_id=movieId,title=title,tags=genres",
    ),
}
