"""AI-credit billing of a fake enterprise: per-person usage lines, daily usage items and CSV exports.

Everything derives from the enterprise's people and activity, so a test recomputes what the fake
serves from these functions' own output (the CSV text, the JSON bodies) without the code under test.
Shapes follow GitHub's contract (`../shared/contract/*billing*`) and the AI usage CSV columns seen in
a live export. Credits are not whole numbers; one credit is USD 0.01.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from copilot_source.demo.fake_github.data import MODELS, FakeEnterprise

# usage-based AI credits replaced premium requests on this day
CREDITS_FROM = date(2026, 6, 1)
PRODUCT = "Copilot"
SKU = "Copilot AI Credits"
PRICE_PER_CREDIT = 0.01
# the share of each person's credits covered by the included monthly allowance
INCLUDED_SHARE = 0.25
CSV_COLUMNS = (
    "date",
    "username",
    "product",
    "sku",
    "model",
    "quantity",
    "unit_type",
    "applied_cost_per_quantity",
    "gross_amount",
    "discount_amount",
    "net_amount",
    "total_monthly_quota",
    "organization",
    "repository",
    "cost_center_name",
    "aic_quantity",
    "aic_gross_amount",
)


def _money(value: float) -> float:
    return round(value, 6)


def credit_lines(enterprise: FakeEnterprise, day: date) -> list[dict[str, Any]]:
    """One line per person and model that used AI credits on `day` (GitHub's export granularity)."""
    if day < CREDITS_FROM or not enterprise.is_available(day):
        return []
    lines = []
    for user_id in enterprise.user_ids():
        if not enterprise.is_active(user_id, day):
            continue
        rng = random.Random(f"{enterprise.seed}:credits:{day}:{user_id}")
        org_index = (user_id - 1001) % enterprise.org_count
        for model in rng.sample(MODELS, rng.randrange(1, 3)):
            quantity = round(rng.uniform(0.5, 40.0), 2)
            gross = _money(quantity * PRICE_PER_CREDIT)
            discount = _money(gross * INCLUDED_SHARE)
            lines.append(
                {
                    "date": day.isoformat(),
                    "username": enterprise.login(user_id, day),
                    "product": PRODUCT,
                    "sku": SKU,
                    "model": model,
                    "quantity": quantity,
                    "unit_type": "credits",
                    "applied_cost_per_quantity": PRICE_PER_CREDIT,
                    "gross_amount": gross,
                    "discount_amount": discount,
                    "net_amount": _money(gross - discount),
                    "total_monthly_quota": 3000,
                    "organization": f"octo-org-{org_index}",
                    "repository": "",
                    "cost_center_name": f"CC-{100 * (org_index + 1)}",
                    "aic_quantity": quantity,
                    "aic_gross_amount": gross,
                }
            )
    return lines


def usage_body(enterprise: FakeEnterprise, day: date, organization: str | None = None) -> dict[str, Any]:
    """`GET …/settings/billing/ai_credit/usage?year&month&day`: items summed by SKU and model."""
    items: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in credit_lines(enterprise, day):
        if organization is not None and line["organization"] != organization:
            continue
        key = (line["product"], line["sku"], line["model"])
        item = items.setdefault(
            key,
            {
                "product": line["product"],
                "sku": line["sku"],
                "model": line["model"],
                "unitType": "credits",
                "pricePerUnit": PRICE_PER_CREDIT,
                "grossQuantity": 0.0,
                "grossAmount": 0.0,
                "discountQuantity": 0.0,
                "discountAmount": 0.0,
                "netQuantity": 0.0,
                "netAmount": 0.0,
            },
        )
        discount_quantity = round(line["quantity"] * INCLUDED_SHARE, 4)
        item["grossQuantity"] = round(item["grossQuantity"] + line["quantity"], 4)
        item["grossAmount"] = _money(item["grossAmount"] + line["gross_amount"])
        item["discountQuantity"] = round(item["discountQuantity"] + discount_quantity, 4)
        item["discountAmount"] = _money(item["discountAmount"] + line["discount_amount"])
        item["netQuantity"] = round(item["netQuantity"] + line["quantity"] - discount_quantity, 4)
        item["netAmount"] = _money(item["netAmount"] + line["net_amount"])
    body: dict[str, Any] = {
        "timePeriod": {"year": day.year, "month": day.month, "day": day.day},
        "usageItems": [items[key] for key in sorted(items)],
    }
    if organization is None:
        body["enterprise"] = enterprise.slug
    else:
        body["organization"] = organization
    return body


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def export_csv(enterprise: FakeEnterprise, first: date, last: date) -> bytes:
    """The AI usage report export for `first`..`last`: UTF-8 with a BOM, every value quoted."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for day in days(first, last):
        for line in credit_lines(enterprise, day):
            writer.writerow([line[column] for column in CSV_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
