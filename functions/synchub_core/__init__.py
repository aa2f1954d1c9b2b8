"""Shared building blocks for every synchub Lambda: configuration, DynamoDB helpers,
the event envelope, the transactional outbox and RFC 9457 problem details.

Imported before any of them, so before pydantic: Powertools' batch utility imports its parser's
pydantic record models (SQS, DynamoDB, Kinesis, Kafka: ~40 ms of every cold start) only when
pydantic is already imported when it is, and the hub's batch handlers use none of those models
(benchmarks/coldstart.py; tests/unit/test_lean_imports.py keeps them out)."""

import aws_lambda_powertools.utilities.batch  # noqa: F401  # before pydantic: see above
