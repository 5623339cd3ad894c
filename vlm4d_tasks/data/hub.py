"""The Hugging Face hub side: the official release and publishing our dataset.

The official release is the dataset repo `shijiezhou/VLM4D` (annotations under `QA/`,
videos under `videos_real/` and `videos_synthetic/`). Everything here goes through
`huggingface_hub`, imported lazily; a hub that cannot be reached fails fast with a message
that says what to pass instead.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from vlm4d_tasks.data.official import ANNOTATION_FILES

OFFICIAL_REPO_ID = "shijiezhou/VLM4D"
# A branch, not a pin: the hub could not be reached to resolve a commit when the release was
# pinned, so what is pinned is the content of the question files (`release.py`). The commit
# huggingface_hub resolves is recorded with every download (`Provenance.hub_commit`).
OFFICIAL_REVISION = "main"


class HubUnavailableError(RuntimeError):
    """The hub could not be reached (offline machine, firewall, wrong endpoint)."""


def _unreachable(what: str, exc: BaseException, hint: str) -> HubUnavailableError:
    return HubUnavailableError(
        f"cannot reach the Hugging Face hub for {what} ({type(exc).__name__}: {exc}). {hint}"
    )


# One short request decides whether the hub is there: huggingface_hub itself retries a
# refused connection five times with backoff (about 25 s) before giving up.
PROBE_TIMEOUT_SECONDS = 5.0


def ensure_reachable(hint: str) -> None:
    """Raise `HubUnavailableError` at once when the hub endpoint does not answer."""
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    if constants.HF_HUB_OFFLINE:
        raise HubUnavailableError(f"HF_HUB_OFFLINE is set, so the hub is not used. {hint}")
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any transport error: refused, DNS, timeout, proxy
        raise _unreachable(constants.ENDPOINT, exc, hint) from exc


def download_annotations(
    repo_id: str = OFFICIAL_REPO_ID, revision: str = OFFICIAL_REVISION
) -> Path:
    """Download the official annotation files into the hub cache; return their folder."""
    from huggingface_hub import hf_hub_download, list_repo_files

    hint = (
        "Pass a local folder with real_mc.json and synthetic_mc.json instead (--annotations DIR)."
    )
    ensure_reachable(hint)
    try:
        files = list_repo_files(repo_id, repo_type="dataset", revision=revision)
    except Exception as exc:  # any transport or offline-mode error means "not reachable"
        raise _unreachable(f"{repo_id}@{revision}", exc, hint) from exc
    wanted = [f for f in files if posixpath.basename(f) in ANNOTATION_FILES.values()]
    if not wanted:
        raise FileNotFoundError(
            f"{repo_id}@{revision} has no annotation files {sorted(ANNOTATION_FILES.values())}"
        )
    folders = set()
    for name in sorted(wanted):
        try:
            local = hf_hub_download(repo_id, name, repo_type="dataset", revision=revision)
        except Exception as exc:
            raise _unreachable(f"{repo_id}/{name}", exc, hint) from exc
        folders.add(Path(local).parent)
    if len(folders) != 1:
        raise FileNotFoundError(
            f"{repo_id}: annotation files in several folders: {sorted(folders)}"
        )
    return folders.pop()


def download_video(
    video: str, repo_id: str = OFFICIAL_REPO_ID, revision: str = OFFICIAL_REVISION
) -> Path:
    """A video of the release through the hub cache (no download when already cached)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(
            hf_hub_download(
                repo_id, video, repo_type="dataset", revision=revision, local_files_only=True
            )
        )
    except Exception:
        pass  # not cached yet
    hint = "Pass a local video folder (the release's layout)."
    ensure_reachable(hint)
    try:
        return Path(hf_hub_download(repo_id, video, repo_type="dataset", revision=revision))
    except Exception as exc:
        raise _unreachable(f"{repo_id}/{video}", exc, hint) from exc


def push_dataset(
    folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None
) -> str:
    """Upload a folder made by `vlm4d build-dataset` (VLM4D or DSR-Bench) or `vlm4d export-train
    --format hf` as a dataset repo; return its URL."""
    from huggingface_hub import HfApi

    from vlm4d_tasks.data.dataset_repo import MARKER

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        commit_message="Upload a dataset built by vlm4d-tasks",
        ignore_patterns=[MARKER],  # the local build's ownership list, not part of the dataset
    )
    return str(getattr(commit, "commit_url", commit))
