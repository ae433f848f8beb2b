"""The README's first command: `igny8-agent connect` against a throw-away
WordPress and a backend stand-in, then what arrived.

Run through scripts/demo (which installs everything first).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.backend_standin import BackendStandin, Integration  # noqa: E402
from tests.support.wordpress import WordPressServers  # noqa: E402

SITE_ID = 5
INTEGRATION_ID = 123
API_KEY = "demo-api-key-not-a-real-one"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="igny8-demo-") as workdir:
        work = Path(workdir)
        print("Starting a throw-away WordPress (MariaDB + php -S) ...", flush=True)
        with WordPressServers(work / "wordpress") as servers:
            site = servers.site("main")
            print(f"WordPress is at {site.url}", flush=True)
            integrations = [Integration(id=INTEGRATION_ID, site_id=SITE_ID)]
            with BackendStandin(api_keys={SITE_ID: API_KEY}, integrations=integrations) as backend:
                print(f"IGNY8 backend stand-in is at {backend.url}\n", flush=True)
                config = write_config(work, site, backend.url)
                command = ["igny8-agent", "--config", str(config), "connect"]
                print("$ " + " ".join(command), flush=True)
                status = subprocess.run(command).returncode
                print(f"(exit status {status})\n")
                show_what_arrived(backend)
                return status


def write_config(work: Path, site, backend_url: str) -> Path:
    secrets_dir = work / "credentials"
    secrets_dir.mkdir(mode=0o700)
    (secrets_dir / "demo.api-key").write_text(API_KEY + "\n")
    (secrets_dir / "demo.wp-app-password").write_text(site.app_password + "\n")
    for secret in secrets_dir.iterdir():
        secret.chmod(0o600)
    config = work / "config.yaml"
    config.write_text(f"""\
backend:
  url: {backend_url}
sites:
  - name: demo-blog
    site_id: {SITE_ID}
    api_key_file: {secrets_dir / "demo.api-key"}
    wordpress:
      url: {site.url}
      username: {site.username}
      app_password_file: {secrets_dir / "demo.wp-app-password"}
    post_types:
      book: {{enabled: false, fetch_limit: 25}}
state_dir: {work / "state"}
""")
    print(f"Config ({config}):\n" + indent(config.read_text()))
    return config


def show_what_arrived(backend: BackendStandin) -> None:
    for post in backend.posts():
        print(f"The backend received POST {post.path}:")
        print(indent(json.dumps(post.json, indent=2, ensure_ascii=False)))
    url = f"{backend.url}/v1/integration/integrations/{INTEGRATION_ID}/content-types/"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request) as answer:
        content_types = json.load(answer)["data"]
    print("\nIGNY8's Content Types tab would now list:")
    for kind in ("post_types", "taxonomies"):
        print(f"  {kind.replace('_', ' ')}:")
        for entry in content_types[kind]:
            state = "enabled" if entry["enabled"] else "disabled"
            print(
                f"    {entry['label']:<20} {entry['slug']:<12} {entry['count']:>4} items, "
                f"{state}, fetch limit {entry['fetch_limit']}"
            )


def indent(text: str) -> str:
    return "".join("    " + line + "\n" for line in text.splitlines())


if __name__ == "__main__":
    os.umask(0o077)
    raise SystemExit(main())
