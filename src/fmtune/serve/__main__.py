"""`python -m fmtune.serve LAUNCH.json`: what `start_endpoint` runs in the background. The file says what to
serve ({"model", "adapters", "name", "settings"}); the API key comes from the environment (FMTUNE_API_KEY)."""

import json
import sys
from pathlib import Path

from fmtune.errors import UserError
from fmtune.serve.server import serve_forever
from fmtune.serve.settings import ServeSettings, api_key_from_env


def main(launch_file: str) -> int:
    plan = json.loads(Path(launch_file).read_text())
    settings = ServeSettings(**plan["settings"], api_key=api_key_from_env(None))
    try:
        return serve_forever(plan["model"], plan["adapters"], settings, name=plan["name"])
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code


sys.exit(main(sys.argv[1]))
