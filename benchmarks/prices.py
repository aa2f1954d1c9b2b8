"""The public on-demand price sheet ``benchmarks.bill`` prices an order with: Europe (Ireland),
eu-west-1, USD, list prices without free tiers, savings plans or volume tiers beyond the first.

Every price names the provider's page it belongs to and what it was read from (``checked``), all
looked up on ``AS_OF`` in stored copies of public pages (the live pages render their tables with
scripts); ``verified`` is False where the figure could not be confirmed for eu-west-1 and rests on
what ``checked`` says (the bill prints those marked). Change a figure here, and every bill and
floor computed with :func:`price` follows.

The API is small on purpose: a bill is a mapping of price keys to quantities per order
(``{"dynamodb.wru": 41, "lambda.request": 9, ...}``) and :func:`price` turns it into dollars, so a
"floor" bill built by hand or by another benchmark is priced with the very same sheet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

REGION = "eu-west-1"
AS_OF = "2026-12-02"  # when the sheet was looked up (stored copies of the pages; see each source)


@dataclass(frozen=True)
class Price:
    key: str
    service: str
    what: str  # the billing unit, in words
    usd: float  # dollars per ``per`` units
    per: float
    source: str  # the provider's page the figure belongs to
    checked: str = ""  # where the figure was read (a stored copy), and for which region
    verified: bool = True  # False: not confirmed for eu-west-1; ``checked`` says what it rests on

    @property
    def unit_usd(self) -> float:
        return self.usd / self.per


def _sheet(*prices: Price) -> dict[str, Price]:
    return {p.key: p for p in prices}


DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
LAMBDA = "https://aws.amazon.com/lambda/pricing/"
EVENTS = "https://aws.amazon.com/eventbridge/pricing/"
SQS = "https://aws.amazon.com/sqs/pricing/"
APIGW = "https://aws.amazon.com/api-gateway/pricing/"
LOGS = "https://aws.amazon.com/cloudwatch/pricing/"
XRAY = "https://aws.amazon.com/xray/pricing/"
WAF = "https://aws.amazon.com/waf/pricing/"
S3 = "https://aws.amazon.com/s3/pricing/"
SECRETS = "https://aws.amazon.com/secrets-manager/pricing/"
SSM = "https://aws.amazon.com/systems-manager/pricing/"
KMS = "https://aws.amazon.com/kms/pricing/"

SHEET: dict[str, Price] = _sheet(
    Price(
        "dynamodb.wru",
        "DynamoDB",
        "write request units (on-demand, Standard table class)",
        0.7068,
        1e6,
        DDB,
        "half of the Ireland list price before the cut of 1 Nov 2024 ($1.4135: engineering-ed7.pages.dev, AWS "
        "DynamoDB notes); "
        "the cut halved on-demand throughput everywhere (us-east-1 $1.25 -> $0.625, airbyte.com/"
        "data-engineering-resources/dynamodb-pricing, jusdb.com); Ireland's figure after it not seen",
        verified=False,
    ),
    Price(
        "dynamodb.rru",
        "DynamoDB",
        "read request units (on-demand, Standard table class)",
        0.1415,
        1e6,
        DDB,
        "half of the Ireland list price before the cut ($0.283; us-east-1 $0.25 -> $0.125)",
        verified=False,
    ),
    Price(
        "lambda.request",
        "Lambda",
        "requests (invocations)",
        0.20,
        1e6,
        LAMBDA,
        "$0.20 per million requests (a stored copy of the pricing page); eu-west-1 at the base prices in the "
        "region table below",
    ),
    Price(
        "lambda.gbs.x86_64",
        "Lambda",
        "GB-seconds, x86_64 (first 6 billion a month), billed per 1 ms",
        0.0000166667,
        1,
        LAMBDA,
        "the region table of artillery 2.0.28 (lib/platform/aws-lambda/prices.js, from the Lambda pricing page): "
        "eu-west-1 is at the base price",
    ),
    Price(
        "lambda.gbs.arm64",
        "Lambda",
        "GB-seconds, arm64 (first 7.5 billion a month), billed per 1 ms",
        0.0000133334,
        1,
        LAMBDA,
        "as x86_64 (artillery's table: eu-west-1 at the base arm64 price)",
    ),
    Price(
        "events.custom",
        "EventBridge",
        "custom events published (each 64 KB chunk of an entry is one event)",
        1.00,
        1e6,
        EVENTS,
        "aws.amazon.com/eventbridge/pricing (64 KB chunks); $1.00/M us-east-1, 'consistent across most commercial "
        "regions' (cloudburn.io/blog/amazon-eventbridge-pricing, 2026-03)",
    ),
    Price(
        "pipes.request",
        "EventBridge Pipes",
        "requests after filtering (each 64 KB chunk is one request); priced for the floor only",
        0.40,
        1e6,
        EVENTS,
        "$0.40/M us-east-1, 'consistent across most commercial regions' (cloudburn.io/blog/amazon-eventbridge-"
        "pricing, 2026-03; awsnegotiations.com/eventbridge-pipes-cost: 64 KB chunks); Ireland assumed equal",
        verified=False,
    ),
    Price(
        "events.archive_gb",
        "EventBridge",
        "GB of events archived (archive processing; storage $0.023/GB-month not included)",
        0.10,
        1,
        EVENTS,
        "us-east-1 (cloudburn.io, factualminds.com 2026-06); Ireland assumed equal",
        verified=False,
    ),
    Price(
        "sqs.request",
        "SQS",
        "standard queue requests (each 64 KB chunk of a request is one request)",
        0.40,
        1e6,
        SQS,
        "$0.40/M first 100 billion, us-east-1 (cloudburn.io 2026-03, factualminds.com 2026-06); Ireland assumed equal",
        verified=False,
    ),
    Price(
        "apigw.rest",
        "API Gateway",
        "REST API requests (first 333 million a month)",
        3.50,
        1e6,
        APIGW,
        "AWS whitepaper 'Best Practices for Designing Amazon API Gateway Private APIs', table 4 "
        "($3.50 first 333 M; region not named); Ireland assumed equal",
        verified=False,
    ),
    Price(
        "apigw.http",
        "API Gateway",
        "HTTP API requests (first 300 million a month; 512 KB chunks)",
        1.11,
        1e6,
        APIGW,
        "us-east-1 is $1.00 (the same whitepaper); $1.11 for Ireland not seen in a stored copy. Not used by the "
        "stack today: for a floor with an HTTP API",
        verified=False,
    ),
    Price(
        "waf.request",
        "WAF",
        "web ACL requests inspected (the ACL's and rules' monthly fees not included)",
        0.60,
        1e6,
        WAF,
        "the per-million request figure was not in the stored copies found",
        verified=False,
    ),
    Price(
        "logs.ingest_gb",
        "CloudWatch Logs",
        "GB ingested (Standard class; Lambda logs: the first tier of the vended-log tiers since 1 May 2025)",
        0.57,
        1,
        LOGS,
        "us-east-1 is $0.50/GB and Lambda's first tier equals it (duckbillgroup.com, May 2025); $0.57 for "
        "Ireland not seen in a stored copy",
        verified=False,
    ),
    Price(
        "xray.trace",
        "X-Ray",
        "traces recorded (first 100,000 a month free, not deducted)",
        5.00,
        1e6,
        XRAY,
        "aws.amazon.com/de/xray/pricing: $5 per million recorded traces",
    ),
    Price(
        "s3.tier1",
        "S3",
        "PUT, COPY, POST, LIST requests (S3 Standard)",
        0.005,
        1e3,
        S3,
        "$0.005 per 1,000 (c3x.dev/blog/s3-request-fees-explained, us-east-1); Ireland assumed equal",
        verified=False,
    ),
    Price(
        "s3.tier2",
        "S3",
        "GET, HEAD and other requests (S3 Standard; DELETE free)",
        0.0004,
        1e3,
        S3,
        "$0.0004 per 1,000 (the same); Ireland assumed equal",
        verified=False,
    ),
    Price(
        "secretsmanager.api",
        "Secrets Manager",
        "API calls",
        0.05,
        1e4,
        SECRETS,
        "not looked up (no call per order: the functions cache the secrets)",
        verified=False,
    ),
    Price(
        "ssm.standard",
        "SSM Parameter Store",
        "standard parameters, standard throughput API interactions",
        0.0,
        1e4,
        SSM,
        "no charge for standard throughput (not looked up; cached by the functions anyway)",
        verified=False,
    ),
    Price(
        "kms.request",
        "KMS",
        "requests",
        0.03,
        1e4,
        KMS,
        "not looked up (the stack makes none per order: AWS owned keys, SSE-S3)",
        verified=False,
    ),
    Price("free", "-", "requests without a per-request charge (DeleteObject, ...)", 0.0, 1, "", "n/a"),
)


def price(counts: Mapping[str, float], sheet: Mapping[str, Price] = SHEET) -> float:
    """Dollars for ``counts`` (price key -> quantity), with ``sheet``'s prices.

    Raises KeyError for a key the sheet does not price (a bill must never drop a charge silently)."""
    return sum(sheet[key].unit_usd * quantity for key, quantity in counts.items())


def describe(sheet: Mapping[str, Price] = SHEET) -> list[str]:
    """The sheet as printed under the bill: one line per price, its source and date."""
    out = [f"price sheet: public on-demand list prices, {REGION} (Europe, Ireland), USD, looked up {AS_OF}"]
    for p in sheet.values():
        if p.key == "free":
            continue
        per = f"{p.per:,.0f}" if p.per != 1 else "1"
        mark = "" if p.verified else "  [not confirmed for eu-west-1]"
        usd = f"{p.usd:.10f}".rstrip("0").rstrip(".")
        out.append(f"  {p.service:20s} ${usd:<13s} per {per:>9s} {p.what}{mark}")
        out.append(f"  {'':20s} {p.source}; {p.checked}")
    return out
