// Turns what `serverless package --stage sluicestage` left in .serverless/ into one
// CloudFormation template every Sluice stage deploys, its stage a parameter:
//
// - Serverless writes its stage into function, role, log group, API and export names.
//   Each "sluicestage" in a value becomes ${Stage}, the template's `Stage` parameter,
//   which each stage's configuration (staging.json, production.json) sets.
// - Serverless points code at its own deployment bucket, which `serverless deploy`
//   would create and upload to. Code points at the zip files of .serverless/ instead,
//   which `aws cloudformation package` uploads into Sluice's folder; the deployment
//   bucket and its output go.
//
// Usage: node stage-neutral.mjs [.serverless] [sluice-template.json]

import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

const STAGE = "sluicestage";
const [dir = ".serverless", out = "sluice-template.json"] = process.argv.slice(2);

function fail(why) {
  console.error(`stage-neutral.mjs: ${why}`);
  process.exit(1);
}

function read(file) {
  try {
    return JSON.parse(readFileSync(join(dir, file), "utf8"));
  } catch (e) {
    fail(`cannot read ${join(dir, file)} (run \`serverless package --stage ${STAGE}\` first): ${e.message}`);
  }
}

const template = read("cloudformation-template-update-stack.json");
if (!JSON.stringify(template).includes(STAGE)) {
  fail(`${dir} was packaged for another stage: package with \`serverless package --stage ${STAGE}\``);
}

// Code: the package's own zip files, by the name Serverless gave each.
const CODE = { "AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content" };
for (const [id, resource] of Object.entries(template.Resources ?? {})) {
  const property = CODE[resource.Type];
  if (!property) continue;
  const key = resource.Properties?.[property]?.S3Key;
  if (typeof key !== "string") fail(`${id} has no S3Key in ${property}`);
  resource.Properties[property] = join(dir, basename(key));
}
delete template.Resources.ServerlessDeploymentBucket;
delete template.Resources.ServerlessDeploymentBucketPolicy;
for (const [id, output] of Object.entries(template.Outputs ?? {})) {
  if (JSON.stringify(output).includes("ServerlessDeploymentBucket")) delete template.Outputs[id];
}
if (JSON.stringify(template).includes("ServerlessDeploymentBucket")) {
  fail("something still refers to ServerlessDeploymentBucket, which Sluice does not deploy");
}

// A string in an Fn::Sub names the stage as ${Stage}; any other string that names
// it becomes an Fn::Sub, its own ${...} kept literal (${!...}).
function neutral(value) {
  if (typeof value === "string") {
    if (!value.includes(STAGE)) return value;
    return { "Fn::Sub": value.replaceAll("${", "${!").replaceAll(STAGE, "${Stage}") };
  }
  if (Array.isArray(value)) return value.map(neutral);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "Fn::Sub") {
    const sub = value["Fn::Sub"];
    const inSub = (s) => (typeof s === "string" ? s.replaceAll(STAGE, "${Stage}") : neutral(s));
    return { "Fn::Sub": Array.isArray(sub) ? [inSub(sub[0]), neutral(sub[1])] : inSub(sub) };
  }
  return Object.fromEntries(
    keys.map((k) => {
      if (k.includes(STAGE)) fail(`the key ${k} names the stage; only values may`);
      return [k, neutral(value[k])];
    }),
  );
}

const neutralTemplate = neutral(template);
neutralTemplate.Parameters = {
  ...(template.Parameters ?? {}),
  Stage: {
    Type: "String",
    Description: "The stage this copy runs in; set by the stage's template configuration.",
  },
};
writeFileSync(out, `${JSON.stringify(neutralTemplate, null, 2)}\n`);
console.log(`stage-neutral.mjs: ${out} deploys to any stage (its Stage parameter)`);
