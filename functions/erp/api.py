"""What other domains may use of the ERP connector (reconciliation, operations): the ledger's
acknowledgements, how an order and its acknowledgement differ, the message that sends an order to
the ERP again, and the acknowledgements for orders the hub does not know."""

from __future__ import annotations

from datetime import date
from typing import Any

from . import logic, repository
from .models import ERP_TARGET, ErpOrder

__all__ = ["ERP_TARGET", "acknowledgements", "differences", "resend_message", "unknown_acks"]


def acknowledgements(order_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The ledger items (``ERPORDER``) of ``order_ids`` that exist, by order id: ``status`` SENT |
    ACKED | REJECTED, ``file``, ``sent_at``, ``attempts``; when ACKED ``erp_order_number``,
    ``acked_at``, ``ack_net_total``, ``ack_currency``, ``ack_line_count``; when REJECTED ``reason``.
    One BatchGetItem per 100 ids."""
    return repository.ledger_items(order_ids)


def differences(order: Any, ack: dict[str, Any]) -> list[str]:
    """How the ERP's acknowledgement (an item of :func:`acknowledgements`) differs from the hub's
    order (``orders.api.StoredOrder``, a dict of one, or the OrderAccepted data): currency, net
    total (quantity x unit price summed, half up to the cent, as the ERP computes it) and line
    count, in business words; empty when they agree."""
    data, _, _ = logic.order_data(order)
    return logic.differences(ErpOrder.model_validate(data), ack)


def resend_message(order: Any) -> str:
    """The SQS body that sends ``order`` (``orders.api.StoredOrder``, a dict of one, or the
    OrderAccepted data) to the ERP again: an EventBridge-shaped OrderAccepted from synchub.orders,
    as the rule delivers it to the ERP orders queue (``ERP_QUEUE_URL``). Sending it twice is
    harmless: the connector skips acknowledged orders and the ERP books an order id once."""
    return logic.resend_body(order)


def unknown_acks(day: date) -> list[dict[str, Any]]:
    """Acknowledgements received on ``day`` for order ids the hub does not know."""
    return repository.unknown_acks(day)
