"""Builds hello-web once per stage: site/<stage>/ holds the page with the API URL of
that stage's configuration (<stage>.json, {"ApiUrl": "https://..."}) written in."""

import html
import json
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
STAGES = ("staging", "production")


def api_url(stage: str) -> str:
    path = HERE / f"{stage}.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"{path.name}: not a JSON stage configuration ({e}); write {{\"ApiUrl\": \"https://...\"}}")
    url = config.get("ApiUrl", "") if isinstance(config, dict) else None
    if not isinstance(url, str):
        sys.exit(f"{path.name}: ApiUrl must be a string, the address of the stage's hello-api")
    # An https address, or a loopback one under `sluice local`; empty until the API exists.
    if url and not url.startswith(("https://", "http://127.0.0.1:")):
        sys.exit(f"{path.name}: ApiUrl {url!r} is not an https:// address")
    return url


def main() -> None:
    page = (HERE / "index.html").read_text(encoding="utf-8")
    for stage in STAGES:
        out = HERE.parent / "site" / stage
        out.mkdir(parents=True, exist_ok=True)
        written = page.replace("__API_URL__", html.escape(api_url(stage), quote=True))
        (out / "index.html").write_text(written.replace("__STAGE__", stage), encoding="utf-8")
        shutil.copy(HERE / "style.css", out / "style.css")
        print(f"site/{stage}/: {len(list(out.iterdir()))} files")


if __name__ == "__main__":
    main()
