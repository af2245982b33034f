"""The Label Studio labelling workflow: server, project, push, pull, agreement, active learning.

``huashu studio up`` starts a local Label Studio (LS 1.23, its own venv ``.venv-ls``) bound to
127.0.0.1 with its data, admin credentials and API token under a data dir outside the repo;
``push`` imports documents as tasks with pre-annotations; ``pull`` brings submitted annotations
back into the standoff store under ``labels/annotations/``. Offsets are Python code points at
every step (LS 1.23 uses code points too; the tests prove it with 😀 and 𠮷).
"""

from __future__ import annotations

from huashu.errors import UserError


class StudioError(UserError):
    """A Label Studio problem the user can act on (server down, token rejected, bad export...)."""
