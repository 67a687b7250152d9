// The production account, prepared with templates/deploy-target.yaml: what a commit
// deployed there can do, through the stage's execution role and through the roles its
// application makes under the boundary. The account holds the stages of two pipelines
// (hello's and web's production), each with its deploy-target stack, and the account's
// own defences. Each request carries only the context AWS presents for it: a resource
// tag only where the service evaluates tags and the template under test puts one on
// the resource; none for S3 (no ABAC), nor for anything made by hand.
//
// SLUICE_POLICY_TARGET_TEMPLATE=<file> runs these against another version of
// deploy-target.yaml (and SLUICE_POLICY_TEMPLATE, of template.yaml).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Template, deployTargetTemplate, pipelineTemplate } from './template.mjs'
import { ACCOUNT, decide } from './iam.mjs'

const TARGET = '444455556666'
const REGION = 'us-east-1'
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/ops-admin`
const targetPath = process.env.SLUICE_POLICY_TARGET_TEMPLATE ?? fileURLToPath(new URL('../../templates/deploy-target.yaml', import.meta.url))

/**
 * The deploy-target stack `stackName` for stage `stage` of `app`, whose pipeline is
 * `pipeline` (template.yaml as its Sluice stack, in the Sluice account).
 */
function target(stackName, pipeline, app, stage) {
  const sluice = pipelineTemplate(pipeline, { account: ACCOUNT, region: REGION, admin: ADMIN }, {
    RepositoryName: `${app}-repository`, ApplicationName: app, Stages: `staging,${stage}`,
    RemoteStages: stage, RemoteAccountIds: TARGET,
  })
  return deployTargetTemplate(stackName, {
    account: TARGET, region: REGION, orchestrator: ACCOUNT, pipeline,
    roleArns: sluice.getAtt('DeployFunctionRole', 'Arn'), bucket: sluice.ref('ArtifactBucket'), app, stage,
  })
}

// Ours, in a deploy-target stack named like the stage's nested stacks (hello-production-*),
// the name a platform engineer would most likely give it; and another pipeline's.
const hello = target('hello-production-sluice', 'sluice', 'hello', 'production')
const web = target('web-production-target', 'sluice-web', 'web', 'production')

const execution = hello.role('CloudFormationExecutionRole')
/** The worst role the application can make: everything, under the boundary. */
const application = {
  arn: `arn:aws:iam::${TARGET}:role/hello-production-HelloFunctionRole-1A2B3C4D`,
  policies: [hello.managedPolicy('arn:aws:iam::aws:policy/AdministratorAccess')],
  boundary: hello.managedPolicy(hello.ref('Boundary')),
}
/** Every principal a commit deployed to production acts as. */
const pushers = [execution, application]

const arn = {
  bucket: (name) => `arn:aws:s3:::${name}`,
  parameter: (name) => `arn:aws:ssm:${REGION}:${TARGET}:parameter${name}`,
  secret: (name) => `arn:aws:secretsmanager:${REGION}:${TARGET}:secret:${name}`,
  alarm: (name) => `arn:aws:cloudwatch:${REGION}:${TARGET}:alarm:${name}`,
  role: (name) => `arn:aws:iam::${TARGET}:role/${name}`,
  rule: (name) => `arn:aws:events:${REGION}:${TARGET}:rule/${name}`,
  stack: (name) => `arn:aws:cloudformation:${REGION}:${TARGET}:stack/${name}/6f1b1d60-0000-4000-8000-000000000000`,
}

async function denied(who, action, resource, context = {}) {
  const decision = await decide(who, action, resource, context, undefined, TARGET)
  assert.notEqual(decision, 'Allowed', `${who.arn} may ${action} on ${resource}`)
}

async function allowed(who, action, resource, context = {}) {
  const decision = await decide(who, action, resource, context, undefined, TARGET)
  assert.equal(decision, 'Allowed', `${who.arn} may not ${action} on ${resource}`)
}

/** The tags IAM presents for resource `id` of `t`: those the template gives it, no more. */
function tagsOf(t, id) {
  const tags = t.properties(id).Tags ?? []
  return Object.fromEntries(tags.map(({ Key, Value }) => [`aws:ResourceTag/${Key}`, Value]))
}

// ---- The account's defences ---------------------------------------------------------

const DEFENCES = [
  ["stop CloudTrail's logging", 'cloudtrail:StopLogging', `arn:aws:cloudtrail:${REGION}:${TARGET}:trail/organization-trail`],
  ['delete the CloudTrail trail', 'cloudtrail:DeleteTrail', `arn:aws:cloudtrail:${REGION}:${TARGET}:trail/organization-trail`],
  ['delete the GuardDuty detector', 'guardduty:DeleteDetector', `arn:aws:guardduty:${REGION}:${TARGET}:detector/12abc34d567e8fa901bc2d34e56789f0`],
  ["stop Config's recorder", 'config:StopConfigurationRecorder', `arn:aws:config:${REGION}:${TARGET}:configuration-recorder/default/0123456789abcdef`],
  ['disable Security Hub', 'securityhub:DisableSecurityHub', `arn:aws:securityhub:${REGION}:${TARGET}:hub/default`],
  ['leave the organization', 'organizations:LeaveOrganization', '*'],
  ["share the account's resources out through RAM", 'ram:CreateResourceShare', '*'],
  ['delete the IAM Access Analyzer', 'access-analyzer:DeleteAnalyzer', `arn:aws:access-analyzer:${REGION}:${TARGET}:analyzer/account-analyzer`],
  ['delete the Detective graph', 'detective:DeleteGraph', `arn:aws:detective:${REGION}:${TARGET}:graph:0123456789abcdef0123456789abcdef`],
  ['disable Macie', 'macie2:DisableMacie', '*'],
  ['disable Inspector', 'inspector2:Disable', '*'],
  ["lift the account's S3 public access block", 's3:PutAccountPublicAccessBlock', '*'],
  // IAM Identity Center makes its roles itself, with no boundary for IAM to check.
  ['give access through an IAM Identity Center permission set', 'sso:CreatePermissionSet', 'arn:aws:sso:::instance/ssoins-0123456789abcdef'],
  ['assign an IAM Identity Center permission set', 'sso:CreateAccountAssignment', 'arn:aws:sso:::instance/ssoins-0123456789abcdef'],
  ['create an Identity Center user', 'identitystore:CreateUser', 'arn:aws:identitystore::123456789012:identitystore/d-0123456789'],
  ['create a user in the Identity Center directory', 'sso-directory:CreateUser', '*'],
]

for (const [what, action, resource] of DEFENCES) {
  test(`target: neither the execution role nor an application role may ${what}`, async () => {
    for (const who of pushers) await denied(who, action, resource)
  })
}

// ---- Other stages' things, by name (S3 and what was made by hand carry no tag) -------

// Another stage of this application, another pipeline's application, something made by hand.
const OTHER_BUCKETS = ['hello-staging-assets-1a2b3c', 'web-production-site', 'acme-audit-logs']

test('target: writes into no bucket not named after its stage (S3 evaluates no tag)', async () => {
  for (const bucket of OTHER_BUCKETS) {
    for (const who of pushers) {
      await denied(who, 's3:PutObject', `${arn.bucket(bucket)}/index.html`)
      await denied(who, 's3:DeleteObject', `${arn.bucket(bucket)}/data/customers.csv`)
      await denied(who, 's3:DeleteBucket', arn.bucket(bucket))
    }
  }
})

test('target: re-polices no bucket not named after its stage (S3 evaluates no tag)', async () => {
  for (const bucket of OTHER_BUCKETS) {
    for (const who of pushers) {
      for (const action of ['s3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketAcl', 's3:PutBucketPublicAccessBlock', 's3:PutBucketOwnershipControls']) {
        await denied(who, action, arn.bucket(bucket))
      }
    }
  }
})

test("target: reads or writes no parameter of another stage's names, made by hand and untagged", async () => {
  for (const name of ['/staging/db-password', '/hello/staging/db-password', '/web/production/db-password', '/shared/signing-key']) {
    for (const who of pushers) {
      for (const action of ['ssm:GetParameter', 'ssm:GetParametersByPath', 'ssm:PutParameter', 'ssm:DeleteParameter']) {
        await denied(who, action, arn.parameter(name))
      }
    }
  }
})

test("target: reads or writes no secret of another stage's names, made by hand and untagged", async () => {
  for (const name of ['staging/db-AbCdEf', 'hello/staging/db-AbCdEf', 'web-production-db-AbCdEf']) {
    for (const who of pushers) {
      for (const action of ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:PutResourcePolicy', 'secretsmanager:DeleteSecret']) {
        await denied(who, action, arn.secret(name))
      }
    }
  }
})

test("target: sets no alarm of another stage or application to OK, nor silences or deletes it", async () => {
  for (const name of ['hello-staging-errors', 'web-production-errors', 'account-root-login']) {
    for (const who of pushers) {
      for (const action of ['cloudwatch:SetAlarmState', 'cloudwatch:DisableAlarmActions', 'cloudwatch:DeleteAlarms', 'cloudwatch:PutMetricAlarm']) {
        await denied(who, action, arn.alarm(name))
      }
    }
  }
})

// ---- Roles ----------------------------------------------------------------------------

test("target: an application role assumes no role but its own stack's", async () => {
  // Roles of the account that trust its root, as many do, and another application's.
  for (const role of ['OrganizationAccountAccessRole', 'ops-admin', 'web-production-HelloFunctionRole-9Z8Y7X']) {
    for (const who of pushers) await denied(who, 'sts:AssumeRole', arn.role(role))
  }
  await allowed(application, 'sts:AssumeRole', arn.role('hello-production-Worker-9Z8Y7X'))
})

// No IAM condition reads a trust policy's principals: the stage's own roles
// (hello-production-*) may trust whom its template says, as in the Sluice account.
test("target: puts an outside account into the trust of no role but its own stack's", async () => {
  const roles = [
    'OrganizationAccountAccessRole',
    'web-production-HelloFunctionRole-9Z8Y7X',
    ...['SluiceDeployRole', 'CloudFormationExecutionRole'].map((id) => hello.role(id).arn.split(':role/')[1]),
  ]
  for (const role of roles) {
    for (const who of pushers) await denied(who, 'iam:UpdateAssumeRolePolicy', arn.role(role))
  }
})

// ---- Another pipeline's deploy-target stack in the same account -----------------------

const ROLE_CHANGES = [
  ['iam:PutRolePolicy', {}],
  ['iam:AttachRolePolicy', { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/ReadOnlyAccess' }],
  ['iam:UpdateAssumeRolePolicy', {}],
  ['iam:DeleteRolePermissionsBoundary', {}],
  ['iam:DeleteRole', {}],
  ['iam:UntagRole', {}],
  ['iam:PassRole', { 'iam:PassedToService': 'lambda.amazonaws.com' }],
  ['sts:AssumeRole', {}],
]

test("target: changes, passes or assumes none of another pipeline's deploy-target roles, by name alone or by tag", async () => {
  for (const id of ['SluiceDeployRole', 'CloudFormationExecutionRole', 'StackEventsForwardingRole']) {
    const role = web.role(id).arn
    for (const who of pushers) {
      for (const [action, context] of ROLE_CHANGES) {
        await denied(who, action, role, context)
        await denied(who, action, role, { ...context, ...tagsOf(web, id) })
      }
    }
  }
  // Its boundary: a managed policy, which CloudFormation cannot tag.
  for (const who of pushers) {
    await denied(who, 'iam:CreatePolicyVersion', web.ref('Boundary'))
    await denied(who, 'iam:DeletePolicy', web.ref('Boundary'))
  }
})

test("target: silences or redirects no other pipeline's stack-events rule, by name alone or by tag", async () => {
  const rule = arn.rule(web.ref('StackEventsForwardingRule'))
  // The same rule where web's deploy-target stack is not yet updated: CloudFormation
  // named it, and it carries no sluice:pipeline tag.
  const unnamed = arn.rule(`${web.stackName}-StackEventsForwardingRule-1CCQDDJ`)
  for (const who of pushers) {
    for (const action of ['events:DisableRule', 'events:DeleteRule', 'events:PutRule', 'events:PutTargets', 'events:RemoveTargets']) {
      await denied(who, action, rule)
      await denied(who, action, rule, tagsOf(web, 'StackEventsForwardingRule'))
      await denied(who, action, unnamed)
    }
  }
})

test("target: changes neither another pipeline's deploy-target stack nor its application's stack", async () => {
  for (const name of [web.stackName, 'web-production']) {
    for (const who of pushers) {
      for (const action of ['cloudformation:UpdateStack', 'cloudformation:DeleteStack', 'cloudformation:CreateChangeSet', 'cloudformation:ExecuteChangeSet', 'cloudformation:SetStackPolicy']) {
        await denied(who, action, arn.stack(name))
      }
    }
  }
})

// Not an attack today's template let through; kept so that the denies by name and tag
// above never lose it: the stack is named hello-production-sluice, which the stage's own
// nested stacks' names (hello-production-*) would match.
test('target: changes nothing of its own deploy-target stack, named like its nested stacks', async () => {
  for (const who of pushers) {
    for (const id of ['SluiceDeployRole', 'CloudFormationExecutionRole', 'StackEventsForwardingRole']) {
      await denied(who, 'iam:PutRolePolicy', hello.role(id).arn)
      await denied(who, 'iam:UpdateAssumeRolePolicy', hello.role(id).arn, tagsOf(hello, id))
    }
    await denied(who, 'iam:CreatePolicyVersion', hello.ref('Boundary'))
    await denied(who, 'events:DisableRule', arn.rule(hello.ref('StackEventsForwardingRule')))
    await denied(who, 'cloudformation:DeleteStack', arn.stack(hello.stackName))
  }
})

// ---- What the stage still does --------------------------------------------------------

test('target: the stage still deploys its own application', async () => {
  const own = { 'aws:ResourceTag/aws:cloudformation:stack-name': 'hello-production' }
  const bucket = arn.bucket('hello-production-assets-1a2b3c')
  const role = arn.role('hello-production-HelloFunctionRole-1A2B3C4D')
  const fn = `arn:aws:lambda:${REGION}:${TARGET}:function:hello-production-HelloFunction-1A2B3C4D`
  await allowed(execution, 's3:CreateBucket', bucket)
  await allowed(execution, 's3:PutBucketPolicy', bucket)
  await allowed(execution, 's3:PutBucketPublicAccessBlock', bucket)
  await allowed(execution, 'iam:CreateRole', role, { 'iam:PermissionsBoundary': hello.ref('Boundary') })
  await allowed(execution, 'iam:PutRolePolicy', role, { 'iam:PermissionsBoundary': hello.ref('Boundary') })
  await allowed(execution, 'iam:PassRole', role, { 'iam:PassedToService': 'lambda.amazonaws.com' })
  await allowed(execution, 'lambda:CreateFunction', fn)
  await allowed(execution, 'lambda:UpdateFunctionCode', fn, own)
  await allowed(execution, 'logs:CreateLogGroup', `arn:aws:logs:${REGION}:${TARGET}:log-group:/aws/lambda/hello-production-HelloFunction-1A2B3C4D`)
  await allowed(execution, 'events:PutRule', arn.rule('hello-production-NightlyReport-1A2B3C'))
  await allowed(execution, 'dynamodb:CreateTable', `arn:aws:dynamodb:${REGION}:${TARGET}:table/hello-production-Table-1A2B`)
  for (const name of ['/production/greeting', '/hello/production/greeting', '/CFN-GreetingParameter-AbCd']) {
    await allowed(execution, 'ssm:PutParameter', arn.parameter(name))
  }
  await allowed(execution, 'secretsmanager:CreateSecret', arn.secret('hello-production-db-AbCdEf'))
  await allowed(execution, 'cloudwatch:PutMetricAlarm', arn.alarm('hello-production-HelloErrors-1A2B'))
  await allowed(execution, 'cloudformation:CreateStack', arn.stack('hello-production-Nested-1A2B'))
  // Removing a role from the template: CloudFormation deletes it this way.
  for (const action of ['iam:ListInstanceProfilesForRole', 'iam:ListAttachedRolePolicies', 'iam:ListRolePolicies', 'iam:DeleteRole']) {
    await allowed(execution, action, role)
  }
})

test('target: the application runs on what is its own', async () => {
  const own = { 'aws:ResourceTag/aws:cloudformation:stack-name': 'hello-production' }
  await allowed(application, 's3:PutObject', `${arn.bucket('hello-production-assets-1a2b3c')}/uploads/a.png`)
  await allowed(application, 's3:GetObject', `${arn.bucket('hello-production-assets-1a2b3c')}/uploads/a.png`)
  await allowed(application, 'ssm:GetParameter', arn.parameter('/production/db-password'))
  await allowed(application, 'ssm:GetParameter', arn.parameter('/hello/production/db-password'))
  await allowed(application, 'secretsmanager:GetSecretValue', arn.secret('hello/production/db-AbCdEf'))
  await allowed(application, 'dynamodb:PutItem', `arn:aws:dynamodb:${REGION}:${TARGET}:table/hello-production-Table-1A2B`, own)
  await allowed(application, 'lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${TARGET}:function:hello-production-Worker-1A2B3C4D`, own)
  await allowed(application, 'cloudwatch:SetAlarmState', arn.alarm('hello-production-HelloErrors-1A2B'))
})

// ---- IAM's sizes ----------------------------------------------------------------------

// IAM counts a policy's characters without white space: the boundary (a managed policy)
// holds at most 6,144, the execution role's inline policies 10,240 together. Names grow
// them: the longest the template allows (a stack name of 128 characters, the stage's
// names at most 46 together, split either way), in the longest partition.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
class GovCloudTemplate extends Template {
  get pseudo() {
    return { ...super.pseudo, 'AWS::Partition': 'aws-us-gov' }
  }
}

test("target: the largest configuration's boundary and execution role fit IAM's policy sizes", () => {
  const size = (document) => JSON.stringify(document).replace(/\s/g, '').length
  for (const [app, stage] of [['a'.repeat(45), 'b'], ['an-application-name-thirty-chr', 'a-stage-sixteen1'], ['a', 'b'.repeat(45)]]) {
    const longest = new GovCloudTemplate(targetPath, {
      stackName: `${app}-${stage}-sluice-target`.padEnd(128, 'x'),
      account: TARGET,
      region: 'us-gov-west-1',
      parameters: {
        OrchestratorAccountId: ACCOUNT,
        OrchestratorRoleArns: `arn:aws-us-gov:iam::${ACCOUNT}:role/sluice/a-forty-character-long-sluice-pipeline-x/functions/x`,
        ArtifactBucketName: 'sluice-111122223333-us-gov-west-1-0123456789ab'.padEnd(63, 'x'),
        OrchestratorStackName: 'a-forty-character-long-sluice-pipeline-x',
        ApplicationName: app,
        Stage: stage,
        StackName: `${app}-${stage}`,
      },
    })
    const boundary = size(longest.properties('Boundary').PolicyDocument)
    assert.ok(boundary <= 6144, `${app}-${stage}: the boundary is ${boundary} characters, over IAM's 6,144`)
    const inline = longest.properties('CloudFormationExecutionRole').Policies.reduce((n, p) => n + size(p.PolicyDocument), 0)
    assert.ok(inline <= 10240, `${app}-${stage}: the execution role has ${inline} characters of inline policy, over IAM's 10,240`)
  }
})
