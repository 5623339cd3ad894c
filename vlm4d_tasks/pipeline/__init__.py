"""The pipeline that turns answers into score documents, the one every entry point uses
(`vlm4d score`, the lmms-eval tasks, `vlm4d diagnose-probe`): `score` grades and scores and
assembles the document, `document` reads one back and checks it, `rows` turns documents into
the rows that reports rank and compare.

It sits above the metric core and the analyses (`probe`, `validity`), whose results it puts in
the document, and below the report, which renders the document.
"""
