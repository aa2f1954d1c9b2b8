"""The order API and the ERP's master data, through the real Lambda handler against moto: unknown
SKUs, unknown or blocked customers and lines without a price are 422 problems that write nothing;
a line sent without a price gets the ERP price of the day, fixed on the order, and the invoice
carries it; before the ERP sent a file of a kind, that kind is not checked; an operator's token is
no channel's. Also the orders' ``by-day`` keys and ``orders.api.accepted_between``."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers import Hub, api_event, sample
from helpers.reservation import publish_and_run, stock
from helpers.shipments import handler as invoicing_worker
from helpers.shipments import put_shipment, shipment_detail

FLOUR, YEAST = "FLOUR-T55-25KG", "YEAST-DRY-500G"
TODAY = datetime.now(UTC).date()
INVOICING_QUEUE = "WorkersInvoicingWorkerQueue"


# --------------------------------------------------------------------------------------------- helpers


def load(hub: Hub, kind: str, ts: str, text: str) -> dict[str, Any]:
    """The ERP drops a ``kind`` file and the loader applies it (called in-process)."""
    from masterdata import logic
    from masterdata.files import ObjectCreated
    from synchub_core.aws import client

    bucket = hub.dep.buckets["ConnectorsExchangeBucket"]
    key = f"from-erp/master/{kind}/{kind.upper()}-{ts}.csv"
    client("s3").put_object(Bucket=bucket, Key=key, Body=text.encode())
    outcome = logic.load(ObjectCreated(bucket, key, None, None))
    assert outcome.status is not None and outcome.status.value == "APPLIED", outcome
    assert outcome.counts.rejected == 0, outcome
    return {"applied": outcome.counts.applied}


def load_products(hub: Hub, ts: str = "20261201060000", extra: str = "") -> None:
    load(
        hub,
        "products",
        ts,
        "sku,description,unit_of_measure,status\n"
        f"{FLOUR},Wheat flour T55 25 kg,BAG,ACTIVE\n{YEAST},Dry yeast 500 g,PCS,ACTIVE\n"
        "RYE-FLOUR-10KG,Rye flour 10 kg,BAG,DISCONTINUED\n" + extra,
    )


def load_customers(hub: Hub, ts: str = "20261201060000", blocked: tuple[str, ...] = ("CUST-0013",)) -> None:
    customers = [
        ("CUST-8812", "Bakkerij de Vries", "STANDARD"),
        ("CUST-0013", "Bakkerij Jansen", "STANDARD"),
        ("CUST-0500", "Groothandel Noord", "WHOLESALE"),
    ]
    rows = "".join(
        f"{cid},{name},NL,{'BLOCKED' if cid in blocked else 'ACTIVE'},{group}\n" for cid, name, group in customers
    )
    load(hub, "customers", ts, "customer_id,name,country,status,price_group\n" + rows)


def load_prices(hub: Hub, ts: str = "20261201060000") -> None:
    old_from, old_to = TODAY - timedelta(days=400), TODAY - timedelta(days=31)
    current = TODAY - timedelta(days=30)
    load(
        hub,
        "prices",
        ts,
        "sku,price_group,currency,unit_price,valid_from,valid_to\n"
        f"{FLOUR},STANDARD,EUR,17.90,{old_from},{old_to}\n"  # last year's
        f"{FLOUR},STANDARD,EUR,18.40,{current},\n"
        f"{FLOUR},WHOLESALE,EUR,16.56,{current},\n"
        f"{FLOUR},STANDARD,EUR,19.10,{TODAY + timedelta(days=30)},\n"  # next month's
        f"{YEAST},STANDARD,EUR,3.95,{current},\n",
    )


def load_all(hub: Hub) -> None:
    load_products(hub)
    load_customers(hub)
    load_prices(hub)


def body(**changes: Any) -> dict[str, Any]:
    order = sample("api-post-order.json")
    order["channel_order_ref"] = f"WS-{uuid.uuid4().hex[:10]}"
    order.update(changes)
    return order


def unpriced(order: dict[str, Any]) -> dict[str, Any]:
    order = copy.deepcopy(order)
    for line in order["lines"]:
        del line["unit_price"]
    return order


def post(ctx: Any, order: dict[str, Any], key: str | None = None, role: str | None = None) -> tuple[int, Any]:
    from orders.handler import lambda_handler

    event = api_event("POST", "/orders", order, {"Idempotency-Key": key or f"idem-{uuid.uuid4().hex}"})
    if role is not None:
        event["requestContext"]["authorizer"]["role"] = role
    resp = lambda_handler(event, ctx)
    return resp["statusCode"], json.loads(resp["body"])


def get(ctx: Any, order_id: str, role: str | None = None) -> tuple[int, Any]:
    from orders.handler import lambda_handler

    event = api_event("GET", f"/orders/{order_id}", resource="/orders/{order_id}", path_params={"order_id": order_id})
    if role is not None:
        event["requestContext"]["authorizer"]["role"] = role
    resp = lambda_handler(event, ctx)
    return resp["statusCode"], json.loads(resp["body"])


def orders_items(hub: Hub) -> list[dict[str, Any]]:
    return hub.ddb.scan(TableName=hub.orders_table, ConsistentRead=True)["Items"]


def assert_refused(hub: Hub, ctx: Any, order: dict[str, Any], slug: str) -> dict[str, Any]:
    before = orders_items(hub)
    status, problem = post(ctx, order)
    assert status == 422, problem
    assert problem["type"] == f"https://synchub.dev/problems/{slug}"
    assert problem["status"] == 422 and problem["detail"].endswith("Nothing was written.")
    assert orders_items(hub) == before  # nothing written: no order, no key, no event
    return dict(problem)


# ----------------------------------------------------------------------------------------------- tests


def test_before_the_erp_sent_any_file_nothing_is_enforced(hub: Hub, lambda_context: Any) -> None:
    order = body(customer={"customer_id": "CUST-NEW-1"})
    order["lines"][0]["sku"] = "NOT-IN-ANY-LIST"
    status, receipt = post(lambda_context, order)
    assert status == 202, receipt

    # prices are the exception: a line without one cannot be priced without the ERP's list
    problem = assert_refused(hub, lambda_context, unpriced(body()), "no-price")
    assert problem["errors"] == [
        {
            "pointer": "/lines/0/unit_price",
            "detail": f"SKU {FLOUR} has no unit_price and the ERP price list has no EUR price for it "
            f"(price group STANDARD) valid on {TODAY}",
        },
        {
            "pointer": "/lines/1/unit_price",
            "detail": f"SKU {YEAST} has no unit_price and the ERP price list has no EUR price for it "
            f"(price group STANDARD) valid on {TODAY}",
        },
    ]

    # one kind loaded: only that kind is enforced
    load_products(hub)
    status, receipt = post(lambda_context, body(customer={"customer_id": "CUST-NEW-2"}))
    assert status == 202, receipt  # customers are not checked yet
    order = body()
    order["lines"][1]["sku"] = "NOT-IN-ANY-LIST"
    assert_refused(hub, lambda_context, order, "unknown-sku")


def test_an_unknown_or_discontinued_sku_is_422_and_nothing_is_written(hub: Hub, lambda_context: Any) -> None:
    load_all(hub)
    order = body()
    order["lines"][0]["sku"] = "FLOUR-T99"
    order["lines"][1]["sku"] = "RYE-FLOUR-10KG"
    problem = assert_refused(hub, lambda_context, order, "unknown-sku")
    assert problem["title"] == "SKU not in the ERP product list"
    assert problem["detail"] == (
        "SKU FLOUR-T99 is not in the ERP product list. 1 more problem listed in errors. "
        "Order only SKUs the ERP lists as active. Nothing was written."
    )
    assert problem["errors"] == [
        {"pointer": "/lines/0/sku", "detail": "SKU FLOUR-T99 is not in the ERP product list"},
        {"pointer": "/lines/1/sku", "detail": "SKU RYE-FLOUR-10KG is discontinued in the ERP product list"},
    ]


def test_a_blocked_or_unknown_customer_is_422_before_the_lines(hub: Hub, lambda_context: Any) -> None:
    load_all(hub)
    order = body(customer={"customer_id": "CUST-0013", "name": "Bakkerij Jansen"})
    order["lines"][1]["sku"] = "FLOUR-T99"
    del order["lines"][0]["unit_price"]  # priced by the ERP: no problem
    problem = assert_refused(hub, lambda_context, order, "customer-blocked")
    assert problem["title"] == "Customer blocked in the ERP"
    assert problem["errors"] == [
        {"pointer": "/customer/customer_id", "detail": "Customer CUST-0013 is blocked in the ERP"},
        {"pointer": "/lines/1/sku", "detail": "SKU FLOUR-T99 is not in the ERP product list"},
    ]
    assert "Bakkerij" not in json.dumps(problem)  # names are never echoed

    problem = assert_refused(hub, lambda_context, body(customer={"customer_id": "CUST-9999"}), "unknown-customer")
    assert problem["detail"] == (
        "Customer CUST-9999 is not in the ERP customer list. The customer must be in the ERP's customer list first. "
        "Nothing was written."
    )


def test_a_line_without_a_price_and_no_erp_price_is_422(hub: Hub, lambda_context: Any) -> None:
    load_all(hub)
    order = body(currency="USD")  # the price list has EUR only
    del order["lines"][1]["unit_price"]
    problem = assert_refused(hub, lambda_context, order, "no-price")
    assert problem["title"] == "No price for an order line"
    assert problem["errors"] == [
        {
            "pointer": "/lines/1/unit_price",
            "detail": f"SKU {YEAST} has no unit_price and the ERP price list has no USD price for it "
            f"(price group STANDARD) valid on {TODAY}",
        }
    ]


def test_the_erp_price_is_fixed_on_the_order_and_the_invoice_carries_it(hub: Hub, lambda_context: Any) -> None:
    load_all(hub)
    order = body()
    del order["lines"][0]["unit_price"]  # FLOUR: the ERP's 18.40 of today (not last year's, not next month's)
    status, receipt = post(lambda_context, order)
    assert status == 202, receipt
    order_id = receipt["order_id"]

    status, stored = get(lambda_context, order_id)
    assert status == 200
    assert [(line["sku"], line["unit_price"], line["price_source"]) for line in stored["lines"]] == [
        (FLOUR, "18.40", "erp"),
        (YEAST, "3.95", "channel"),
    ]

    # a new price list later changes nothing on the accepted order
    load(
        hub,
        "prices",
        "20261202060000",
        f"sku,price_group,currency,unit_price,valid_from,valid_to\n{FLOUR},STANDARD,EUR,99.00,{TODAY},\n",
    )

    # the OrderAccepted event carries the priced lines
    from helpers.reservation import accepted_event

    event = accepted_event(hub, order_id)
    assert [(line["unit_price"], line["price_source"]) for line in event["data"]["lines"]] == [
        ("18.40", "erp"),
        ("3.95", "channel"),
    ]

    # reserve, ship, invoice: the invoice line has the price of the day the order was accepted
    stock(FLOUR, "UTR-A01", 10)
    stock(YEAST, "UTR-B01", 50)
    publish_and_run(hub, lambda_context)
    shipment_id = f"SHP-{uuid.uuid4().hex[:8]}"
    picked = [
        {"sku": FLOUR, "quantity": 4, "location_id": "UTR-A01"},
        {"sku": YEAST, "quantity": 10, "location_id": "UTR-B01"},
    ]  # where it was reserved
    put_shipment(hub, shipment_detail(order_id, shipment_id, picked))
    result = hub.run_worker(INVOICING_QUEUE, invoicing_worker(hub), lambda_context)
    assert result["delivered"] == 1 and result["batchItemFailures"] == []
    from invoicing.api import load_invoice

    invoice = load_invoice(shipment_id)
    assert invoice is not None
    lines = {line["sku"]: line for line in invoice["lines"]}
    assert (lines[FLOUR]["unit_price"], lines[FLOUR]["net_amount"]) == ("18.40", "73.60")
    assert (lines[YEAST]["unit_price"], lines[YEAST]["net_amount"]) == ("3.95", "39.50")
    assert invoice["gross_total"] == "123.28"


def test_the_customers_price_group_comes_first_then_standard(hub: Hub, lambda_context: Any) -> None:
    load_all(hub)
    status, receipt = post(lambda_context, unpriced(body(customer={"customer_id": "CUST-0500"})))
    assert status == 202, receipt
    _, stored = get(lambda_context, receipt["order_id"])
    # WHOLESALE has a FLOUR price; YEAST has only STANDARD
    assert [(line["unit_price"], line["price_source"]) for line in stored["lines"]] == [
        ("16.56", "erp"),
        ("3.95", "erp"),
    ]


def test_a_retry_is_answered_as_before_even_after_the_master_data_changed(hub: Hub, lambda_context: Any) -> None:
    load_all(hub)
    order = unpriced(body())
    status, first = post(lambda_context, order, key="idem-retry-0001")
    assert status == 202
    # the ERP blocks the customer and reprices: a retry still gets the order accepted before
    load_customers(hub, ts="20261202060000", blocked=("CUST-0013", "CUST-8812"))
    load(
        hub,
        "prices",
        "20261202060000",
        f"sku,price_group,currency,unit_price,valid_from,valid_to\n{FLOUR},STANDARD,EUR,99.00,{TODAY},\n",
    )
    status, again = post(lambda_context, order, key="idem-retry-0001")
    assert (status, again) == (202, first)
    _, stored = get(lambda_context, first["order_id"])
    assert stored["lines"][0]["unit_price"] == "18.40"
    # a new key is a new order, judged by today's master data
    problem = assert_refused(hub, lambda_context, body(), "customer-blocked")
    assert problem["errors"][0]["detail"] == "Customer CUST-8812 is blocked in the ERP"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_operator_token_is_no_channel(hub: Hub, lambda_context: Any, method: str) -> None:
    before = orders_items(hub)
    if method == "POST":
        status, problem = post(lambda_context, body(), role="operator")
    else:
        status, problem = get(lambda_context, "ord_" + "0" * 32, role="operator")
    assert status == 403
    assert problem["type"] == "https://synchub.dev/problems/operator-not-a-channel"
    assert orders_items(hub) == before
    # a channel's token (role channel, as the authorizer sets it) is served as before
    if method == "POST":
        assert post(lambda_context, body(), role="channel")[0] == 202


def test_orders_carry_their_day_and_are_found_by_accepted_between(hub: Hub, lambda_context: Any) -> None:
    from orders.api import accepted_between
    from synchub_core.ddb import get as get_item

    start = datetime.now(UTC) - timedelta(seconds=1)
    ids = [post(lambda_context, body())[1]["order_id"] for _ in range(3)]
    end = datetime.now(UTC) + timedelta(seconds=1)

    head = get_item(hub.orders_table, {"pk": f"ORDER#{ids[0]}", "sk": "ORDER"})
    assert head is not None
    assert head["day_key"] == f"ORDER#{head['created_at'][:10]}"
    assert head["day_at"] == f"{head['created_at']}#{ids[0]}"

    assert sorted(accepted_between(start, end)) == sorted(ids)
    assert list(accepted_between(start - timedelta(days=3), start - timedelta(days=2))) == []
    assert list(accepted_between(end, end + timedelta(hours=1))) == []
    # a window over several days walks every day's partition
    assert sorted(accepted_between(start - timedelta(days=2), end + timedelta(days=1))) == sorted(ids)
