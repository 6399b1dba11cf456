"""Benchmarks (scripts/bench): they print numbers; the test suite never collects them."""
