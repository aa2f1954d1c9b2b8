"""The finance connector's pure parts and its decisions, with fakes: the document finance gets, how
a booked document differs, business-readable refusals, the repost message, the OAuth token cache,
and what ``logic.post`` does with each answer (no emulator, no network)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from connectors.http import HttpResult, TargetUnavailable
from finance import logic
from finance.client import FinanceClient
from finance.models import FinanceAuthFailed, FinanceRateLimited, PostingFailed
from helpers import sample
from synchub_core.envelope import from_bus_message


def invoice() -> dict[str, Any]:
    return copy.deepcopy(sample("eventbridge-invoice-issued.json")["detail"]["data"])


# -- the document ----------------------------------------------------------------------------------


def test_the_finance_document_carries_the_reference_the_account_and_no_personal_data() -> None:
    inv = invoice()
    doc = logic.invoice_document(inv)
    assert doc["external_reference"] == inv["invoice_id"]
    assert doc["document_type"] == "invoice" and doc["document_number"] == inv["invoice_number"]
    assert doc["customer_account"] == inv["customer"]["customer_id"]
    assert doc["issue_date"] == inv["issued_at"][:10]
    assert [line["net_amount"] for line in doc["lines"]] == [line["net_amount"] for line in inv["lines"]]
    assert "gross_amount" not in doc["lines"][0]
    assert (doc["net_total"], doc["tax_total"], doc["gross_total"]) == (
        inv["net_total"],
        inv["tax_total"],
        inv["gross_total"],
    )
    text = json.dumps(doc)
    for personal in (inv["customer"].get("name"), inv["customer"].get("email"), inv["bill_to"].get("line1")):
        assert personal and personal not in text
    assert logic.invoice_document(inv, "credit_note")["document_type"] == "credit_note"


def test_the_document_type_comes_from_the_event_type() -> None:
    from synchub_core.envelope import Refused

    assert logic.document_type_for("InvoiceIssued") == "invoice"
    with pytest.raises(Refused):
        logic.document_type_for("OrderAccepted")


def test_differences_are_business_readable() -> None:
    inv = invoice()
    doc = {**logic.invoice_document(inv), "id": "FIN-00000001"}
    assert logic.differences(inv, doc) == []
    assert logic.differences(inv, {**doc, "gross_total": inv["gross_total"] + "0"}) == []  # 123.28 = 123.280
    drifted = copy.deepcopy(doc)
    drifted["gross_total"], drifted["currency"] = "40.00", "USD"
    drifted["lines"][0]["quantity"] = 3
    drifted["lines"][1]["line_id"] = "9"
    assert logic.differences(inv, drifted) == [
        "currency EUR in the hub, USD in finance",
        f"gross_total {inv['gross_total']} in the hub, 40.00 in finance",
        f"line 1 quantity {inv['lines'][0]['quantity']} in the hub, 3 in finance",
        f"line 2 ({inv['lines'][1]['sku']}) is not in finance",
        f"line 9 ({inv['lines'][1]['sku']}) is in finance only",
    ]


def test_refusals_say_what_to_do() -> None:
    doc = logic.invoice_document(invoice())
    assert logic.business_reason("unknown_account", 422, {"customer_account": "CUST-0199"}, doc) == (
        "finance has no customer account CUST-0199 (unknown_account): create the account in finance, then resubmit"
    )
    dup = logic.business_reason("duplicate_reference", 409, {"existing_id": "FIN-00000007", "detail": "x"}, doc)
    assert "FIN-00000007" in dup and doc["document_number"] in dup and dup.endswith("then resubmit")
    assert "fix the invoice data" in logic.business_reason("validation_error", 422, {"detail": "bad"}, doc)


def test_the_repost_message_is_the_invoiced_event_as_the_rule_delivers_it() -> None:
    from invoicing.logic import invoice_id_for
    from synchub_core.envelope import deterministic_event_id

    inv = invoice()
    inv["invoice_id"] = invoice_id_for(inv["references"]["shipment_id"])
    posted = {**inv, "posting_status": "REJECTED", "posting_rejection": "unknown_account"}
    event = from_bus_message(logic.repost_message(posted))
    assert (event.source, event.detail_type) == ("synchub.invoicing", "InvoiceIssued")
    assert event.detail.event_id == deterministic_event_id("invoice", inv["references"]["shipment_id"])
    # the posting status is the hub's, not the event's (fields the sample predates come back unset)
    assert {k: v for k, v in event.detail.data.items() if v is not None} == inv


# -- the OAuth token -------------------------------------------------------------------------------


@dataclass
class FakeHttp:
    answers: list[HttpResult]
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def request(self, method: str, path: str, **kwargs: Any) -> HttpResult:
        self.sent.append((method, path, kwargs))
        return self.answers.pop(0)


def token(value: str, expires_in: int = 3600) -> HttpResult:
    return HttpResult(200, {}, {"access_token": value, "token_type": "Bearer", "expires_in": expires_in})


@pytest.fixture
def fresh_tokens() -> Any:
    from finance import client

    client._tokens.clear()
    yield
    client._tokens.clear()


def finance_client(http: FakeHttp, now: list[float]) -> FinanceClient:
    c = FinanceClient("http://finance.test", "hub", "s3cret", now=lambda: now[0])
    c._http = http  # type: ignore[assignment]
    return c


def test_the_token_is_cached_until_a_minute_before_it_expires(fresh_tokens: Any) -> None:
    now = [1000.0]
    booked = HttpResult(201, {}, {"id": "FIN-1"})
    http = FakeHttp([token("t1", 3600), booked, booked, token("t2"), booked])
    c = finance_client(http, now)
    c.post_invoice({"a": 1}, "inv_1")
    now[0] += 3539
    c.post_invoice({"a": 1}, "inv_1")
    now[0] += 1  # 60 s before expiry: a new token
    c.post_invoice({"a": 1}, "inv_1")
    paths = [(m, p) for m, p, _ in http.sent]
    assert paths == [("POST", "/oauth2/token")] + [("POST", "/api/v1/invoices")] * 2 + [
        ("POST", "/oauth2/token"),
        ("POST", "/api/v1/invoices"),
    ]
    assert http.sent[-1][2]["headers"] == {"Idempotency-Key": "inv_1", "Authorization": "Bearer t2"}
    assert http.sent[0][2]["form"] == {
        "grant_type": "client_credentials",
        "client_id": "hub",
        "client_secret": "s3cret",
    }


def test_a_401_fetches_a_new_token_once(fresh_tokens: Any) -> None:
    refused = HttpResult(401, {}, {"error": "invalid_token"})
    http = FakeHttp([token("old"), refused, token("new"), HttpResult(201, {}, {"id": "FIN-2"})])
    assert finance_client(http, [0.0]).post_invoice({}, "inv_2").status == 201
    assert [kw["headers"]["Authorization"] for _, path, kw in http.sent if path != "/oauth2/token"] == [
        "Bearer old",
        "Bearer new",
    ]
    http = FakeHttp([refused, token("b"), refused])  # the cached token ("new") refused, then a fresh one too
    with pytest.raises(FinanceAuthFailed):
        finance_client(http, [0.0]).post_invoice({}, "inv_3")


def test_outages_and_rate_limits_are_told_apart(fresh_tokens: Any) -> None:
    http = FakeHttp([token("t"), HttpResult(429, {"retry-after": "7"}, {"error": "rate_limited"})])
    with pytest.raises(FinanceRateLimited) as limited:
        finance_client(http, [0.0]).post_invoice({}, "inv_4")
    assert limited.value.retry_after == 7
    http = FakeHttp([HttpResult(503, {}, {"error": "unavailable"})])
    with pytest.raises(TargetUnavailable, match="503"):
        finance_client(http, [0.0]).post_invoice({}, "inv_5")


# -- logic.post with fakes -------------------------------------------------------------------------


@dataclass
class FakeBreaker:
    allowed: bool = True
    open_after_failure: int = 0
    failures: list[str] = field(default_factory=list)
    successes: int = 0

    def admit(self) -> Any:
        from connectors.models import Admission

        return Admission(self.allowed, retry_after=0 if self.allowed else 12)

    def failure(self, reason: str) -> None:
        self.failures.append(reason)

    def success(self) -> None:
        self.successes += 1

    def open_for(self) -> int:
        return self.open_after_failure


class FakeLimiter:
    def __init__(self, wait: int = 0) -> None:
        self.wait = wait

    def try_acquire(self, n: int = 1) -> int:
        return self.wait


@dataclass
class FakeFinance:
    answer: Any = None  # an HttpResult, or an exception to raise
    found: dict[str, Any] | None = None
    posts: int = 0
    finds: int = 0

    def post_invoice(self, body: dict[str, Any], idempotency_key: str) -> HttpResult:
        self.posts += 1
        assert idempotency_key == body["external_reference"]
        if isinstance(self.answer, Exception):
            raise self.answer
        assert isinstance(self.answer, HttpResult)
        return self.answer

    def find(self, external_reference: str) -> dict[str, Any] | None:
        self.finds += 1
        return self.found


@dataclass
class World:
    ledger: dict[str, Any] | None = None
    committed: list[list[dict[str, Any]]] = field(default_factory=list)
    parked: list[tuple[int, str]] = field(default_factory=list)
    raised: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    marks: list[dict[str, str] | None] = field(default_factory=list)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    from connectors import api as connectors
    from finance import repository
    from synchub_core.config import reset_settings

    for key, value in {
        "ORDERS_TABLE": "orders",
        "INVENTORY_TABLE": "inventory",
        "EVENT_BUS_NAME": "bus",
        "CONNECTORS_TABLE": "connectors",
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    w = World()
    monkeypatch.setattr(repository, "ledger", lambda invoice_id: w.ledger)
    monkeypatch.setattr(repository, "commit", lambda ops: w.committed.append(ops) or True)

    def park(record: Any, url: str, delay: int, reason: str, metrics: Any = None, marks: Any = None) -> None:
        w.parked.append((delay, reason))
        w.marks.append(marks)

    monkeypatch.setattr(connectors, "park", park)
    monkeypatch.setattr(connectors, "raise_exception", lambda **kw: w.raised.append(kw) or "exc_1")
    monkeypatch.setattr(connectors, "resolve", lambda target, kind, entity: w.resolved.append(entity) or True)
    yield w
    reset_settings()


def delivery(receive_count: int = 1, attributes: dict[str, Any] | None = None, body: str | None = None) -> Any:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from synchub_core.lambda_support import Delivery

    body = body or json.dumps(sample("eventbridge-invoice-issued.json"))
    record = SQSRecord(
        {
            "messageId": "m-1",
            "body": body,
            "attributes": {"ApproximateReceiveCount": str(receive_count)},
            "messageAttributes": attributes or {},
        }
    )
    bus = from_bus_message(body)
    return Delivery(bus.detail, "m-1", bus, record=record)


def run(finance: FakeFinance, breaker: FakeBreaker | None = None, limiter: FakeLimiter | None = None, **kw: Any) -> Any:
    rt = logic.Runtime(breaker or FakeBreaker(), limiter or FakeLimiter(), "https://queue", lambda: finance)  # type: ignore[arg-type]
    return logic.post(delivery(**kw), rt)


def test_posted_is_one_transaction_of_ledger_invoice_and_event(world: World) -> None:
    finance = FakeFinance(HttpResult(201, {}, {"id": "FIN-00000042"}))
    outcome = run(finance)
    assert (outcome.status, outcome.finance_document_id) == ("posted", "FIN-00000042")
    (ops,) = world.committed
    assert len(ops) == 3
    assert ops[0]["Put"]["Item"]["pk"] == {"S": f"POSTING#{outcome.invoice_id}"}
    assert ops[1]["Update"]["Key"]["pk"]["S"].startswith("INVOICE#")
    assert json.loads(ops[2]["Put"]["Item"]["detail"]["S"])["event_type"] == "InvoicePosted"
    assert world.resolved == [] and finance.finds == 0


def test_a_posted_ledger_answers_a_repeat_without_calling_finance(world: World) -> None:
    world.ledger = {"status": "POSTED", "finance_document_id": "FIN-1"}
    finance = FakeFinance()
    assert run(finance).status == "already-posted" and finance.posts == 0
    world.ledger = {"status": "REJECTED"}
    assert run(finance).status == "already-rejected" and finance.posts == 0


def test_a_redelivery_looks_the_document_up_first(world: World) -> None:
    finance = FakeFinance(found={"id": "FIN-00000007"})
    outcome = run(finance, receive_count=2)
    assert outcome.found_by_lookup and outcome.finance_document_id == "FIN-00000007" and finance.posts == 0
    # a copy parked after a post was sent (or by a redelivery) is looked up too
    parked_copy = {
        "synchub-parked": {"stringValue": "1", "dataType": "Number"},
        "synchub-maybe-posted": {"stringValue": "1", "dataType": "String"},
    }
    finance = FakeFinance(HttpResult(201, {}, {"id": "FIN-8"}))
    assert run(finance, attributes=parked_copy).status == "posted" and finance.finds == 1


def test_a_copy_parked_before_any_post_is_posted_without_a_lookup(world: World) -> None:
    """A backlog parked while the breaker was open never reached finance: one request per invoice."""
    parked_copy = {"synchub-parked": {"stringValue": "3", "dataType": "Number"}}
    finance = FakeFinance(HttpResult(201, {}, {"id": "FIN-9"}))
    assert run(finance, attributes=parked_copy).status == "posted" and finance.finds == 0 and finance.posts == 1


def test_an_open_breaker_or_the_rate_limit_parks(world: World) -> None:
    finance = FakeFinance()
    assert run(finance, FakeBreaker(allowed=False)).status == "parked"
    assert run(finance, limiter=FakeLimiter(1)).status == "parked"
    assert world.parked == [(12, "finance circuit open"), (1, "finance rate limit")] and finance.posts == 0


def test_outages_fail_until_the_breaker_opens_then_park(world: World) -> None:
    breaker = FakeBreaker()
    with pytest.raises(PostingFailed):
        run(FakeFinance(TargetUnavailable("finance answered 503 (unavailable)")), breaker)
    assert breaker.failures == ["finance answered 503 (unavailable)"]
    breaker.open_after_failure = 15
    outcome = run(FakeFinance(TargetUnavailable("timeout after send", after_send=True)), breaker)
    assert outcome.status == "parked" and world.parked[-1][0] == 15
    assert world.marks[-1] == {"synchub-maybe-posted": "1"}  # finance may have booked it: look it up next time
    assert world.committed == []


def test_a_429_parks_for_retry_after_and_is_no_breaker_failure(world: World) -> None:
    breaker = FakeBreaker()
    assert run(FakeFinance(FinanceRateLimited(9)), breaker).status == "parked"
    assert world.parked == [(9, "finance answered 429")] and breaker.failures == []


def test_auth_failures_are_technical_not_an_outage(world: World) -> None:
    breaker = FakeBreaker()
    with pytest.raises(PostingFailed, match="401"):
        run(FakeFinance(FinanceAuthFailed("finance refused a freshly issued access token (401 twice)")), breaker)
    assert breaker.failures == []


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (422, {"error": "unknown_account", "customer_account": "CUST-0199"}, "unknown_account"),
        (409, {"error": "duplicate_reference", "existing_id": "FIN-9"}, "duplicate_reference"),
        (400, {}, "http_400"),
    ],
)
def test_refusals_become_business_exceptions(world: World, status: int, body: dict[str, Any], code: str) -> None:
    breaker = FakeBreaker()
    outcome = run(FakeFinance(HttpResult(status, {}, body)), breaker)
    assert (outcome.status, outcome.code, outcome.exception_id) == ("rejected", code, "exc_1")
    assert breaker.successes == 1  # finance answered: it is up
    (raised,) = world.raised
    assert raised["target"] == "finance" and raised["entity_type"] == "invoice" and raised["code"] == code
    assert raised["resubmit_queue_url"] == "https://queue"
    assert json.loads(raised["payload"])["detail-type"] == "InvoiceIssued"
    assert [op["Put"]["Item"]["status"]["S"] if "Put" in op else "invoice" for op in raised["also"]] == [
        "REJECTED",
        "invoice",
    ]


def test_a_resubmission_that_goes_through_resolves_the_exception(world: World) -> None:
    world.ledger = {"status": "REJECTED"}
    resubmitted = {"synchub-resubmit-of": {"stringValue": "exc_1", "dataType": "String"}}
    outcome = run(FakeFinance(HttpResult(201, {}, {"id": "FIN-3"})), attributes=resubmitted)
    assert outcome.status == "posted" and outcome.resolved and len(world.committed) == 1


# -- credit memos ----------------------------------------------------------------------------------


def credit_memo() -> dict[str, Any]:
    """A CreditMemoIssued ``data``: a return crediting one order line from two invoices (shipped in
    two parts) and another line's damaged units, amounts positive."""
    inv = invoice()
    return {
        "credit_memo_id": "cm_0123456789abcdef01234567",
        "credit_memo_number": "CM-SH01-2026-000007",
        "legal_entity": "SH01",
        "fiscal_year": 2026,
        "sequence": 7,
        "issued_at": "2026-03-02T10:15:00.000Z",
        "currency": "EUR",
        "customer": inv["customer"],
        "bill_to": inv["bill_to"],
        "references": {
            "order_id": inv["references"]["order_id"],
            "rma_id": "RMA-1001",
            "channel": inv["references"]["channel"],
            "channel_order_ref": inv["references"]["channel_order_ref"],
            "warehouse_id": inv["references"]["warehouse_id"],
            "received_at": "2026-03-02T10:14:00.000Z",
        },
        "lines": [
            {
                "invoice_id": "inv_aaaaaaaaaaaaaaaaaaaaaaaa",
                "invoice_number": "INV-SH01-2026-000001",
                "line_id": "1",
                "sku": "SKU-1",
                "quantity": 1,
                "unit_price": "10.00",
                "tax_rate": "0.19",
                "net_amount": "10.00",
                "tax_amount": "1.90",
                "gross_amount": "11.90",
                "condition": "RESALEABLE",
            },
            {
                "invoice_id": "inv_bbbbbbbbbbbbbbbbbbbbbbbb",
                "invoice_number": "INV-SH01-2026-000002",
                "line_id": "1",
                "sku": "SKU-1",
                "quantity": 2,
                "unit_price": "10.00",
                "tax_rate": "0.19",
                "net_amount": "20.00",
                "tax_amount": "3.80",
                "gross_amount": "23.80",
                "condition": "DAMAGED",
            },
        ],
        "net_total": "30.00",
        "tax_total": "5.70",
        "gross_total": "35.70",
    }


def memo_message(memo: dict[str, Any] | None = None) -> str:
    return logic.repost_message(memo or credit_memo())


def test_a_credit_memo_is_a_credit_note_with_positive_amounts_and_the_invoices_it_credits() -> None:
    memo = credit_memo()
    doc = logic.credit_note_document(memo)
    assert logic.document_type_for("CreditMemoIssued") == "credit_note"
    assert logic.document_of(memo) == doc and logic.document_of(invoice())["document_type"] == "invoice"
    assert doc["external_reference"] == memo["credit_memo_id"]
    assert (doc["document_type"], doc["document_number"]) == ("credit_note", "CM-SH01-2026-000007")
    assert doc["customer_account"] == memo["customer"]["customer_id"] and doc["issue_date"] == "2026-03-02"
    assert (doc["net_total"], doc["tax_total"], doc["gross_total"]) == ("30.00", "5.70", "35.70")
    # one order line credited from two invoices: finance's lines are numbered, each names its invoice line
    assert [(line["line_id"], line["original_reference"], line["original_line_id"]) for line in doc["lines"]] == [
        ("1", "inv_aaaaaaaaaaaaaaaaaaaaaaaa", "1"),
        ("2", "inv_bbbbbbbbbbbbbbbbbbbbbbbb", "1"),
    ]
    assert doc["lines"][1]["original_document_number"] == "INV-SH01-2026-000002"
    assert doc["lines"][1]["net_amount"] == "20.00" and doc["lines"][1]["quantity"] == 2
    assert "condition" not in doc["lines"][0] and "gross_amount" not in doc["lines"][0]
    assert doc["references"] == {k: memo["references"][k] for k in logic.CREDIT_REFERENCE_FIELDS}
    text = json.dumps(doc)
    for personal in (memo["customer"].get("name"), memo["customer"].get("email"), memo["bill_to"].get("line1")):
        assert personal and personal not in text


def test_differences_of_a_credit_note() -> None:
    memo = credit_memo()
    booked = {**logic.credit_note_document(memo), "id": "FIN-00000010"}
    assert logic.differences(memo, booked) == []
    drifted = copy.deepcopy(booked)
    drifted["gross_total"] = "30.00"
    drifted["lines"][1]["original_reference"] = "inv_cccccccccccccccccccccccc"
    assert logic.differences(memo, drifted) == [
        "gross_total 35.70 in the hub, 30.00 in finance",
        "line 2 original_reference inv_bbbbbbbbbbbbbbbbbbbbbbbb in the hub, inv_cccccccccccccccccccccccc in finance",
    ]


def test_the_repost_message_of_a_credit_memo_is_its_issued_event() -> None:
    from synchub_core.envelope import deterministic_event_id

    memo = credit_memo()
    posted = {**memo, "posting_status": "POSTED", "finance_document_id": "FIN-1"}
    event = from_bus_message(logic.repost_message(posted))
    assert (event.source, event.detail_type, event.detail.event_type) == (
        "synchub.invoicing",
        "CreditMemoIssued",
        "CreditMemoIssued",
    )
    assert event.detail.event_id == deterministic_event_id("credit-memo", memo["references"]["order_id"], "RMA-1001")
    assert event.detail.entity_id == memo["credit_memo_id"]
    assert event.detail.data == memo


def test_a_refusal_of_a_credit_note_names_the_credit_memo() -> None:
    doc = logic.credit_note_document(credit_memo())
    reason = logic.business_reason("validation_error", 422, {"detail": "bad"}, doc)
    assert reason == (
        "finance refused credit memo CM-SH01-2026-000007 as invalid (validation_error): bad; "
        "fix the credit memo data, then resubmit"
    )
    assert "credit memo CM-SH01-2026-000007" in logic.business_reason("duplicate_reference", 409, {}, doc)


def test_a_credit_memo_that_does_not_validate_is_refused_at_admission() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        logic.admit(delivery(body=memo_message(credit_memo()).replace('"lines":[', '"lines_":[')))
    logic.admit(delivery(body=memo_message()))  # a whole one is admitted


def run_memo(finance: FakeFinance, **kw: Any) -> Any:
    rt = logic.Runtime(FakeBreaker(), FakeLimiter(), "https://queue", lambda: finance)  # type: ignore[arg-type]
    return logic.post(delivery(body=memo_message(), **kw), rt)


def test_a_posted_credit_memo_is_one_transaction_of_ledger_memo_and_event(world: World) -> None:
    finance = FakeFinance(HttpResult(201, {}, {"id": "FIN-00000043"}))
    outcome = run_memo(finance)
    assert (outcome.status, outcome.finance_document_id) == ("posted", "FIN-00000043")
    assert (outcome.entity_type, outcome.entity_id, outcome.invoice_id) == (
        "credit_memo",
        credit_memo()["credit_memo_id"],
        None,
    )
    assert outcome.id_field == "credit_memo_id"
    (ops,) = world.committed
    assert len(ops) == 3
    ledger = ops[0]["Put"]["Item"]
    assert ledger["pk"] == {"S": "POSTING#cm_0123456789abcdef01234567"}
    assert (ledger["document_kind"], ledger["status"], ledger["rma_id"]) == (
        {"S": "credit_memo"},
        {"S": "POSTED"},
        {"S": "RMA-1001"},
    )
    assert ledger["credit_memo_number"] == {"S": "CM-SH01-2026-000007"} and "invoice_id" not in ledger
    assert ops[1]["Update"]["Key"]["pk"]["S"] == f"CREDITMEMO#{credit_memo()['references']['order_id']}#RMA-1001"
    event = json.loads(ops[2]["Put"]["Item"]["detail"]["S"])
    assert event["event_type"] == "CreditMemoPosted"
    assert event["data"]["finance_document_id"] == "FIN-00000043" and event["data"]["gross_total"] == "35.70"


def test_a_credit_memo_is_posted_with_its_id_as_idempotency_key_and_looked_up_on_redelivery(world: World) -> None:
    finance = FakeFinance(found={"id": "FIN-00000044"})
    outcome = run_memo(finance, receive_count=3)
    assert outcome.found_by_lookup and finance.posts == 0 and outcome.finance_document_id == "FIN-00000044"
    world.ledger = {"status": "POSTED", "finance_document_id": "FIN-00000044"}
    assert run_memo(finance).status == "already-posted" and finance.finds == 1


def test_a_refused_credit_memo_becomes_a_credit_memo_exception(world: World) -> None:
    outcome = run_memo(FakeFinance(HttpResult(422, {}, {"error": "unknown_account", "customer_account": "CUST-0199"})))
    assert (outcome.status, outcome.code) == ("rejected", "unknown_account")
    (raised,) = world.raised
    memo = credit_memo()
    assert (raised["entity_type"], raised["entity_id"]) == ("credit_memo", memo["credit_memo_id"])
    assert raised["refs"]["credit_memo_number"] == "CM-SH01-2026-000007" and raised["refs"]["rma_id"] == "RMA-1001"
    assert raised["refs"]["order_id"] == memo["references"]["order_id"]
    assert json.loads(raised["payload"])["detail-type"] == "CreditMemoIssued"
    ledger, memo_op = raised["also"]
    assert ledger["Put"]["Item"]["status"]["S"] == "REJECTED"
    assert memo_op["Update"]["Key"]["pk"]["S"].startswith("CREDITMEMO#")
    assert memo_op["Update"]["ExpressionAttributeValues"][":rejected"] == {"S": "REJECTED"}
