"""Throw-away WordPress sites for the igny8-agent tests.

One private MariaDB server and one ``php -S`` server per site variant, all
living under a work directory. A variant's ``core`` says which WordPress files it
runs: ``"debian"`` is Debian's ``wordpress`` package (6.1; see
``tests/wordpress/install-debian-packages.sh``), ``"6.5"``, ``"6.6"`` and ``"6.7"``
are WordPress Playground's builds from the npm package
``@wp-playground/wordpress-builds``, unpacked by
``tests/wordpress/install-wordpress-builds.py`` into ``BUILDS_DIR``. Every core
runs the same way: Debian's php-cli, the shared MariaDB, application passwords.

    with WordPressServers(tmp_path) as servers:
        site = servers.site("main")
        site.url, site.username, site.app_password
        site.php_expected()["post_types"]["book"]["count"]
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "wordpress"
REPO_DIR = FIXTURE_DIR.parent.parent
DEBIAN_WORDPRESS = Path("/usr/share/wordpress")
INSTALL_HINT = "run tests/wordpress/install-debian-packages.sh as root"
BUILDS_DIR = Path(
    os.environ.get("IGNY8_WORDPRESS_BUILDS") or REPO_DIR / ".cache" / "wordpress-builds"
)
BUILDS_HINT = "run python3 tests/wordpress/install-wordpress-builds.py"
BUILD_MARKER = ".igny8-build.json"
DEBIAN_CORE = "debian"
BUILD_CORES = ("6.5", "6.6", "6.7")
START_TIMEOUT = 60.0
PHP_TIMEOUT = 120.0
PHP_SERVER_WORKERS = "8"
LOG_TAIL_LINES = 30
ENVIRONMENT_VARIABLE = "WP_ENVIRONMENT_TYPE"


class WordPressUnavailable(Exception):
    """The WordPress test servers cannot run here (packages missing, start failed)."""


class PHPError(RuntimeError):
    """PHP code run in a site's context exited with an error."""


@dataclass(frozen=True)
class Variant:
    """How one kind of test site differs from the plain 'main' site."""

    name: str
    permalinks: str = "/%postname%/"
    prefix: str = ""
    environment: str = "local"
    mu_plugins: tuple[str, ...] = ("igny8-fixtures.php",)
    content: str = "fixtures"
    core: str = DEBIAN_CORE


PLUGIN_MU_PLUGINS = ("igny8-fixtures.php", "igny8-plugin-types.php")

VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("main"),
        Variant("fresh"),  # for tests that register types while the agent runs
        Variant("plain", permalinks=""),
        Variant("subfolder", prefix="/blog"),
        Variant("private", mu_plugins=("igny8-fixtures.php", "igny8-private-rest.php")),
        Variant("production-http", environment="production"),
        Variant("rest-blocked", mu_plugins=("igny8-fixtures.php", "igny8-rest-blocked.php")),
        Variant("xmlrpc-disabled", mu_plugins=("igny8-fixtures.php", "igny8-xmlrpc-disabled.php")),
        Variant("bench20", mu_plugins=("igny8-bench.php",), content="bench"),
        Variant("plugins61", mu_plugins=PLUGIN_MU_PLUGINS, content="plugins"),
        Variant("wp65", mu_plugins=PLUGIN_MU_PLUGINS, content="plugins", core="6.5"),
        Variant("wp66", mu_plugins=PLUGIN_MU_PLUGINS, content="plugins", core="6.6"),
        Variant("wp67", mu_plugins=PLUGIN_MU_PLUGINS, content="plugins", core="6.7"),
    )
}
COMMON_MU_PLUGINS = ("igny8-test-env.php",)


@dataclass
class WordPressSite:
    """A running test site."""

    variant: str
    url: str
    username: str
    app_password: str
    root_dir: Path
    wp_version: str = ""
    core: str = DEBIAN_CORE

    def php(self, code: str) -> str:
        """Run PHP code (``<?php`` optional) with this site's WordPress loaded; return stdout."""
        return run_php([str(FIXTURE_DIR / "run-php.php"), str(self.root_dir)], stdin=code)

    def php_expected(self) -> dict:
        """What WordPress itself says the site's public structure is (see expected.php)."""
        return json.loads(run_php([str(FIXTURE_DIR / "expected.php"), str(self.root_dir)]))


def run_php(args: list[str], stdin: str = "") -> str:
    """Run php-cli with a site's own WP_ENVIRONMENT_TYPE (from its wp-config.php)."""
    env = {key: value for key, value in os.environ.items() if key != ENVIRONMENT_VARIABLE}
    command = ["php", "-d", "display_errors=stderr", *args]
    result = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=PHP_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise PHPError(
            f"{' '.join(command)} exited with {result.returncode}: {result.stderr.strip()}"
        )
    return result.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def find_program(*names: str) -> str:
    """The path of the first program found in PATH or the sbin directories."""
    search_path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    for name in names:
        found = shutil.which(name, path=search_path)
        if found:
            return found
    raise WordPressUnavailable(f"{' or '.join(names)} not found; {INSTALL_HINT}")


def check_requirements() -> None:
    """Raise WordPressUnavailable unless php-cli and its extensions are installed."""
    find_program("php")
    modules = (
        subprocess.run(["php", "-m"], capture_output=True, text=True, check=False)
        .stdout.lower()
        .split()
    )
    for module in ("mysqli", "xml"):
        if module not in modules:
            raise WordPressUnavailable(f"PHP extension {module} missing; {INSTALL_HINT}")


def core_source(core: str) -> Path:
    """The WordPress tree a core is copied from; WordPressUnavailable if it is not there."""
    if core == DEBIAN_CORE:
        if not (DEBIAN_WORDPRESS / "wp-settings.php").is_file():
            raise WordPressUnavailable(f"{DEBIAN_WORDPRESS} has no WordPress; {INSTALL_HINT}")
        return DEBIAN_WORDPRESS
    if core not in BUILD_CORES:
        raise ValueError(f"unknown WordPress core {core!r}")
    tree = BUILDS_DIR / f"wp-{core}"
    if not (tree / BUILD_MARKER).is_file() or not (tree / "wp-settings.php").is_file():
        raise WordPressUnavailable(f"WordPress {core} build missing in {BUILDS_DIR}; {BUILDS_HINT}")
    return tree


def core_dir_name(core: str) -> str:
    """The core copy's directory in the work dir: wordpress-core/, wordpress-core-6.7/."""
    return "wordpress-core" if core == DEBIAN_CORE else f"wordpress-core-{core}"


def stop_process(
    process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGINT, timeout: float = 20.0
) -> None:
    """Stop a server we started in its own session, together with its children.

    SIGINT suits ``php -S``: its master then reaps its workers (SIGTERM would
    leave them as zombies).
    """
    if process.returncode is not None:
        return
    signal_group(process, sig)
    if not wait_unreaped(process, timeout):
        signal_group(process, signal.SIGKILL)
        wait_unreaped(process, 5.0)
    # The leader is not reaped yet, so its group id is still ours: end stragglers
    # (php -S workers) before reaping it.
    signal_group(process, signal.SIGKILL)
    process.wait()


def signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send a signal to the process group led by a process we started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def wait_unreaped(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until the process has exited, without reaping it; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            if os.waitid(os.P_PID, process.pid, flags) is not None:
                return True
        except ChildProcessError:
            return True
        time.sleep(0.05)
    return False


def start_process(
    command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in its own session with stdout and stderr going to a log file."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


class MariaDB:
    """A private MariaDB server on 127.0.0.1 with its data under base_dir."""

    user = "igny8"

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log = base_dir / "mariadb.log"
        self.password = secrets.token_hex(12)
        self.port = 0
        self._socket_dir = self._choose_socket_dir()
        self.socket = self._socket_dir / "mariadb.sock"
        self._process: subprocess.Popen[bytes] | None = None

    def _choose_socket_dir(self) -> Path:
        """base_dir, unless its path is too long for a Unix socket."""
        if len(str(self.base_dir / "mariadb.sock")) < 100:
            return self.base_dir
        return Path(tempfile.mkdtemp(prefix="igny8-db-"))

    @property
    def host(self) -> str:
        """DB_HOST for wp-config.php."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Initialise the data dir if needed, start the server, create the WordPress user."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not self.data_dir.is_dir():
            self._install_db()
        self.port = free_port()
        self._process = start_process(self._server_command(), self.log)
        try:
            self._wait_ready()
            self.sql(
                f"CREATE USER IF NOT EXISTS '{self.user}'@'%' IDENTIFIED BY '{self.password}';"
                f"ALTER USER '{self.user}'@'%' IDENTIFIED BY '{self.password}';"
            )
        except BaseException:
            self.stop()
            raise

    def _install_db(self) -> None:
        command = [
            find_program("mariadb-install-db", "mysql_install_db"),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            *self._user_option(),
        ]
        with self.log.open("ab") as output:
            result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise WordPressUnavailable(f"mariadb-install-db failed:\n{log_tail(self.log)}")

    def _server_command(self) -> list[str]:
        return [
            find_program("mariadbd", "mysqld"),
            "--no-defaults",
            *self._user_option(),
            f"--datadir={self.data_dir}",
            f"--socket={self.socket}",
            f"--pid-file={self.base_dir / 'mariadb.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--max-connections=300",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-buffer-pool-size=64M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--skip-innodb-adaptive-hash-index",
        ]

    @staticmethod
    def _user_option() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise WordPressUnavailable(f"mariadbd exited at start:\n{log_tail(self.log)}")
            if self._accepts_connections():
                return
            time.sleep(0.1)
        raise WordPressUnavailable(
            f"mariadbd did not accept connections in time:\n{log_tail(self.log)}"
        )

    def _accepts_connections(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(1.0)
                client.connect(str(self.socket))
                return bool(client.recv(1))
        except OSError:
            return False

    def sql(self, statements: str) -> str:
        """Run SQL as root through the socket; return the client's output."""
        command = [
            find_program("mariadb", "mysql"),
            "--no-defaults",
            f"--socket={self.socket}",
            "-u",
            "root",
            "--batch",
            "-e",
            statements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise WordPressUnavailable(f"SQL failed ({statements}): {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> None:
        """A fresh, empty database the WordPress user may use."""
        self.sql(
            f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` CHARACTER SET utf8mb4;"
            f"GRANT ALL ON `{name}`.* TO '{self.user}'@'%';"
        )

    def stop(self) -> None:
        """Shut the server down (idempotent)."""
        if self._process is not None:
            stop_process(self._process, signal.SIGTERM, timeout=30.0)
            self._process = None
        if self._socket_dir != self.base_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)


class SiteBuilder:
    """Creates, installs and serves one test site below site_dir."""

    username = "igny8-admin"

    def __init__(self, variant: Variant, site_dir: Path, core_dir: Path, db: MariaDB) -> None:
        self.variant = variant
        self.site_dir = site_dir
        self.docroot = site_dir / "docroot"
        self.root_dir = self.docroot / variant.prefix.strip("/") if variant.prefix else self.docroot
        self.core_dir = core_dir
        self.db = db
        self.log = site_dir / "php-server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{variant.prefix}"

    def build(self) -> WordPressSite:
        """Copy the files, install WordPress, start the server."""
        shutil.rmtree(self.site_dir, ignore_errors=True)
        self._copy_files()
        self._write_config()
        installed = self._install()
        return WordPressSite(
            variant=self.variant.name,
            url=self.url,
            username=installed["username"],
            app_password=installed["app_password"],
            root_dir=self.root_dir,
            wp_version=installed["wp_version"],
            core=self.variant.core,
        )

    @property
    def database(self) -> str:
        """This site's database name."""
        return "wp_" + self.variant.name.replace("-", "_")

    def _copy_files(self) -> None:
        shutil.copytree(self.core_dir, self.root_dir, copy_function=link_or_copy)
        content = self.root_dir / "wp-content"
        for name in ("plugins", "uploads", "mu-plugins", "themes"):
            (content / name).mkdir(parents=True, exist_ok=True)
        shutil.copytree(FIXTURE_DIR / "theme" / "igny8-test", content / "themes" / "igny8-test")
        for plugin in (*COMMON_MU_PLUGINS, *self.variant.mu_plugins):
            shutil.copy2(FIXTURE_DIR / "mu-plugins" / plugin, content / "mu-plugins" / plugin)

    def _write_config(self) -> None:
        values = {
            "DB_NAME": self.database,
            "DB_USER": self.db.user,
            "DB_PASSWORD": self.db.password,
            "DB_HOST": self.db.host,
            "URL": self.url,
            "ENVIRONMENT": self.variant.environment,
            "SALT": secrets.token_hex(24),
        }
        text = (FIXTURE_DIR / "wp-config.php.in").read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        (self.root_dir / "wp-config.php").write_text(text)

    def _install(self) -> dict[str, str]:
        self.db.create_database(self.database)
        config = {
            "title": f"igny8 test site ({self.variant.name})",
            "username": self.username,
            "password": secrets.token_urlsafe(16),
            "email": "admin@example.com",
            "permalink_structure": self.variant.permalinks,
            "content": self.variant.content,
        }
        try:
            output = run_php(
                [str(FIXTURE_DIR / "install.php"), str(self.root_dir), json.dumps(config)]
            )
            run_php(
                [str(FIXTURE_DIR / "run-php.php"), str(self.root_dir)],
                "flush_rewrite_rules(false);",
            )
        except PHPError as error:
            raise WordPressUnavailable(
                f"installing the {self.variant.name} site failed: {error}"
            ) from error
        return json.loads(output)

    def start_server(self) -> subprocess.Popen[bytes]:
        """Start ``php -S`` for this site and wait until WordPress answers."""
        env = dict(os.environ)
        env.update(
            {
                "PHP_CLI_SERVER_WORKERS": PHP_SERVER_WORKERS,
                ENVIRONMENT_VARIABLE: self.variant.environment,
                "IGNY8_WP_PREFIX": self.variant.prefix,
            }
        )
        command = [
            "php",
            "-d",
            "display_errors=stderr",
            "-d",
            "opcache.enable_cli=1",
            "-S",
            f"127.0.0.1:{self.port}",
            "-t",
            str(self.docroot),
            str(FIXTURE_DIR / "router.php"),
        ]
        process = start_process(command, self.log, env=env, cwd=self.docroot)
        try:
            self._wait_ready(process)
        except WordPressUnavailable:
            stop_process(process)
            raise
        return process

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        problem = "no answer"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise WordPressUnavailable(
                    f"php -S for {self.variant.name} exited:\n{log_tail(self.log)}"
                )
            status, problem = probe(self.url + "/")
            if status == 200:
                return
            if status is not None:
                break
            time.sleep(0.1)
        name = self.variant.name
        raise WordPressUnavailable(
            f"{name} site at {self.url}/ did not come up ({problem}):\n{log_tail(self.log)}"
        )


def link_or_copy(source: str, destination: str) -> None:
    """Hard-link a file (fast, same file system), else copy it."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def probe(url: str) -> tuple[int | None, str]:
    """GET url: (HTTP status or None when nothing answered, description)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), "ok"
    except urllib.error.HTTPError as error:
        return int(error.code), f"HTTP {error.code}: {error.read(300).decode(errors='replace')}"
    except (OSError, urllib.error.URLError) as error:
        return None, str(error)


def copy_core(destination: Path, source: Path = DEBIAN_WORDPRESS) -> None:
    """A self-contained copy of a WordPress tree without its config and content.

    Debian's tree links into /etc/wordpress, /var/lib/wordpress and other packages;
    symlinks are dereferenced. wp-config.php and wp-content are left out (each
    site gets its own): a Playground build's wp-config.php is a sample, and its
    wp-content holds a ready-made SQLite database (wp-content/database/.ht.sqlite)
    and the default theme, neither used here.
    """
    staging = destination.with_name(destination.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(
        source,
        staging,
        symlinks=False,
        ignore_dangling_symlinks=True,
        ignore=shutil.ignore_patterns("wp-config.php", ".htaccess", "wp-content", BUILD_MARKER),
    )
    staging.rename(destination)


class WordPressServers:
    """Lazily installed and started WordPress test sites, one per variant."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir).resolve()
        self._sites: dict[str, WordPressSite] = {}
        self._servers: dict[str, subprocess.Popen[bytes]] = {}
        self._db: MariaDB | None = None
        self._lock = threading.Lock()
        self._variant_locks = {name: threading.Lock() for name in VARIANTS}
        self._core_locks = {variant.core: threading.Lock() for variant in VARIANTS.values()}
        self._closed = False
        atexit.register(self.close)

    def site(self, variant: str) -> WordPressSite:
        """The running site of this variant, installed and started on first use."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown WordPress variant {variant!r}; known: {', '.join(VARIANTS)}")
        with self._variant_locks[variant]:
            if variant not in self._sites:
                self._sites[variant] = self._start_site(VARIANTS[variant])
            return self._sites[variant]

    def _start_site(self, variant: Variant) -> WordPressSite:
        core_dir = self._core(variant.core)
        db = self._prepare()
        builder = SiteBuilder(variant, self.workdir / "sites" / variant.name, core_dir, db)
        site = builder.build()
        server = builder.start_server()
        with self._lock:
            if not self._closed:
                self._servers[variant.name] = server
                return site
        stop_process(server)
        raise WordPressUnavailable("WordPressServers was closed while the site started")

    def _prepare(self) -> MariaDB:
        """Check packages, start MariaDB once."""
        with self._lock:
            self._check_open()
            if self._db is None:
                check_requirements()
                self.workdir.mkdir(parents=True, exist_ok=True)
                db = MariaDB(self.workdir / "mariadb")
                db.start()
                self._db = db
            return self._db

    def _core(self, core: str) -> Path:
        """This work dir's copy of a core's WordPress files, made on first use."""
        with self._core_locks[core]:
            self._check_open()
            destination = self.workdir / core_dir_name(core)
            if not destination.is_dir():
                source = core_source(core)
                self.workdir.mkdir(parents=True, exist_ok=True)
                copy_core(destination, source)
            return destination

    def _check_open(self) -> None:
        if self._closed:
            raise WordPressUnavailable("WordPressServers is closed")

    def close(self) -> None:
        """Stop every php server and MariaDB (idempotent)."""
        with self._lock:
            self._closed = True
            servers, self._servers = list(self._servers.values()), {}
            db, self._db = self._db, None
        for process in servers:
            stop_process(process)
        if db is not None:
            db.stop()
        atexit.unregister(self.close)

    def __enter__(self) -> WordPressServers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def wordpress_servers_from_env(workdir: Path) -> WordPressServers:
    """WordPressServers under $IGNY8_WORDPRESS_WORKDIR if set, else under workdir."""
    return WordPressServers(Path(os.environ.get("IGNY8_WORDPRESS_WORKDIR") or workdir))


__all__ = [
    "PHPError",
    "VARIANTS",
    "WordPressServers",
    "WordPressSite",
    "WordPressUnavailable",
    "wordpress_servers_from_env",
]
