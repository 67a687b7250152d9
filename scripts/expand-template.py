"""Writes a template with AWS::LanguageExtensions applied (Fn::ForEach repeated
for the parameters' defaults), as JSON, for tools that cannot read Fn::ForEach:
checkov skips such resources without a word.

Run with the emulator's Python: the expansion is MiniStack's, the same that
deploys the template under `sluice local`.

    expand-template.py TEMPLATE OUTPUT
"""

import json
import sys

from ministack.services.cloudformation import engine, language_extensions


def main(source, target):
    with open(source, encoding="utf-8") as f:
        template = engine._parse_template(f.read())
    parameters = {
        name: str(spec.get("Default", ""))
        for name, spec in (template.get("Parameters") or {}).items()
    }
    expanded = language_extensions.apply(template, parameters)
    transforms = expanded.get("Transform")
    if isinstance(transforms, list):
        expanded["Transform"] = [t for t in transforms if t != language_extensions.TRANSFORM]
    with open(target, "w", encoding="utf-8") as f:
        json.dump(expanded, f, indent=1, default=str)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: expand-template.py TEMPLATE OUTPUT")
    main(sys.argv[1], sys.argv[2])
