"""pytest-benchmark benchmarks; a package so its conftest does not shadow tests/conftest.py."""
