#!/usr/bin/env python3
"""Writes the stage configurations of a pipeline that delivers Sluice itself: each
deploy/<stage>.json, with the account's AdministratorArn (from the build's
SLUICE_ADMINISTRATOR_ARN, set on the pipeline's CodeBuild project) added, into the
current directory, where buildspec.yml's artifacts pick them up."""

import json
import os
import pathlib
import sys

arn = os.environ.get("SLUICE_ADMINISTRATOR_ARN", "").strip()
if not arn:
    sys.exit(
        "SLUICE_ADMINISTRATOR_ARN is not set: a Sluice stack needs the ARN of the role that "
        "administers it (AdministratorArn). Set it on the CodeBuild project's environment."
    )
for source in sorted(pathlib.Path("deploy").glob("*.json")):
    config = json.loads(source.read_text())
    config.setdefault("Parameters", {})["AdministratorArn"] = arn
    pathlib.Path(source.name).write_text(json.dumps(config, indent=2) + "\n")
    print(f"{source.name}: {', '.join(sorted(config['Parameters']))}")
