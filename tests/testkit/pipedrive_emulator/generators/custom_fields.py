"""Custom-field values in Pipedrive's v2 shapes (``custom_fields[hash]``) and the v1 flat shape of leads."""

from __future__ import annotations

from typing import Any

from .context import GenContext, format_date, format_hms

USER_CREATABLE_TYPES = (
    "varchar",
    "varchar_auto",
    "text",
    "double",
    "monetary",
    "set",
    "enum",
    "user",
    "org",
    "people",
    "phone",
    "time",
    "timerange",
    "date",
    "daterange",
    "address",
)
"""The 16 custom-field types a Pipedrive user can create."""

ADDRESS_PARTS = (
    "street_number",
    "route",
    "subpremise",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "country",
    "postal_code",
    "formatted_address",
)
"""Components of an address value besides ``value`` (v2 object keys, v1 ``<hash>_<part>`` suffixes)."""

# (name, type, option labels) per entity. Names are chosen to exercise slugging: collisions after slugging,
# a name longer than 63 bytes, non-ASCII, leading digits, SQL keywords and punctuation.

_WORDS = (
    "alpha",
    "bravo",
    "north",
    "quarterly",
    "renewal",
    "pilot",
    "rollout",
    "premium",
    "legacy",
    "migration",
    "expansion",
    "budget",
)
_TEXTS = (
    "Line one\nLine two",
    "Said \"yes\", then 'maybe'; needs a follow-up.",
    "Tabs\tand back\\slashes",
    "Émoji ✅ and ünïcödé — 顧客",
    "<p>HTML <b>bold</b> &amp; more</p>",
    "",
)
_TIMEZONES = ((318, "Europe/London"), (288, "Europe/Berlin"), (75, "America/New_York"), (360, "Asia/Tokyo"))
ADDRESSES = (
    ("Fifth Avenue", "530", "Manhattan", "New York", "New York", "New York County", "United States", "10036"),
    ("Narva mnt", "7", "Kesklinn", "Tallinn", "Harju maakond", None, "Estonia", "10117"),
    ("Unter den Linden", "77", "Mitte", "Berlin", "Berlin", None, "Germany", "10117"),
    ("Rua Augusta", "120", None, "Lisboa", "Lisboa", None, "Portugal", "1100-053"),
    ("Shibuya", "2-21-1", "Shibuya", "Tokyo", "Tokyo", None, "Japan", "150-0002"),
)


def address_value(ctx: GenContext, *, formatted: bool = True) -> dict:
    """An address object in v2 shape (custom fields carry ``formatted_address`` and nulls; built-ins not)."""
    route, number, sub, city, area1, area2, country, postal = ctx.rng.choice(ADDRESSES)
    value = f"{route} {number}, {postal} {city}, {country}"
    addr: dict[str, Any] = {
        "value": value,
        "street_number": number,
        "route": route,
        "subpremise": None,
        "sublocality": sub,
        "locality": city,
        "admin_area_level_1": area1,
        "admin_area_level_2": area2,
        "country": country,
        "postal_code": postal,
    }
    if formatted:
        addr["formatted_address"] = value
    else:
        # Built-in address objects (org address, person postal_address, activity location): the spec types
        # every component as a non-nullable string, so missing parts are empty strings there.
        addr = {key: "" if part is None else part for key, part in addr.items()}
    return addr


def custom_value(ctx: GenContext, field: dict, p_null: float = 0.3) -> Any:
    """A random v2 value for a custom field (None with probability ``p_null``)."""
    rng = ctx.rng
    if rng.random() < p_null:
        return None
    ftype = field["field_type"]
    if ftype in ("varchar", "varchar_auto"):
        return rng.choice(("", " ".join(rng.sample(_WORDS, 2)), rng.choice(_WORDS).title()))
    if ftype == "text":
        return rng.choice(_TEXTS)
    if ftype == "double":
        return rng.choice((0, round(rng.uniform(-50, 1000), 2), rng.randint(1, 100)))
    if ftype == "monetary":
        return {"value": round(rng.uniform(0, 50_000), 2), "currency": rng.choice(("EUR", "USD", "GBP"))}
    if ftype == "enum":
        return rng.choice(field["options"])["id"]
    if ftype == "set":
        opts = field["options"]
        return sorted(o["id"] for o in rng.sample(opts, rng.randint(1, min(3, len(opts)))))
    if ftype == "user":
        return ctx.pick("users")
    if ftype == "org":
        return ctx.pick("organizations")
    if ftype == "people":
        return ctx.pick("persons")
    if ftype == "phone":
        return f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if ftype == "date":
        return format_date(ctx.past(400, -200))
    if ftype == "daterange":
        start = ctx.past(400, -100)
        return {"value": format_date(start), "until": format_date(start + rng.randint(1, 400) * 86_400)}
    if ftype in ("time", "timerange"):
        tz_id, tz_name = rng.choice(_TIMEZONES)
        start = rng.randint(6 * 4, 18 * 4) * 900
        value: dict[str, Any] = {"value": format_hms(start), "timezone_id": tz_id, "timezone_name": tz_name}
        if ftype == "timerange":
            value = {"value": format_hms(start), "until": format_hms(start + rng.randint(1, 8) * 900)} | {
                "timezone_id": tz_id,
                "timezone_name": tz_name,
            }
        return value
    if ftype == "address":
        return address_value(ctx)
    raise ValueError(f"No value generator for custom field type {ftype!r}")


def custom_values(ctx: GenContext, custom_fields: list[dict], p_null: float = 0.3) -> dict[str, Any]:
    """The v2 ``custom_fields`` object of one record: every custom field's hash, unset ones null."""
    return {f["field_code"]: custom_value(ctx, f, p_null) for f in custom_fields}


def v1_flat(field: dict, value: Any) -> dict[str, Any]:
    """A v2 custom-field value in v1 flat shape: ``{hash: ..., hash_currency: ..., ...}`` ({} when unset).

    Leads use this shape (deal custom-field hashes at top level, absent when unset).
    """
    if value is None:
        return {}
    code, ftype = field["field_code"], field["field_type"]
    if ftype == "monetary":
        return {code: value["value"], f"{code}_currency": value["currency"]}
    if ftype == "enum":
        return {code: str(value)}
    if ftype == "set":
        return {code: ",".join(str(v) for v in value)}
    if ftype in ("daterange", "timerange"):
        return {code: value["value"], f"{code}_until": value["until"]}
    if ftype == "time":
        return {code: value["value"]}
    if ftype == "address":
        flat = {code: value["value"]}
        for part in ADDRESS_PARTS:
            if part != "subpremise":
                flat[f"{code}_{part}"] = value.get(part)
        return flat
    return {code: value}
