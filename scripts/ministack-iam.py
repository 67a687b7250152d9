"""MiniStack, as `sluice local` runs it when it evaluates IAM (`AUTH=true`), with one
thing it gets wrong about AWS put right.

For a request made with a role session, AWS gives the condition key
`aws:PrincipalArn` the ARN of the *role*, path included
(`arn:aws:iam::111122223333:role/sluice/pipeline/functions/Name`), not the session's
(`arn:aws:sts::111122223333:assumed-role/Name/session`):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
MiniStack 1.5.x answers the session's ARN, so every policy that names roles by their
path in `aws:PrincipalArn` (Sluice's bucket policy does: only Sluice's functions
write state and releases) would refuse what AWS allows. Nothing else is changed:
principals named in resource policies are still matched as MiniStack matches them.

Run with the emulator's Python: `python scripts/ministack-iam.py` in place of the
`ministack` executable.
"""

import sys

from ministack.core import iam_evaluator
from ministack.services import iam as iam_service

_resolve_condition_key = iam_evaluator._resolve_condition_key


def _role_arn(session_arn):
    """The ARN, with its path, of the role whose session `session_arn` is."""
    try:
        account = session_arn.split(":")[4]
        role_name = session_arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
        role = iam_service._roles.get_scoped(account, None, role_name)
    except Exception:  # noqa: BLE001 - an unknown role keeps the session's ARN
        return None
    return role.get("Arn") if isinstance(role, dict) else None


def _principal_arn_as_aws_gives_it(key, ctx):
    if key.lower() == "aws:principalarn" and ":assumed-role/" in (ctx.principal_arn or ""):
        role_arn = _role_arn(ctx.principal_arn)
        if role_arn:
            return role_arn
    return _resolve_condition_key(key, ctx)


iam_evaluator._resolve_condition_key = _principal_arn_as_aws_gives_it

if __name__ == "__main__":
    from ministack.app import main

    sys.argv[0] = "ministack"
    sys.exit(main())
