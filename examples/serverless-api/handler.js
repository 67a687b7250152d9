"use strict";

/** The greeting: who answers, and from which stage. */
module.exports.hello = async () => ({
  statusCode: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({
    message: "Hello from serverless-api",
    stage: process.env.STAGE ?? "unknown",
  }),
});
