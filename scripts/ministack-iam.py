"""MiniStack, as `sluice local` runs it when it evaluates IAM (`AUTH=true`), with four
things it does differently from AWS put right.

1. `aws:PrincipalArn`.

For a request made with a role session, AWS gives the condition key
`aws:PrincipalArn` the ARN of the *role*, path included
(`arn:aws:iam::111122223333:role/sluice/pipeline/functions/Name`), not the session's
(`arn:aws:sts::111122223333:assumed-role/Name/session`):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
MiniStack 1.5.x answers the session's ARN, so every policy that names roles by their
path in `aws:PrincipalArn` (Sluice's bucket policy does: only Sluice's functions
write state and releases) would refuse what AWS allows. Nothing else is changed:
principals named in resource policies are still matched as MiniStack matches them.

2. A role's ARN in IAM's own actions. A request such as `iam:GetRole` on a role is
authorized against the role's ARN, path included: a policy granting
`role/sluice/<pipeline>/stages/*` lets its holder read the stage roles. MiniStack 1.5.x
builds the ARN from the role's name alone (`role/<name>`), so no policy that names
roles by path would match; this uses the stored role's ARN.

3. An alarm's actions leave a trace. When an alarm changes state, CloudWatch records
in its history, besides the state change, one `Action` item per action it took:
"Successfully executed action <arn>", or "Failed to execute action <arn>" with the
reason (an SNS topic it may not publish to, a key it may not use):
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-history
That is how `sluice doctor` tells an alarm reached its topic. MiniStack publishes to
the topic but records no `Action` item; this records one, failed if there is no such
topic. (MiniStack does not evaluate the topic key's policy, so the failure AWS gives
for a key CloudWatch may not use is not modelled; tests/policy checks that policy.)

4. An unconfirmed subscription has no ARN yet. `ListSubscriptionsByTopic` lists a
subscription that waits for its subscriber to confirm it with `PendingConfirmation` in
place of its ARN:
https://docs.aws.amazon.com/sns/latest/api/API_Subscription.html
That is how `sluice doctor` tells who does not receive messages yet. MiniStack lists
the ARN it made; this answers `PendingConfirmation` for each unconfirmed one. (Email
subscriptions are still confirmed at once, as MiniStack sends no email.)

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


def _role_arns_with_their_paths():
    from ministack.core import iam_actions

    extract = iam_actions.extract_resource_arn

    def extract_with_path(service, *args, **kwargs):
        arn = extract(service, *args, **kwargs)
        if service != "iam" or ":role/" not in arn or "/" in arn.split(":role/", 1)[1]:
            return arn
        try:
            account = arn.split(":")[4]
            role = iam_service._roles.get_scoped(account, None, arn.split(":role/", 1)[1])
        except Exception:  # noqa: BLE001 - an unknown role keeps the name-derived ARN
            return arn
        return role.get("Arn", arn) if isinstance(role, dict) else arn

    iam_actions.extract_resource_arn = extract_with_path


_role_arns_with_their_paths()


def _record_actions_taken():
    import time

    from ministack.services import cloudwatch, sns

    dispatch = cloudwatch._dispatch_alarm_actions

    def dispatch_and_record(alarm, old_state, new_state, reason, *args, **kwargs):
        result = dispatch(alarm, old_state, new_state, reason, *args, **kwargs)
        field = {"ALARM": "AlarmActions", "OK": "OKActions"}.get(new_state)
        if field is None or not alarm.get("ActionsEnabled", True):
            return result
        for arn in alarm.get(field) or []:
            if not str(arn).startswith("arn:aws:sns:"):
                continue
            if sns._topic_by_arn_any_scope(arn):
                summary = f"Successfully executed action {arn}"
            else:
                summary = f"Failed to execute action {arn}. Received error: topic not found"
            cloudwatch._history_entries().append(
                {
                    "AlarmName": alarm.get("AlarmName", ""),
                    "AlarmType": "MetricAlarm",
                    "Timestamp": cloudwatch._ts_iso(time.time()),
                    "HistoryItemType": "Action",
                    "HistorySummary": summary,
                    "HistoryData": "{}",
                }
            )
        return result

    cloudwatch._dispatch_alarm_actions = dispatch_and_record


_record_actions_taken()


def _pending_subscriptions_have_no_arn():
    from ministack.services import sns

    listed = sns._list_subscriptions_by_topic

    def list_as_aws_does(params):
        status, headers, body = listed(params)
        topic = sns._topic_by_arn_any_scope(sns._p(params, "TopicArn"))
        if status != 200 or not topic:
            return status, headers, body
        text = body.decode("utf-8")
        for sub in topic.get("subscriptions", []):
            if not sub.get("confirmed", True):
                text = text.replace(
                    f"<SubscriptionArn>{sub['arn']}</SubscriptionArn>",
                    "<SubscriptionArn>PendingConfirmation</SubscriptionArn>",
                )
        return status, headers, text.encode("utf-8")

    sns._list_subscriptions_by_topic = list_as_aws_does


_pending_subscriptions_have_no_arn()

if __name__ == "__main__":
    from ministack.app import main

    sys.argv[0] = "ministack"
    sys.exit(main())
