"""Products and deal products (line items) in their v2 list-item shapes."""

from __future__ import annotations

from .context import DAY, GenContext, format_date, format_v2
from .custom_fields import custom_values

_PRODUCT_WORDS = ("Analytics", "CRM", "Support", "Onboarding", "Hosting", "Training", "API", "Storage")
_TIERS = ("Basic", "Pro", "Enterprise", "Add-on")
_CATEGORIES = (None, "Licences", "Services", "Hardware")
_FREQUENCIES = ("one-time", "one-time", "monthly", "annually", "quarterly", "semi-annually", "weekly")
_UNITS = ("", "seat", "hour", "pcs", "GB")


def products(ctx: GenContext, count: int, custom_fields: list[dict]) -> list[dict]:
    """v2 products with 1-2 prices each; ~2 % soft-deleted."""
    rng = ctx.rng
    out = []
    for pid in range(1, count + 1):
        added = ctx.add_time(1_000)
        frequency = rng.choice(_FREQUENCIES)
        prices = []
        for currency in rng.sample(("EUR", "USD", "GBP"), rng.randint(1, 2)):
            price = round(rng.uniform(5, 5_000), 2)
            prices.append(
                {
                    "product_id": pid,
                    "price": price,
                    "currency": currency,
                    "cost": round(price * rng.uniform(0.1, 0.7), 2),
                    "direct_cost": rng.choice((None, round(price * 0.05, 2))),
                    "notes": rng.choice(("", "list price")),
                }
            )
        out.append(
            {
                "id": pid,
                "name": f"{rng.choice(_PRODUCT_WORDS)} {rng.choice(_TIERS)} {pid}",
                "code": f"SKU-{pid:05d}" if rng.random() < 0.9 else "",
                "description": rng.choice(("", "Standard offering", "Includes 24/7 support\nand SLA")),
                "unit": rng.choice(_UNITS),
                "tax": rng.choice((0, 0, 7, 19, 20)),
                "category": rng.choice(_CATEGORIES),
                "is_linkable": rng.random() < 0.95,
                "is_deleted": rng.random() < 0.02,
                "visible_to": rng.choice((3, 3, 1, 5, 7)),
                "owner_id": ctx.pick("users"),
                "add_time": format_v2(added),
                "update_time": format_v2(ctx.update_time(added)),
                "billing_frequency": frequency,
                "billing_frequency_cycles": rng.choice((None, 12, 24)) if frequency != "one-time" else None,
                "prices": prices,
                "custom_fields": custom_values(ctx, custom_fields, 0.4),
            }
        )
    return out


def deal_products(
    ctx: GenContext, count: int, deals: list[dict], deal_added: list[int], products_: list[dict]
) -> list[dict]:
    """v2 deal products: ``count`` line items attached to random deals, priced in the deal's currency.

    ``deal_added`` holds each deal's add_time as epoch seconds (parallel to ``deals``).
    """
    rng = ctx.rng
    out = []
    per_deal: dict[int, int] = {}
    for dpid in range(1, count + 1):
        idx = rng.randrange(len(deals))
        deal = deals[idx]
        product = rng.choice(products_)
        added = rng.randint(deal_added[idx], min(ctx.now, deal_added[idx] + 30 * DAY))
        quantity = rng.choice((1, 1, 1, 2, 5, 10, 0.5))
        item_price = next(
            (p["price"] for p in product["prices"] if p["currency"] == deal["currency"]),
            round(rng.uniform(5, 5_000), 2),
        )
        discount_type = rng.choice(("percentage", "percentage", "amount"))
        discount = rng.choice((0, 0, 0, 10, 15)) if discount_type == "percentage" else rng.choice((0, 50))
        gross = quantity * item_price
        net = gross * (1 - discount / 100) if discount_type == "percentage" else gross - discount
        tax = rng.choice((0, 0, 19, 20))
        tax_method = rng.choice(("exclusive", "inclusive", "none")) if tax else "none"
        total = net * (1 + tax / 100) if tax_method == "exclusive" else net
        frequency = product["billing_frequency"]
        per_deal[deal["id"]] = per_deal.get(deal["id"], 0) + 1
        out.append(
            {
                "id": dpid,
                "sum": round(total, 2),
                "tax": tax,
                "deal_id": deal["id"],
                "name": product["name"],
                "product_id": product["id"],
                "product_variation_id": None,
                "order_nr": per_deal[deal["id"]] if rng.random() < 0.9 else None,
                "add_time": format_v2(added),
                "update_time": format_v2(rng.randint(added, ctx.now) if rng.random() < 0.3 else added),
                "comments": rng.choice(("", "", "Discount approved by manager")),
                "currency": deal["currency"],
                "discount": discount,
                "discount_type": discount_type,
                "quantity": quantity,
                "item_price": item_price,
                "tax_method": tax_method,
                "is_enabled": rng.random() < 0.97,
                "billing_frequency": frequency,
                "billing_frequency_cycles": product["billing_frequency_cycles"],
                "billing_start_date": format_date(added) if frequency != "one-time" else None,
            }
        )
    return out
