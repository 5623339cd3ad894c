"""Frame sampling (`sampler`: index policies, decoding only what is needed) and the frame cache
(`cache`). The public names are re-exported here: `from vlm4d_tasks.video import sample`."""

from vlm4d_tasks.video.sampler import Frames, VideoError, all_frames, fps, sample, uniform

__all__ = ["Frames", "VideoError", "all_frames", "fps", "sample", "uniform"]
