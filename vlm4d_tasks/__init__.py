"""vlm4d-tasks: the VLM4D benchmark as a dataset, lmms-eval tasks and a judge-based metric.

Importing the package does no work: heavy modules are imported where they are used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "video_path"]


def video_path(record, root=None):
    """Resolve a record's video file; see `vlm4d_tasks.data.paths.video_path`."""
    from vlm4d_tasks.data.paths import video_path as _video_path

    return _video_path(record, root)
