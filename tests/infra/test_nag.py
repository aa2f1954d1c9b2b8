"""cdk-nag: the AwsSolutions and Serverless packs report nothing unsuppressed, for the default
synth and with the context switches turned; every suppression names its rule and gives a real
reason, and still matches a finding (a suppression nothing triggers is stale and fails)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

STACK = "Synchub"
PACKS = re.compile(r"^(AwsSolutions|Serverless)-[A-Za-z0-9]+$")
MIN_REASON = 80  # characters: a reason says why, not just "needed"


@dataclass
class NagRun:
    stack: Any
    template: dict[str, Any]
    infos: list[tuple[str, str]]  # (construct path, message) of every info annotation


def _run(outdir: Any, context: dict[str, Any] | None = None) -> NagRun:
    from aws_cdk.assertions import Annotations, Match, Template

    from infra.app import build

    app = build(outdir=outdir, context=context, nag_verbose=True, log_suppressed=True)
    app.synth()
    stack = app.node.find_child(STACK)
    infos = [(m.id, str(m.entry.data)) for m in Annotations.from_stack(stack).find_info("*", Match.any_value())]
    return NagRun(stack=stack, template=dict(Template.from_stack(stack).to_json()), infos=infos)


@pytest.fixture(
    scope="module",
    params=[None, {"synchub:waf": False, "synchub:apiGatewayCloudWatchRole": False}],
    ids=["default", "waf-off"],
)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> NagRun:
    return _run(tmp_path_factory.mktemp("cdk.out"), request.param)


def _messages(run: NagRun, level: str) -> list[str]:
    from aws_cdk.assertions import Annotations, Match

    annotations = Annotations.from_stack(run.stack)
    find = annotations.find_error if level == "error" else annotations.find_warning
    pattern = Match.string_like_regexp(r"(AwsSolutions-|Serverless-|CdkNagValidationFailure).*")
    return [f"{m.id}: {str(m.entry.data).splitlines()[0]}" for m in find("*", pattern)]


def test_no_unsuppressed_errors(run: NagRun) -> None:
    errors = _messages(run, "error")
    assert not errors, "\n".join(errors)


def test_no_unsuppressed_warnings(run: NagRun) -> None:
    """Warnings too, including a rule that could not evaluate (CdkNagValidationFailure)."""
    warnings = _messages(run, "warning")
    assert not warnings, "\n".join(warnings)


def _suppressions(run: NagRun) -> list[tuple[str, dict[str, Any]]]:
    """(construct path, suppression) of every cdk-nag suppression (CfnResource metadata `cdk_nag`)."""
    from aws_cdk import CfnResource

    found = []
    for construct in run.stack.node.find_all():
        if isinstance(construct, CfnResource):
            for rule in (construct.get_metadata("cdk_nag") or {}).get("rules_to_suppress", []):
                found.append((construct.node.path, rule))
    return found


def test_every_suppression_names_a_rule_and_a_reason(run: NagRun) -> None:
    suppressions = _suppressions(run)
    assert suppressions
    for path, rule in suppressions:
        assert PACKS.match(rule["id"]), (path, rule["id"])
        reason = rule.get("reason", "")
        assert len(reason) >= MIN_REASON, f"{path} {rule['id']}: reason too short: {reason!r}"
        assert "TODO" not in reason and "temporary" not in reason.lower(), (path, reason)
        # a wildcard suppression of IAM5 would hide every future wildcard: each names its finding
        if rule["id"] in ("AwsSolutions-IAM5", "AwsSolutions-IAM4"):
            assert rule.get("applies_to"), f"{path}: {rule['id']} suppressed without naming the finding"


def test_every_suppression_is_still_needed(run: NagRun) -> None:
    """With log_suppressed, cdk-nag reports each suppressed finding as an info annotation on the
    resource: every suppression must have one (otherwise the finding is gone: drop the suppression)."""
    triggered: dict[str, set[str]] = {}
    for path, message in run.infos:
        m = re.match(r"^CdkNagSuppression(?:\[[^\]]*\])?: (\S+) was triggered but suppressed", message)
        if m:
            triggered.setdefault(path, set()).add(m.group(1))
    stale = [
        f"{path}: {rule['id']}"
        for path, rule in _suppressions(run)
        if rule["id"] not in triggered.get("/" + path, set())
    ]
    assert not stale, "suppressions no finding needs any more:\n" + "\n".join(stale)


def test_the_app_fails_on_an_unsuppressed_error(tmp_path: Any) -> None:
    """`python -m infra.app` (make synth) is a gate like `cdk synth`: a resource nag objects to, added
    without a suppression, makes it fail."""
    from aws_cdk import aws_sqs as sqs

    from infra.app import build, nag_findings

    app = build(outdir=tmp_path)
    sqs.Queue(app.node.find_child(STACK), "UnencryptedQueueWithoutDlq", encryption=sqs.QueueEncryption.UNENCRYPTED)
    errors = nag_findings(app.synth(), "error")
    assert any("UnencryptedQueueWithoutDlq" in e and "AwsSolutions-SQS" in e for e in errors), errors
