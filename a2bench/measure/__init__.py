"""Measuring a built module: counters, timing, memory, environment. These touch torch."""
