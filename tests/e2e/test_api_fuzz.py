"""Property-based fuzzing of the API against its published contract (schemathesis), through the
local hub with a real channel's credentials: no 5xx, and no response the document does not allow
(status code, content type, headers, body schema), for generated valid and invalid requests alike.

The document is the one the hub serves at /openapi.json (the committed openapi/synchub.json; the
unit layer checks the two are the same and that the committed one is not stale)."""

from __future__ import annotations

import json

import schemathesis
from hypothesis import HealthCheck, settings

from helpers import ROOT
from synchub import environment
from synchub.client import ChannelClient, http

EXAMPLES = 40  # per operation and mode; `make test` stays within its time, the fuzzer still finds the usual suspects


# The committed document (schemathesis' lazy fixture loader does not run on pytest 9); the first test
# shows the hub serves exactly this document.
schema = schemathesis.openapi.from_path(ROOT / "openapi" / "synchub.json")


def test_the_hub_serves_the_committed_contract(env: environment.HubEnvironment) -> None:
    assert env.api_url
    served = http("GET", env.api_url + "/openapi.json")
    assert served.status == 200 and (served.header("Content-Type") or "").startswith("application/json")
    assert served.body == json.loads((ROOT / "openapi" / "synchub.json").read_text())
    assert served.body["openapi"].startswith("3.1")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_answers_within_its_contract(
    case: schemathesis.Case, env: environment.HubEnvironment, webshop: ChannelClient
) -> None:
    headers = {} if case.path == "/oauth2/token" else {"Authorization": f"Bearer {webshop.token()}"}
    case.call_and_validate(base_url=env.api_url, headers=headers)
