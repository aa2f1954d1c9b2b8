"""Benchmarks: speed and DynamoDB/EventBridge cost per business operation, as ratios against a
baseline measured in the same run (``make bench``)."""
