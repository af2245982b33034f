"""Exported models on the Hugging Face Hub: ``owner/name`` (optionally ``@revision``, or with an
``hf:`` prefix) as a detector spec.

:func:`hub_model_dir` downloads the repository (or finds it in the local Hub cache; with
``HF_HUB_OFFLINE=1`` only the cache is used) and returns the directory, which must be an
exported huashu model (``huashu_model.json``). A spec that names an existing local path is never
taken for a Hub id.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

HUB_ID = re.compile(r"^(?:hf:)?(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})"
                    r"(?:@(?P<revision>[\w./-]+))?$")
MODEL_FILE = "huashu_model.json"


class HubError(RuntimeError):
    """A Hub id that cannot be turned into a local model directory; the message says why."""


def looks_like_hub_id(spec: str) -> bool:
    """``owner/name`` (``@revision``) that is not an existing local path, or any ``hf:`` spec."""
    if spec.startswith("hf:"):
        return True
    return HUB_ID.match(spec) is not None and not Path(spec).exists()


def hub_model_dir(spec: str) -> Path:
    """The local directory of the Hub model ``spec`` (downloaded into the Hub cache if needed)."""
    m = HUB_ID.match(spec)
    if m is None:
        raise HubError("not a Hub id (expected owner/name or owner/name@revision)")
    repo, revision = m.group("repo"), m.group("revision")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise HubError("loading a model from the Hub needs huggingface_hub: pip install huggingface_hub") \
            from None
    log.info("Hub model %s%s: downloading (or reading the local cache)", repo,
             f"@{revision}" if revision else "")
    try:
        local = Path(snapshot_download(repo_id=repo, revision=revision))
    except GatedRepoError:
        raise HubError(f"{repo} is gated on the Hub: accept its terms and log in (`hf auth login`)") \
            from None
    except RepositoryNotFoundError:
        raise HubError(f"no model {repo} on the Hub (or it is private: log in with `hf auth login`)") \
            from None
    except RevisionNotFoundError:
        raise HubError(f"{repo} has no revision {revision!r} on the Hub") from None
    except LocalEntryNotFoundError:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise HubError(f"{repo} is not in the local Hub cache and HF_HUB_OFFLINE is set: unset it to "
                           "download, or give a local model directory") from None
        raise HubError(f"cannot reach the Hugging Face Hub to download {repo}, and it is not in the "
                       "local cache: check the network (or HF_ENDPOINT), or give a local model "
                       "directory") from None
    except Exception as e:  # HfHubHTTPError, httpx errors, bad repo ids …: one line, no traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HubError(f"downloading {repo} from the Hub failed: {first}") from None
    if not (local / MODEL_FILE).exists():
        raise HubError(f"{repo} on the Hub is not an exported huashu model (no {MODEL_FILE}; "
                       "`huashu export` writes one)")
    return local
