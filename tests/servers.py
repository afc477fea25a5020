"""Real servers for tests (not a test module): a throwaway PostgreSQL server and a headless Chromium
driven by Selenium. Both install their Debian packages when missing, start fresh in a temp folder,
and always stop everything they started, even when the test fails."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PG_DB = "langmill"
PG_USER = "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 6) -> str:
    """The last lines of a log, joined on one line (for one-line errors)."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return " | ".join(text[-lines:]) or f"(empty log {path})"


def _kill_with_marker(marker: str) -> None:
    """SIGKILL every process whose command line contains `marker` (a unique temp path): whatever a
    crashed driver or server left behind."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def _apt_install(*packages: str) -> None:
    """apt-get install (refreshing the package lists once if the first try fails)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env, capture_output=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"apt-get install {' '.join(packages)} failed: {_last_line(done.stderr)}")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no output)"


# --- PostgreSQL ---------------------------------------------------------------------------------

def _pg_bin() -> Path:
    """The newest installed PostgreSQL server's bin folder; installs `postgresql` when none is."""
    def found() -> list[Path]:
        return sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int("0" + "".join(c for c in p.parent.parent.name if c.isdigit())))

    if not found():
        if os.geteuid() != 0:
            raise RuntimeError("no PostgreSQL server in /usr/lib/postgresql and installing it needs root")
        # Debian's postinst would start its `main` cluster on port 5432: a daemon nobody stops. A
        # policy-rc.d that answers 101 forbids daemon starts (Docker images ship one already).
        policy = Path("/usr/sbin/policy-rc.d")
        added = not policy.exists()
        if added:
            policy.write_text("#!/bin/sh\n# langmill tests: no daemon starts while apt installs postgresql\nexit 101\n")
            policy.chmod(0o755)
        try:
            _apt_install("postgresql")
        finally:
            if added:
                policy.unlink(missing_ok=True)
        if not found():
            raise RuntimeError("apt installed postgresql but no /usr/lib/postgresql/*/bin/postgres exists")
    return found()[-1].parent


@contextlib.contextmanager
def postgres_server(tmp_dir: Path, timeout: float = 60):
    """A fresh PostgreSQL server on 127.0.0.1 (trust auth, TCP only), with an empty database;
    yields its SQLAlchemy URL `postgresql+psycopg://postgres@127.0.0.1:PORT/langmill`."""
    import psycopg

    bindir = _pg_bin()
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / "postgres.log"
    as_root = os.geteuid() == 0
    # Root may not run postgres. The `postgres` user cannot enter pytest's 0700 temp folders, so as
    # root the cluster lives in its own folder under /tmp, owned by that user (removed at the end).
    run_as = {"user": PG_USER, "group": PG_USER, "extra_groups": []} if as_root else {}
    home = Path(tempfile.mkdtemp(prefix="langmill-pg-")) if as_root else tmp_dir / "pg"
    home.mkdir(exist_ok=True)
    if as_root:
        shutil.chown(home, PG_USER, PG_USER)
    data = home / "data"
    proc = None
    try:
        with open(log_path, "ab") as log:
            init = subprocess.run(
                [bindir / "initdb", "-D", data, "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-locale",
                 "--no-sync"], cwd=home, stdout=log, stderr=subprocess.STDOUT, **run_as)
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed (exit {init.returncode}): {_tail(log_path)}")
            port = _free_port()
            # No unix socket (-k ''): clients connect over loopback TCP only. Durability is off:
            # the data dies with the test.
            proc = subprocess.Popen(
                [bindir / "postgres", "-D", data, "-p", str(port), "-k", "", "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **run_as)
        dsn = f"host=127.0.0.1 port={port} user={PG_USER} dbname=postgres connect_timeout=2"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {proc.returncode} at start: {_tail(log_path)}")
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{PG_DB}"')
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres did not accept connections on 127.0.0.1:{port} within "
                                       f"{timeout:.0f} s: {_tail(log_path)}") from None
                time.sleep(0.1)
        yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{PG_DB}"
    finally:
        if proc is not None:
            if proc.poll() is None:
                subprocess.run([bindir / "pg_ctl", "stop", "-D", data, "-m", "immediate", "-w", "-t", "20"],
                               cwd=home, capture_output=True, **run_as)
            with contextlib.suppress(ProcessLookupError):  # backends the postmaster left behind
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        _kill_with_marker(str(data))
        if as_root:
            shutil.rmtree(home, ignore_errors=True)


# --- headless Chromium ----------------------------------------------------------------------------

@contextlib.contextmanager
def headless_chrome(tmp_dir: Path):
    """A Selenium Chrome driver on Debian's /usr/bin/chromium and /usr/bin/chromedriver (installed
    by scripts/browser_local.sh when missing), headless, 1280x1000, fresh profile; always quit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        done = subprocess.run(["bash", str(REPO / "scripts" / "browser_local.sh")], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(_last_line(done.stderr or done.stdout))
    tmp_dir = Path(tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="chrome-profile-", dir=tmp_dir))
    log_path = tmp_dir / "chromedriver.log"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    # An explicit driver path: Selenium skips Selenium Manager (which would try to download one).
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log_path))
    driver = None
    try:
        try:
            driver = webdriver.Chrome(options=options, service=service)
        except Exception as exc:
            first = (str(getattr(exc, "msg", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
            first = first.split("; For documentation")[0]  # drop Selenium's generic help link
            raise RuntimeError(f"headless chromium did not start: {first}; chromedriver log: {_tail(log_path)}") from None
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.quit()
        with contextlib.suppress(Exception):
            service.stop()
        _kill_with_marker(str(profile))  # a chromium the driver failed to close
