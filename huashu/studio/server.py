"""Install, start, stop and talk to a local Label Studio server.

Everything the server needs lives in one *studio dir* (default ``<huashu data dir>/studio``,
``--data-dir`` or ``HUASHU_STUDIO_DIR``), never in the repo::

    ls/                 LABEL_STUDIO_BASE_DATA_DIR (SQLite database, media, LS's own .env secret)
    home/               $HOME of the server (LS writes ~/.config/label-studio)
    server.json         pid, port, url of the running server
    server.log          its stdout/stderr
    credentials.json    admin e-mail, generated password, personal access token (mode 0600)
    project.json        the LS project huashu manages (id, title, config hash)

The server binds to 127.0.0.1 only, with analytics, Sentry and the version check off, so it makes
no outside requests. LS 1.23 disables legacy tokens for new organisations: huashu logs in with the
admin password (CSRF form login) and creates a personal access token (PAT) at ``/api/token/``; the
SDK exchanges the PAT for short-lived access tokens itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from huashu.paths import REPO_ROOT, data_dir
from huashu.studio import StudioError

log = logging.getLogger(__name__)

ADMIN_EMAIL = "admin@huashu.local"
LS_REQUIREMENT = "label-studio>=1.23,<1.24"
HEALTH_TIMEOUT = 300.0  # first start runs ~30 s of migrations; slow CI machines take longer


def studio_dir(explicit: Path | str | None = None) -> Path:
    """The studio dir: ``explicit`` > ``$HUASHU_STUDIO_DIR`` > ``<data dir>/studio``."""
    if explicit:
        path = Path(explicit)
    elif os.environ.get("HUASHU_STUDIO_DIR"):
        path = Path(os.environ["HUASHU_STUDIO_DIR"])
    else:
        path = data_dir() / "studio"
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------- files

def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StudioError(f"{path} is corrupt ({e}); delete it and run `huashu studio up` again") from None


def _write_json(path: Path, data: dict[str, Any], private: bool = False) -> None:
    """Write atomically; ``private`` files are created 0600 (they hold secrets)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2, sort_keys=True)
        fh.write("\n")
    tmp.replace(path)
    if private:
        path.chmod(0o600)


@dataclass
class Credentials:
    email: str
    password: str
    token: str = ""

    @classmethod
    def load(cls, sdir: Path) -> Credentials | None:
        d = _read_json(sdir / "credentials.json")
        if not d.get("email") or not d.get("password"):
            return None
        return cls(d["email"], d["password"], d.get("token", ""))

    def save(self, sdir: Path) -> Path:
        path = sdir / "credentials.json"
        _write_json(path, {"email": self.email, "password": self.password, "token": self.token},
                    private=True)
        return path


# ---------------------------------------------------------------------------------------- binary

def ls_binary() -> Path | None:
    """The ``label-studio`` executable: next to ``$HUASHU_LS_PYTHON``, then ``<repo>/.venv-ls``,
    then PATH."""
    candidates = []
    if os.environ.get("HUASHU_LS_PYTHON"):
        candidates.append(Path(os.environ["HUASHU_LS_PYTHON"]).parent / "label-studio")
    candidates.append(REPO_ROOT / ".venv-ls" / "bin" / "label-studio")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("label-studio")
    return Path(found) if found else None


def install(venv: Path | None = None) -> Path:
    """Create the server's own venv (its pins would downgrade numpy/pyarrow in ours) and install
    Label Studio from PyPI (~1 min, ~1 GB)."""
    from rich.console import Console

    venv = venv or REPO_ROOT / ".venv-ls"
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    console = Console(stderr=True)
    with console.status(f"installing {LS_REQUIREMENT} into {venv} (about a minute)…"):
        try:
            if not (venv / "bin" / "python").exists():
                subprocess.run([base_python, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LS_REQUIREMENT], check=True,
                           capture_output=True, text=True)
        except subprocess.CalledProcessError as e:
            tail = (e.stderr or "")[-2000:]
            raise StudioError(f"installing Label Studio into {venv} failed:\n{tail}") from None
    (venv / ".installed").touch()
    binary = venv / "bin" / "label-studio"
    if not binary.exists():
        raise StudioError(f"installed Label Studio but {binary} is missing")
    return binary


# ---------------------------------------------------------------------------------------- process

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a recycled pid is not our server
        try:
            return b"label-studio" in cmdline.read_bytes() or b"label_studio" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def healthy(url: str, timeout: float = 3.0) -> bool:
    try:
        r = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def server_env(sdir: Path, creds: Credentials) -> dict[str, str]:
    """The server's environment: data and $HOME under the studio dir, nothing phones home,
    loopback ML backends allowed (the scoring server runs on 127.0.0.1)."""
    env = dict(os.environ)
    for key in list(env):  # never inherit another LS's settings
        if key.startswith(("LABEL_STUDIO_", "DJANGO_")):
            del env[key]
    (sdir / "home").mkdir(exist_ok=True)
    (sdir / "ls").mkdir(exist_ok=True)
    env.update({
        "HOME": str(sdir / "home"),
        "LABEL_STUDIO_BASE_DATA_DIR": str(sdir / "ls"),
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "ML_BLOCK_LOCAL_IP": "false",
        "USE_DEFAULT_BANNED_SUBNETS": "false",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_USERNAME": creds.email,
        "LABEL_STUDIO_PASSWORD": creds.password,
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class ServerState:
    pid: int
    port: int
    url: str
    started_at: str
    log: str

    @classmethod
    def load(cls, sdir: Path) -> ServerState | None:
        d = _read_json(sdir / "server.json")
        if not d:
            return None
        try:
            return cls(int(d["pid"]), int(d["port"]), str(d["url"]), str(d.get("started_at", "")),
                       str(d.get("log", "")))
        except (KeyError, ValueError):
            return None

    def save(self, sdir: Path) -> None:
        _write_json(sdir / "server.json", self.__dict__)

    @property
    def alive(self) -> bool:
        return _pid_alive(self.pid)


def running(sdir: Path) -> ServerState | None:
    """The state of the server started from this studio dir, if its process is alive."""
    state = ServerState.load(sdir)
    if state and state.alive:
        return state
    return None


def _tail(path: Path, n: int = 25) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(lines[-n:])


def start(sdir: Path, port: int | None = None, timeout: float = HEALTH_TIMEOUT,
          auto_install: bool = True, quiet: bool = False) -> tuple[ServerState, bool]:
    """Start the server in the background unless it already runs; wait for /health.
    Returns (state, started_now)."""
    state = running(sdir)
    if state:
        if port and port != state.port:
            raise StudioError(f"Label Studio already runs from {sdir} on port {state.port}; "
                              f"`huashu studio down` first to move it to port {port}")
        if not healthy(state.url):
            _wait_healthy(state, sdir, timeout, quiet)
        return state, False

    binary = ls_binary()
    if binary is None:
        if not auto_install:
            raise StudioError("Label Studio is not installed: run `make studio-env` or "
                              "`huashu studio up` (which installs it into .venv-ls)")
        binary = install()

    creds = Credentials.load(sdir)
    if creds is None:
        creds = Credentials(ADMIN_EMAIL, secrets.token_urlsafe(18))
        creds.save(sdir)

    previous = ServerState.load(sdir)
    if port is None:
        port = previous.port if previous and _port_free(previous.port) else free_port()
    elif not _port_free(port):
        raise StudioError(f"port {port} on 127.0.0.1 is in use; pick another with --port")
    url = f"http://127.0.0.1:{port}"
    log_path = sdir / "server.log"
    cmd = [str(binary), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1",
           "--host", url]
    log.debug("starting %s", " ".join(cmd))
    with log_path.open("ab") as fh:
        fh.write(f"\n--- huashu studio up {datetime.now(UTC).isoformat()} ---\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=server_env(sdir, creds), cwd=str(sdir), start_new_session=True)
    state = ServerState(proc.pid, port, url, datetime.now(UTC).isoformat(timespec="seconds"),
                        str(log_path))
    state.save(sdir)
    _wait_healthy(state, sdir, timeout, quiet, proc)
    return state, True


def _wait_healthy(state: ServerState, sdir: Path, timeout: float, quiet: bool,
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    t0 = time.monotonic()
    with console.status(f"waiting for Label Studio at {state.url} (first start runs migrations, ~30 s)…"):
        while True:
            if healthy(state.url, timeout=2.0):
                log.debug("LS healthy after %.1f s", time.monotonic() - t0)
                return
            exited = proc.poll() is not None if proc is not None else not state.alive
            if exited:
                (sdir / "server.json").unlink(missing_ok=True)
                raise StudioError(f"Label Studio exited during start-up; last lines of {state.log}:\n"
                                  f"{_tail(Path(state.log))}")
            if time.monotonic() - t0 > timeout:
                raise StudioError(f"Label Studio did not answer at {state.url}/health within "
                                  f"{timeout:.0f} s; see {state.log}")
            time.sleep(0.5)


def stop(sdir: Path, timeout: float = 20.0) -> bool:
    """Stop the server started from ``sdir`` (its whole process group). False if none ran."""
    state = ServerState.load(sdir)
    if state is None or not state.alive:
        (sdir / "server.json").unlink(missing_ok=True)
        return False
    try:
        os.killpg(state.pid, signal.SIGTERM)  # we started it as a session leader
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(state.pid, signal.SIGTERM)
    t0 = time.monotonic()
    while state.alive and time.monotonic() - t0 < timeout:
        time.sleep(0.2)
    if state.alive:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(state.pid, os.WNOHANG)
    (sdir / "server.json").unlink(missing_ok=True)
    return True


# ---------------------------------------------------------------------------------------- tokens

def login_session(url: str, email: str, password: str) -> httpx.Client:
    """A logged-in browser-like session (CSRF form login, as the LS login page does)."""
    client = httpx.Client(base_url=url, timeout=30.0, follow_redirects=False)
    try:
        client.get("/user/login/")
        r = client.post("/user/login/", headers={"Referer": f"{url}/user/login/"},
                        data={"csrfmiddlewaretoken": client.cookies.get("csrftoken", ""),
                              "email": email, "password": password})
    except httpx.HTTPError as e:
        client.close()
        raise StudioError(f"cannot reach Label Studio at {url}: {e}") from None
    if r.status_code != 302 or "sessionid" not in client.cookies:
        client.close()
        raise StudioError(f"Label Studio at {url} refused the login of {email} (HTTP {r.status_code}); "
                          "the stored password does not match this server's database")
    return client


def obtain_token(url: str, email: str, password: str) -> str:
    """A personal access token for ``email``. LS allows one live PAT per user: if one exists that
    we do not have (409), it is revoked (blacklisted) and a new one created."""
    s = login_session(url, email, password)
    try:
        def headers() -> dict[str, str]:
            return {"X-CSRFToken": s.cookies.get("csrftoken", ""), "Referer": f"{url}/"}

        r = s.post("/api/token/", headers=headers())
        if r.status_code == 409:
            for item in s.get("/api/token/", headers=headers()).json():
                s.post("/api/token/blacklist/", headers=headers(), json={"refresh": item["token"]})
            r = s.post("/api/token/", headers=headers())
        if r.status_code != 201:
            raise StudioError(f"Label Studio at {url} did not issue an API token for {email} "
                              f"(HTTP {r.status_code}: {r.text[:200]})")
    except httpx.HTTPError as e:
        raise StudioError(f"cannot reach Label Studio at {url}: {e}") from None
    finally:
        s.close()
    return str(r.json()["token"])


def signup_user(studio: Studio, email: str, password: str) -> None:
    """Create an LS user who can log in and belongs to the organisation: the invite-link signup
    form, as a new annotator would use it. (``POST /api/users/`` in LS 1.23 creates a user with no
    usable password and no organisation.)"""
    try:
        invite = studio.ls.organizations.invites.get_invite_link()
    except Exception as e:
        raise api_error(e, "reading the organisation's invite link") from None
    client = httpx.Client(base_url=studio.url, timeout=30.0, follow_redirects=False)
    try:
        client.get("/user/signup/", params={"token": invite.token})
        r = client.post("/user/signup/", params={"token": invite.token},
                        headers={"Referer": f"{studio.url}/user/signup/"},
                        data={"csrfmiddlewaretoken": client.cookies.get("csrftoken", ""), "email": email,
                              "password": password})
    except httpx.HTTPError as e:
        raise StudioError(f"cannot reach Label Studio at {studio.url}: {e}") from None
    finally:
        client.close()
    if r.status_code != 302:
        import re

        why = re.findall(r'class="[^"]*error[^"]*">\s*([^<]+)<', r.text)
        raise StudioError(f"Label Studio did not sign up {email} (HTTP {r.status_code}"
                          + (f": {why[0].strip()}" if why else "") + ")")


def ensure_token(sdir: Path, url: str) -> Credentials:
    creds = Credentials.load(sdir)
    if creds is None:
        raise StudioError(f"no Label Studio credentials in {sdir}: run `huashu studio up`")
    if creds.token and _token_works(url, creds.token):
        return creds
    creds.token = obtain_token(url, creds.email, creds.password)
    creds.save(sdir)
    return creds


def _token_works(url: str, token: str) -> bool:
    try:
        r = httpx.post(f"{url}/api/token/refresh/", json={"refresh": token}, timeout=10.0)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


# ---------------------------------------------------------------------------------------- client

@dataclass
class Studio:
    """A connection to a Label Studio server: the SDK client plus where it came from."""

    url: str
    token: str
    sdir: Path | None
    ls: Any  # label_studio_sdk.LabelStudio

    def project_id(self, explicit: int | None = None) -> int:
        if explicit:
            return explicit
        if self.sdir is not None:
            pid = _read_json(self.sdir / "project.json").get("project_id")
            if pid:
                return int(pid)
        raise StudioError("no Label Studio project known: run `huashu studio up` (or pass --project)")


def connect(sdir: Path | None = None, url: str | None = None, token: str | None = None) -> Studio:
    """Connect to the server of ``sdir`` (or ``url``/``token``, or ``$HUASHU_LS_URL`` and
    ``$HUASHU_LS_TOKEN``), checking that it answers and accepts the token."""
    from label_studio_sdk import LabelStudio

    url = url or os.environ.get("HUASHU_LS_URL")
    token = token or os.environ.get("HUASHU_LS_TOKEN")
    if not url:
        if sdir is None:
            sdir = studio_dir()
        state = ServerState.load(sdir)
        if state is None:
            raise StudioError(f"Label Studio is not running (no server started from {sdir}): "
                              "run `huashu studio up`")
        url = state.url
    url = url.rstrip("/")
    if not healthy(url):
        raise StudioError(f"Label Studio is not answering at {url}: start it with `huashu studio up`")
    if not token:
        if sdir is None:
            raise StudioError(f"no API token for {url}: pass --token or set HUASHU_LS_TOKEN")
        token = ensure_token(sdir, url).token
    if not _token_works(url, token):
        raise StudioError(f"Label Studio at {url} rejected the API token (it must be a personal access "
                          "token from Account & Settings, or run `huashu studio up` to mint one)")
    return Studio(url, token, sdir, LabelStudio(base_url=url, api_key=token, timeout=120.0))


def api_error(e: Exception, doing: str) -> StudioError:
    """A one-line StudioError from an SDK/HTTP exception."""
    status = getattr(e, "status_code", None)
    body = getattr(e, "body", None)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("validation_errors") or body.get("detail") or body)
    elif body:
        detail = str(body)[:300]
    else:
        detail = str(e)[:300]
    return StudioError(f"Label Studio error while {doing}" + (f" (HTTP {status})" if status else "")
                       + f": {detail}")
