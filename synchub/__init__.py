"""synchub developer tooling: local runtime, demo and DLQ replay."""
