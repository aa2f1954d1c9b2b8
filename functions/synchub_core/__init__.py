"""Shared building blocks for every synchub Lambda: configuration, DynamoDB helpers,
the event envelope, the transactional outbox and RFC 9457 problem details."""
