"""Jinja templates shipped with the package (prompts, judge prompt, dataset card parts)."""
