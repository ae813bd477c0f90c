"""Throughput and latency benchmarks: ``python -m benchmarks [--quick] [--json FILE]``."""
