"""Validity tools: what a VLM4D score can mean.

Blind baselines (the option-text prior, cross-validated text-only predictors), the `debiased`
question set, and transformations of questions and clips (mirror, reverse, re-lettering) that
a model that reasons about motion must answer consistently. Pure functions over `Record`s and
frames; nothing here runs a model.
"""
