"""What other domains may use of master data: the order check the orders intake runs (one
BatchGetItem per order), single reads of a customer, a product or a price list, and the price rule."""

from __future__ import annotations

from .logic import check_order, erp_price
from .models import CUSTOMER_BLOCKED, NO_PRICE, UNKNOWN_CUSTOMER, UNKNOWN_SKU, OrderCheck, PriceEntry
from .repository import load_customer, load_prices, load_product

__all__ = [
    "CUSTOMER_BLOCKED",
    "NO_PRICE",
    "UNKNOWN_CUSTOMER",
    "UNKNOWN_SKU",
    "OrderCheck",
    "PriceEntry",
    "check_order",
    "erp_price",
    "load_customer",
    "load_prices",
    "load_product",
]
