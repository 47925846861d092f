"""Running an operation over many inputs: photo and video jobs, one result type, one exit-code ranking."""

from .jobs import JobResult, exit_code, run_photos, run_videos, summarize

__all__ = ["JobResult", "exit_code", "run_photos", "run_videos", "summarize"]
