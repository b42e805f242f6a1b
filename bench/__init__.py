"""Benchmarks: each module prints one JSON document of figures and ratios to a baseline run in
the same process. They run apart from the test suite (`make bench`)."""
