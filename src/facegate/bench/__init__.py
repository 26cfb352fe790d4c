"""Benchmarks, one module each, behind ``facegate bench stages|pad|track|stream|login``.

Each prints medians of repeated runs with the machine stated; none is a test.
"""
