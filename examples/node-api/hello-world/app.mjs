/**
 * The greeting: who answers, and from which stage.
 *
 * @param {Object} event - API Gateway Lambda Proxy Input Format
 * @returns {Object} API Gateway Lambda Proxy Output Format
 */
export const lambdaHandler = async (event, context) => {
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      message: "Hello from node-api",
      stage: process.env.STAGE ?? "unknown",
    }),
  };
};
