"""The seed data both stand-ins start from (deterministic: the same on every machine and run).

* products: FLOUR-T55-25KG and YEAST-DRY-500G (the sample order's), FLOUR-RYE-10KG (DISCONTINUED)
  and 200 generated SKUs ``SKU-00001`` .. ``SKU-00200``;
* customers: CUST-8812 (the sample order's) and ``CUST-0001`` .. ``CUST-0200``; CUST-0013 is
  BLOCKED (credit hold), every 4th customer is in price group WHOLESALE, the rest STANDARD;
* prices: a STANDARD EUR price for every product valid from 2024-01-01 (FLOUR-T55-25KG 18.40,
  YEAST-DRY-500G 3.95; FLOUR-T55-25KG also has an expired 2023 price), and a WHOLESALE price
  10 % lower (half-up to cents);
* finance accounts: every seeded customer except CUST-0199 (for the "unknown account" flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

BLOCKED_CUSTOMER = "CUST-0013"
NO_FINANCE_ACCOUNT = "CUST-0199"
SAMPLE_CUSTOMER = "CUST-8812"
SAMPLE_SKUS = ("FLOUR-T55-25KG", "YEAST-DRY-500G")
DISCONTINUED_SKU = "FLOUR-RYE-10KG"
GENERATED = 200
VALID_FROM = "2024-01-01"
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "DKK", "PLN", "CZK")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Product:
    sku: str
    description: str
    unit_of_measure: str
    status: str  # ACTIVE | DISCONTINUED


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    country: str
    status: str  # ACTIVE | BLOCKED
    price_group: str  # STANDARD | WHOLESALE


@dataclass(frozen=True)
class Price:
    sku: str
    price_group: str
    currency: str
    unit_price: Decimal
    valid_from: str  # YYYY-MM-DD
    valid_to: str  # YYYY-MM-DD or "" (open ended)


_UNITS = ("PCS", "BAG", "BOX", "KG", "L")
_GOODS = ("Rye flour", "Spelt flour", "Sugar", "Butter block", "Sesame seeds", "Raisins", "Baking paper",
          "Cocoa powder", "Malt extract", "Sunflower seeds", "Oat flakes", "Bread improver")  # fmt: skip
_TRADES = ("Bakkerij", "Boulangerie", "Backstube", "Patisserie", "Brood & Co", "Konditorei")
_TOWNS = ("Utrecht", "Gent", "Koeln", "Lille", "Arnhem", "Namur", "Aachen", "Reims", "Zwolle", "Liege")
_COUNTRIES = ("NL", "BE", "DE", "FR", "LU")


def products() -> list[Product]:
    out = [
        Product("FLOUR-T55-25KG", "Wheat flour T55, 25 kg bag", "BAG", "ACTIVE"),
        Product("YEAST-DRY-500G", "Dry yeast, 500 g", "PCS", "ACTIVE"),
        Product(DISCONTINUED_SKU, "Rye flour, 10 kg bag (replaced)", "BAG", "DISCONTINUED"),
    ]
    for n in range(1, GENERATED + 1):
        good = _GOODS[n % len(_GOODS)]
        unit = _UNITS[n % len(_UNITS)]
        out.append(Product(f"SKU-{n:05d}", f"{good}, item {n:05d}", unit, "ACTIVE"))
    return out


def customers() -> list[Customer]:
    out = [Customer(SAMPLE_CUSTOMER, "Bakkerij de Vries", "NL", "ACTIVE", "STANDARD")]
    for n in range(1, GENERATED + 1):
        cid = f"CUST-{n:04d}"
        name = f"{_TRADES[n % len(_TRADES)]} {_TOWNS[n % len(_TOWNS)]} {n:04d}"
        status = "BLOCKED" if cid == BLOCKED_CUSTOMER else "ACTIVE"
        group = "WHOLESALE" if n % 4 == 0 else "STANDARD"
        out.append(Customer(cid, name, _COUNTRIES[n % len(_COUNTRIES)], status, group))
    return out


def standard_price(sku: str) -> Decimal:
    fixed = {"FLOUR-T55-25KG": Decimal("18.40"), "YEAST-DRY-500G": Decimal("3.95"), DISCONTINUED_SKU: Decimal("9.80")}
    if sku in fixed:
        return fixed[sku]
    n = int(sku.rsplit("-", 1)[1])
    return (Decimal(100 + (n * 7919) % 9900) / 100).quantize(CENT)


def wholesale(price: Decimal) -> Decimal:
    return (price * Decimal("0.9")).quantize(CENT, rounding=ROUND_HALF_UP)


def prices() -> list[Price]:
    out = [Price("FLOUR-T55-25KG", "STANDARD", "EUR", Decimal("17.90"), "2023-01-01", "2023-12-31")]
    for p in products():
        std = standard_price(p.sku)
        out.append(Price(p.sku, "STANDARD", "EUR", std, VALID_FROM, ""))
        out.append(Price(p.sku, "WHOLESALE", "EUR", wholesale(std), VALID_FROM, ""))
    return out


def finance_accounts() -> list[str]:
    return [c.customer_id for c in customers() if c.customer_id != NO_FINANCE_ACCOUNT]
