"use strict";

const assert = require("node:assert/strict");
const { test } = require("node:test");

const { hello } = require("../handler");

test("greets from its stage", async () => {
  process.env.STAGE = "staging";
  const answer = await hello({ httpMethod: "GET", path: "/hello" });
  assert.equal(answer.statusCode, 200);
  const body = JSON.parse(answer.body);
  assert.equal(body.stage, "staging");
  assert.match(body.message, /^Hello/);
});
