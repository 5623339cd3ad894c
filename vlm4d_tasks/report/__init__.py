"""Presentation of score documents: the leaderboard of `vlm4d report` (Markdown, CSV, JSON),
its figures (PNG), the self-contained HTML page, and the table and plot of one score
(`vlm4d score --markdown/--plot`).

Nothing here scores: every number is read from score documents (`vlm4d_tasks.pipeline`).
"""
