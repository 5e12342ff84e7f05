"""Benchmarks: loader throughput, step throughput, and the Table 3 memory/time profile."""
