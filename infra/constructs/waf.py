"""AWS WAF in front of the API stage: AWS managed rule groups and a per-IP rate limit.

On by default; ``-c synchub:waf=false`` leaves it out (a sandbox account, a load test from one
address). Everything here is regional: a web ACL for an API Gateway stage is REGIONAL.
"""

from __future__ import annotations

import json

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from .common import PROBLEM_BASE

# (priority, managed group, rules set to count instead of block)
MANAGED_GROUPS: list[tuple[int, str, list[str]]] = [
    (1, "AWSManagedRulesAmazonIpReputationList", []),
    # an order of MAX_LINES lines with addresses can pass the group's 8 KB body limit: API Gateway
    # (10 MB) and the function's model bound the body instead
    (2, "AWSManagedRulesCommonRuleSet", ["SizeRestrictions_BODY"]),
    (3, "AWSManagedRulesKnownBadInputsRuleSet", []),
]
RATE_RULE = "RateLimitPerIp"
RATE_LIMITED_BODY = "RateLimited"


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


class ApiFirewall(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, stage: apigw.Stage, rate_limit: int) -> None:
        """``rate_limit``: requests per source IP in any 5 minutes before that IP gets 429s (a channel's
        own rate is its usage plan's; this stops floods before they reach the authorizer)."""
        super().__init__(scope, construct_id)
        rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=RATE_RULE,
                priority=0,
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit, aggregate_key_type="IP", evaluation_window_sec=300
                    )
                ),
                action=wafv2.CfnWebACL.RuleActionProperty(
                    block=wafv2.CfnWebACL.BlockActionProperty(
                        custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                            response_code=429, custom_response_body_key=RATE_LIMITED_BODY
                        )
                    )
                ),
                visibility_config=_visibility(RATE_RULE),
            )
        ]
        for priority, group, counted in MANAGED_GROUPS:
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name=group,
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                                )
                                for rule in counted
                            ]
                            or None,
                        )
                    ),
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    visibility_config=_visibility(group),
                )
            )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name="synchub-api",
            description="synchub API: AWS managed rules and a per-IP rate limit",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("synchub-api"),
            rules=rules,
            # WAF's custom bodies know text, HTML and JSON only: problem+json's members, as application/json
            custom_response_bodies={
                RATE_LIMITED_BODY: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=json.dumps(
                        {
                            "type": PROBLEM_BASE + "too-many-requests",
                            "title": "Too many requests",
                            "status": 429,
                            "detail": "Too many requests from this address: slow down and retry in a few minutes",
                        }
                    ),
                )
            },
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        # the stage ARN is built from the API id and the stage *name*: without this the association
        # could be created before the stage exists
        self.association.node.add_dependency(stage)
