// A CloudFormation template, read the way CloudFormation would deploy it: parameters
// and conditions resolved, intrinsic functions evaluated, and each resource given the
// physical name and ARN CloudFormation would give it. Only what Sluice's templates use
// is supported; anything else fails loudly, so a test never runs on a guess.

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse, Scalar, YAMLMap, YAMLSeq } from 'yaml'

// CloudFormation's short forms (`!Ref X`) as their long forms (`{ Ref: X }`).
const INTRINSICS = ['Ref', 'Sub', 'GetAtt', 'If', 'Join', 'Select', 'Split', 'Equals', 'Not', 'And', 'Or', 'Condition', 'FindInMap', 'Base64', 'GetAZs', 'ImportValue', 'Cidr']
const customTags = INTRINSICS.flatMap((name) => {
  const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`
  const resolve = (value) => ({ [key]: name === 'GetAtt' && typeof value === 'string' ? value.split('.') : value })
  return [
    { tag: `!${name}`, identify: () => false, collection: 'seq', nodeClass: YAMLSeq, resolve: (seq) => resolve(seq.toJSON()) },
    { tag: `!${name}`, identify: () => false, collection: 'map', nodeClass: YAMLMap, resolve: (map) => resolve(map.toJSON()) },
    { tag: `!${name}`, identify: () => false, nodeClass: Scalar, resolve: (text) => resolve(text) },
  ]
})

const NO_VALUE = Symbol('AWS::NoValue')

export class Template {
  /**
   * @param {string} path the template file
   * @param {object} options `stackName`, `account`, `region`, `parameters` (those the
   *   template does not declare are ignored, so one set serves its versions)
   */
  constructor(path, { stackName, account = '111122223333', region = 'us-east-1', parameters = {} }) {
    this.path = path
    this.raw = parse(readFileSync(path, 'utf8'), { customTags, uniqueKeys: true })
    this.stackName = stackName
    this.account = account
    this.region = region
    this.parameters = {}
    for (const [name, spec] of Object.entries(this.raw.Parameters ?? {})) {
      const value = parameters[name] ?? spec.Default
      if (value === undefined) throw new Error(`${path}: parameter ${name} needs a value`)
      this.parameters[name] = spec.Type === 'CommaDelimitedList' ? String(value).split(',') : String(value)
    }
    this.conditions = {}
    this.resources = {}
    for (const [id, resource] of Object.entries(this.expandLoops(this.raw.Resources))) {
      this.resources[id] = resource
      // SAM: each function without a Role gets one, named after it.
      if (resource.Type === 'AWS::Serverless::Function' && !resource.Properties?.Role) {
        this.resources[`${id}Role`] = { Type: 'AWS::IAM::Role', Sam: id }
      }
      if (resource.Type === 'AWS::Serverless::Function' && resource.Properties?.FunctionUrlConfig) {
        this.resources[`${id}Url`] = { Type: 'AWS::Lambda::Url', Sam: id }
      }
    }
  }

  /**
   * `section` with each `Fn::ForEach` (AWS::LanguageExtensions) repeated for its
   * collection. The identifier is replaced where CloudFormation replaces it: in the
   * fragment's own keys (`&{X}` keeps only letters and digits), in `Fn::Sub` strings
   * and in a `Ref` to it.
   */
  expandLoops(section) {
    const out = {}
    for (const [key, value] of Object.entries(section ?? {})) {
      if (!key.startsWith('Fn::ForEach::')) {
        out[key] = value
        continue
      }
      const [identifier, collection, fragment] = value
      const items = this.value(collection)
      if (!Array.isArray(items)) throw new Error(`${this.path}: ${key} has no list to repeat over`)
      for (const item of items) {
        const replaceIn = (node) => {
          if (Array.isArray(node)) return node.map(replaceIn)
          if (node === null || typeof node !== 'object') return node
          const entries = Object.entries(node)
          if (entries.length === 1 && entries[0][0] === 'Ref' && entries[0][1] === identifier) return item
          if (entries.length === 1 && entries[0][0] === 'Fn::Sub') {
            const arg = entries[0][1]
            const text = (t) => t.replaceAll(`\${${identifier}}`, item)
            return { 'Fn::Sub': Array.isArray(arg) ? [text(arg[0]), replaceIn(arg[1])] : text(arg) }
          }
          return Object.fromEntries(entries.map(([k, v]) => [k, replaceIn(v)]))
        }
        const expanded = this.expandLoops(fragment)
        for (const [id, member] of Object.entries(expanded)) {
          const name = id.replaceAll(`\${${identifier}}`, item).replaceAll(`&{${identifier}}`, item.replace(/[^A-Za-z0-9]/g, ''))
          if (name in out) throw new Error(`${this.path}: ${key} makes ${name} twice`)
          out[name] = replaceIn(member)
        }
      }
    }
    return out
  }

  get pseudo() {
    return {
      'AWS::AccountId': this.account,
      'AWS::Region': this.region,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': this.stackName,
      'AWS::StackId': `arn:aws:cloudformation:${this.region}:${this.account}:stack/${this.stackName}/00000000-0000-4000-8000-${this.stackHex()}`,
    }
  }

  /** Twelve hexadecimal digits that differ from one stack name to another, as a stack id's do. */
  stackHex() {
    let h = 0
    for (const c of this.stackName) h = (h * 33 + c.charCodeAt(0)) >>> 0
    return h.toString(16).padStart(12, '0').slice(-12)
  }

  condition(name) {
    if (!(name in this.conditions)) {
      const spec = this.raw.Conditions?.[name]
      if (spec === undefined) throw new Error(`${this.path}: no condition ${name}`)
      this.conditions[name] = Boolean(this.value(spec))
    }
    return this.conditions[name]
  }

  /**
   * The AssertDescription of each rule assertion these parameters fail: CloudFormation
   * refuses to create or update the stack with any of them.
   */
  failedRules() {
    const failed = []
    for (const rule of Object.values(this.raw.Rules ?? {})) {
      if (rule.RuleCondition !== undefined && !this.value(rule.RuleCondition)) continue
      for (const assertion of rule.Assertions) {
        if (!this.value(assertion.Assert)) failed.push(assertion.AssertDescription)
      }
    }
    return failed
  }

  /** Whether the resource exists with these parameters. */
  exists(id) {
    const resource = this.resources[id]
    if (!resource) return false
    const sam = resource.Sam ? this.resources[resource.Sam] : resource
    return !sam.Condition || this.condition(sam.Condition)
  }

  /** A suffix CloudFormation would add to a generated name, stable per resource. */
  suffix(id) {
    let h = 0
    for (const c of `${this.stackName}/${id}`) h = (h * 31 + c.charCodeAt(0)) >>> 0
    return h.toString(36).toUpperCase().padStart(7, 'X').slice(0, 12)
  }

  properties(id) {
    const resource = this.resources[id]
    if (!resource) throw new Error(`${this.path}: no resource ${id}`)
    return this.value(resource.Properties ?? {})
  }

  /** What `Ref` returns for a resource. */
  ref(id) {
    if (!this.exists(id)) throw new Error(`${this.path}: ${id} does not exist with these parameters`)
    const { Type: type, Sam: sam } = this.resources[id]
    const generated = `${this.stackName}-${id}-${this.suffix(id)}`
    const props = sam ? {} : this.properties(id)
    switch (type) {
      case 'AWS::S3::Bucket':
        return props.BucketName ?? generated.toLowerCase()
      case 'AWS::IAM::Role':
        return props.RoleName ?? generated
      case 'AWS::IAM::ManagedPolicy':
        return `arn:aws:iam::${this.account}:policy${props.Path ?? '/'}${props.ManagedPolicyName ?? generated}`
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${this.region}:${this.account}:${props.TopicName ?? generated}`
      case 'AWS::SQS::Queue':
        return `https://sqs.${this.region}.amazonaws.com/${this.account}/${props.QueueName ?? generated}`
      case 'AWS::Serverless::Function':
      case 'AWS::Lambda::Function':
        return props.FunctionName ?? generated
      case 'AWS::Logs::LogGroup':
        return props.LogGroupName ?? generated
      case 'AWS::CodeBuild::Project':
        return props.Name ?? generated
      case 'AWS::CodeCommit::Repository':
        return props.RepositoryName
      case 'AWS::CloudWatch::Alarm':
        return props.AlarmName ?? generated
      case 'AWS::Scheduler::ScheduleGroup':
      case 'AWS::Events::Rule':
        return props.Name ?? generated
      case 'AWS::KMS::Key':
        return `${this.suffix(id).toLowerCase()}-0000-4000-8000-000000000000`
      default:
        return generated
    }
  }

  /** What `Fn::GetAtt` returns. */
  getAtt(id, attribute) {
    const { Type: type, Sam: sam } = this.resources[id] ?? {}
    const name = this.ref(id)
    const props = sam ? { Path: this.samRolePath(sam) } : this.properties(id)
    const arns = {
      'AWS::S3::Bucket': `arn:aws:s3:::${name}`,
      'AWS::IAM::Role': `arn:aws:iam::${this.account}:role${props.Path ?? '/'}${name}`,
      'AWS::SQS::Queue': `arn:aws:sqs:${this.region}:${this.account}:${name.split('/').pop()}`,
      'AWS::Serverless::Function': `arn:aws:lambda:${this.region}:${this.account}:function:${name}`,
      'AWS::Lambda::Function': `arn:aws:lambda:${this.region}:${this.account}:function:${name}`,
      'AWS::Logs::LogGroup': `arn:aws:logs:${this.region}:${this.account}:log-group:${name}:*`,
      'AWS::CodeBuild::Project': `arn:aws:codebuild:${this.region}:${this.account}:project/${name}`,
      'AWS::CodeCommit::Repository': `arn:aws:codecommit:${this.region}:${this.account}:${name}`,
      'AWS::KMS::Key': `arn:aws:kms:${this.region}:${this.account}:key/${name}`,
      'AWS::CloudWatch::Alarm': `arn:aws:cloudwatch:${this.region}:${this.account}:alarm:${name}`,
    }
    if (attribute === 'Arn' && type in arns) return arns[type]
    if (attribute === 'QueueName' && type === 'AWS::SQS::Queue') return name.split('/').pop()
    if (attribute === 'FunctionUrl') return `https://${this.suffix(id).toLowerCase()}.lambda-url.${this.region}.on.aws/`
    if (attribute === 'CloneUrlHttp') return `https://git-codecommit.${this.region}.amazonaws.com/v1/repos/${name}`
    throw new Error(`${this.path}: GetAtt ${id}.${attribute} is not modelled`)
  }

  sub(text, vars = {}) {
    return text.replace(/\$\{([^}!]+)\}/g, (_, name) => {
      if (name in vars) return String(vars[name])
      if (name in this.pseudo) return this.pseudo[name]
      if (name in this.parameters) return this.parameters[name]
      const [id, attribute] = name.split('.')
      return attribute ? this.getAtt(id, attribute) : this.ref(id)
    })
  }

  /** `node` with every intrinsic function evaluated. */
  value(node) {
    if (Array.isArray(node)) return node.map((n) => this.value(n)).filter((v) => v !== NO_VALUE)
    if (node === null || typeof node !== 'object') return node
    const keys = Object.keys(node)
    if (keys.length === 1) {
      const [key] = keys
      const arg = node[key]
      switch (key) {
        case 'Ref':
          if (arg === 'AWS::NoValue') return NO_VALUE
          if (arg in this.pseudo) return this.pseudo[arg]
          if (arg in this.parameters) return this.parameters[arg]
          return this.ref(arg)
        case 'Fn::Sub':
          return Array.isArray(arg) ? this.sub(arg[0], this.value(arg[1])) : this.sub(arg)
        case 'Fn::GetAtt':
          return this.getAtt(arg[0], arg[1])
        case 'Fn::If':
          return this.value(this.condition(arg[0]) ? arg[1] : arg[2])
        case 'Fn::Join':
          return this.value(arg[1]).join(arg[0])
        case 'Fn::Select':
          return this.value(arg[1])[Number(this.value(arg[0]))]
        case 'Fn::FindInMap': {
          const [map, top, second] = arg.map((a) => this.value(a))
          const found = this.raw.Mappings?.[map]?.[top]?.[second]
          if (found === undefined) throw new Error(`${this.path}: Mappings has no ${map}.${top}.${second}`)
          return found
        }
        case 'Fn::Split':
          return this.value(arg[1]).split(arg[0])
        case 'Fn::Equals':
          return this.value(arg[0]) === this.value(arg[1])
        case 'Fn::Not':
          return !this.value(arg[0])
        case 'Fn::And':
          return arg.every((a) => this.value(a))
        case 'Fn::Or':
          return arg.some((a) => this.value(a))
        case 'Condition':
          return this.condition(arg)
        // Rules only: whether every member of a list equals the string.
        case 'Fn::EachMemberEquals':
          return this.value(arg[0]).every((member) => member === this.value(arg[1]))
        // Rules only: whether the list has the string as a member.
        case 'Fn::Contains':
          return this.value(arg[0]).includes(this.value(arg[1]))
        default:
          if (key.startsWith('Fn::')) throw new Error(`${this.path}: ${key} is not modelled`)
      }
    }
    const out = {}
    for (const [k, v] of Object.entries(node)) {
      const value = this.value(v)
      if (value !== NO_VALUE) out[k] = value
    }
    return out
  }

  /** The environment every function gets from the template's Globals. */
  globalEnvironment() {
    return this.value(this.raw.Globals?.Function?.Environment?.Variables ?? {})
  }

  /** The role's identity policies, its trust policy and its permissions boundary, as IAM holds them. */
  role(id) {
    const resource = this.resources[id]
    if (resource?.Type !== 'AWS::IAM::Role') throw new Error(`${this.path}: ${id} is not a role`)
    if (resource.Sam) return this.samRole(resource.Sam)
    const props = this.properties(id)
    const policies = (props.Policies ?? []).map((p) => ({ name: p.PolicyName, policy: p.PolicyDocument }))
    for (const arn of props.ManagedPolicyArns ?? []) policies.push(this.managedPolicy(arn))
    policies.push(...this.attachedTo(id))
    return {
      arn: this.getAtt(id, 'Arn'),
      trust: props.AssumeRolePolicyDocument,
      policies,
      boundary: props.PermissionsBoundary ? this.managedPolicy(props.PermissionsBoundary) : undefined,
    }
  }

  /** The path SAM gives a function's role: its own `RolePath`, or the Globals'. */
  samRolePath(functionId) {
    const own = this.raw.Resources[functionId].Properties?.RolePath
    return this.value(own ?? this.raw.Globals?.Function?.RolePath ?? '/')
  }

  samRole(functionId) {
    const props = this.properties(functionId)
    const policies = []
    for (const [i, p] of (props.Policies ?? []).entries()) {
      if (typeof p === 'string') policies.push(this.managedPolicy(p))
      else if (p.Statement) policies.push({ name: `${functionId}RolePolicy${i}`, policy: p })
      else throw new Error(`${this.path}: ${functionId}: SAM policy templates are not modelled`)
    }
    policies.push(...this.attachedTo(`${functionId}Role`))
    // SAM attaches the basic execution policy (logs) to every function role.
    const boundary = props.PermissionsBoundary ?? this.value(this.raw.Globals?.Function?.PermissionsBoundary ?? null)
    return {
      arn: this.getAtt(`${functionId}Role`, 'Arn'),
      policies,
      boundary: boundary ? this.managedPolicy(boundary) : undefined,
    }
  }

  /**
   * The template's policies that name the role `roleId` in their `Roles`: managed
   * ones, and inline ones (AWS::IAM::Policy) put on several roles.
   */
  attachedTo(roleId) {
    const name = this.ref(roleId)
    return [...this.ofType('AWS::IAM::ManagedPolicy'), ...this.ofType('AWS::IAM::Policy')]
      .filter((id) => (this.properties(id).Roles ?? []).includes(name))
      .map((id) => ({ name: id, policy: this.properties(id).PolicyDocument, inline: this.resources[id].Type === 'AWS::IAM::Policy' }))
  }

  /** A managed policy by ARN: one of this template's, or an AWS managed policy we model. */
  managedPolicy(arn) {
    for (const id of Object.keys(this.resources)) {
      if (this.resources[id].Type === 'AWS::IAM::ManagedPolicy' && this.exists(id) && this.ref(id) === arn) {
        return { name: id, policy: this.properties(id).PolicyDocument }
      }
    }
    if (arn in AWS_MANAGED) return { name: arn.split('/').pop(), policy: AWS_MANAGED[arn] }
    throw new Error(`${this.path}: managed policy ${arn} is not known to the tests`)
  }

  /** The resource policy of the bucket `bucketId`, from its AWS::S3::BucketPolicy. */
  bucketPolicy(bucketId) {
    const bucket = this.ref(bucketId)
    for (const id of Object.keys(this.resources)) {
      if (this.resources[id].Type === 'AWS::S3::BucketPolicy' && this.exists(id)) {
        const props = this.properties(id)
        if (props.Bucket === bucket) return props.PolicyDocument
      }
    }
    return undefined
  }

  /** The policy of the topic `topicId`, from its AWS::SNS::TopicPolicy. */
  topicPolicy(topicId) {
    const topic = this.ref(topicId)
    for (const id of this.ofType('AWS::SNS::TopicPolicy')) {
      const props = this.properties(id)
      if (props.Topics.includes(topic)) return props.PolicyDocument
    }
    return undefined
  }

  /** Logical ids of the resources of `type` that exist. */
  ofType(type) {
    return Object.keys(this.resources).filter((id) => this.resources[id].Type === type && this.exists(id))
  }
}

// AWS managed policies as AWS publishes them, reduced to what decides the tests.
const AWS_MANAGED = {
  // Everything but IAM, Organizations and Account, and a little of those.
  'arn:aws:iam::aws:policy/PowerUserAccess': {
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', NotAction: ['iam:*', 'organizations:*', 'account:*'], Resource: '*' },
      {
        Effect: 'Allow',
        Action: ['iam:CreateServiceLinkedRole', 'iam:DeleteServiceLinkedRole', 'iam:ListRoles', 'organizations:DescribeOrganization', 'account:ListRegions', 'account:GetAccountInformation'],
        Resource: '*',
      },
    ],
  },
  'arn:aws:iam::aws:policy/AdministratorAccess': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
  },
}

/**
 * The Definition parameter of tests/fixtures/definitions/good/minimal.yaml, as
 * `sluice definition parameters` writes it: the template passes it to the functions
 * untouched, so its content means nothing to a policy. Its size is what counts, and `sluice definition parameters` refuses one
 * over DEFINITION_MAX.
 */
export const DEFINITION = 'XVDtboMwDHyX/GaIal218SrThLxgIMP5UOJMQoh3n0NZW/WffT7fnb0qBxZVqxJlo1FVCkIgo4GNdwJPSORfIBiZJJ+jUNpVRQw+GfZxeaJ8R3B6EtBCYoyC6IjAsjQAJaxUAJ6SSGybkLOhvsjtRQqoZfFW14ulsu9tyLwntEAFYWPRZ+6scTIQsddGQLSBdiOx0DOM2NcLHApuMGOO/yetiWW81T9JWomxtyLzud5+IYhx4/UZ0f8CHfm3r0doFaux8Mm4+SHYJH8SvdPlXdgE0d6jns7nRiwjMrprnFVBZDOA5q6H5bgmIiEkTN2MgVX7Viny4zH/KAK7bPmjZM16vhtcmm37Aw=='
export const DEFINITION_MAX = 3 * 1024

/**
 * A Sluice pipeline as template.yaml (or SLUICE_POLICY_TEMPLATE) deploys it in
 * `account` and `region`, administered by `admin`, with `parameters`.
 */
export const pipelineTemplate = (stackName, { account, region, admin }, parameters) =>
  new Template(process.env.SLUICE_POLICY_TEMPLATE ?? fileURLToPath(new URL('../../template.yaml', import.meta.url)), {
    stackName,
    account,
    region,
    parameters: { AdministratorArn: admin, Definition: DEFINITION, ...parameters },
  })

/**
 * The deploy-target stack (templates/deploy-target.yaml, or
 * SLUICE_POLICY_TARGET_TEMPLATE) for stage `stage` of application `app` in
 * `account`, trusting `roleArns` of the Sluice stack `pipeline` in `orchestrator`,
 * whose bucket is `bucket`.
 */
export const deployTargetTemplate = (stackName, { account, region, orchestrator, pipeline, roleArns, bucket, app, stage }) =>
  new Template(process.env.SLUICE_POLICY_TARGET_TEMPLATE ?? fileURLToPath(new URL('../../templates/deploy-target.yaml', import.meta.url)), {
    stackName,
    account,
    region,
    parameters: {
      OrchestratorAccountId: orchestrator,
      OrchestratorRoleArns: roleArns,
      ArtifactBucketName: bucket,
      OrchestratorStackName: pipeline,
      ApplicationName: app,
      Stage: stage,
      // What versions before ApplicationName and Stage took instead.
      StackName: `${app}-${stage}`,
    },
  })
