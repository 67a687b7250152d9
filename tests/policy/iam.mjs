// IAM's decision on one request, as AWS would take it: identity policies, the
// permissions boundary, the resource's policy, and the request's context.

import assert from 'node:assert/strict'
import { runSimulation } from '@cloud-copilot/iam-simulate'

export const ACCOUNT = '111122223333'

/**
 * IAM's decision on one request by `principal` (a role: its ARN, policies and
 * boundary). Fails on anything the simulator could not evaluate faithfully.
 */
export async function decide(principal, action, resource, context = {}, resourcePolicy = undefined, resourceAccount = ACCOUNT) {
  const result = await runSimulation(
    {
      request: {
        principal: principal.arn,
        action,
        resource: { resource, accountId: resourceAccount },
        contextVariables: {
          'aws:PrincipalArn': principal.arn,
          'aws:PrincipalAccount': principal.arn.split(':')[4],
          'aws:SecureTransport': 'true',
          ...context,
        },
      },
      identityPolicies: principal.policies,
      permissionBoundaryPolicies: principal.boundary ? [principal.boundary] : undefined,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy,
    },
    {},
  )
  assert.equal(result.errors, undefined, `${action} on ${resource}: ${JSON.stringify(result.errors)}`)
  // A resource with a wildcard (a log group's ":*") is answered for each match, with
  // one overall decision.
  return result.overallResult
}

export async function assertDenied(principal, action, resource, context, resourcePolicy) {
  const decision = await decide(principal, action, resource, context, resourcePolicy)
  assert.notEqual(decision, 'Allowed', `${principal.arn} may ${action} on ${resource}`)
}

export async function assertAllowed(principal, action, resource, context, resourcePolicy) {
  const decision = await decide(principal, action, resource, context, resourcePolicy)
  assert.equal(decision, 'Allowed', `${principal.arn} may not ${action} on ${resource}`)
}
