import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "hello_world"))

import app  # noqa: E402


class HandlerTest(unittest.TestCase):
    def test_greets_from_its_stage(self):
        os.environ["STAGE"] = "staging"
        answer = app.lambda_handler({"httpMethod": "GET", "path": "/hello"}, None)
        self.assertEqual(answer["statusCode"], 200)
        body = json.loads(answer["body"])
        self.assertEqual(body["stage"], "staging")
        self.assertTrue(body["message"].startswith("Hello"))


if __name__ == "__main__":
    unittest.main()
