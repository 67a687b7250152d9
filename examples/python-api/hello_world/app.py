"""The greeting: who answers, and from which stage."""

import json
import os


def lambda_handler(event, context):
    """Answers API Gateway's proxy event with a greeting from this stage."""
    stage = os.environ.get("STAGE", "unknown")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": "Hello from python-api", "stage": stage}),
    }
