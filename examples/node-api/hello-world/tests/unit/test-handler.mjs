import assert from "node:assert/strict";
import { test } from "node:test";

import { lambdaHandler } from "../../app.mjs";

test("greets from its stage", async () => {
  process.env.STAGE = "staging";
  const answer = await lambdaHandler({ httpMethod: "GET", path: "/hello" }, {});
  assert.equal(answer.statusCode, 200);
  const body = JSON.parse(answer.body);
  assert.equal(body.stage, "staging");
  assert.match(body.message, /^Hello/);
});
