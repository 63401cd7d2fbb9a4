"""``make bench``: tka's numbers, each next to a baseline measured in the same run.

These are measurements, not tests: nothing here passes or fails on a timing. ``python -m bench``
prints a table and writes ``bench/results/latest.json`` (plus a timestamped copy).
See ``bench/README.md`` for what each number means.
"""
