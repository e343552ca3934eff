import { Aws, CfnResource, CfnRule, Fn, type IAspect, type Stack, Token } from 'aws-cdk-lib'
import type { IConstruct } from 'constructs'
import { partitionOf, SUPPORTED_PARTITIONS } from '#shared/platform/aws-endpoints'

/**
 * The functions sign their own calls to Secrets Manager and Lambda (`shared/platform/aws-endpoints.ts`), which know
 * the partitions `aws`, `aws-cn` and `aws-us-gov`. A stack bound to a region of another is refused at synth; an
 * environment-agnostic one gets a template rule, which CloudFormation checks before it creates anything.
 */
export function requireSupportedPartition(stack: Stack): void {
  if (!Token.isUnresolved(stack.region)) {
    try {
      partitionOf(stack.region)
    } catch (error) {
      throw new Error(`the stack cannot be deployed to ${stack.region}: ${(error as Error).message}`)
    }
    return
  }
  new CfnRule(stack, 'SupportedPartition', {
    assertions: [
      {
        assert: Fn.conditionContains([...SUPPORTED_PARTITIONS], Aws.PARTITION),
        assertDescription: `The functions call AWS APIs in the ${SUPPORTED_PARTITIONS.join(', ')} partitions only; deploy to a region of one of them.`,
      },
    ],
  })
}

/**
 * Context `useFipsEndpoints`: `AWS_USE_FIPS_ENDPOINT=true` on every Lambda function of the stack, those CDK adds
 * (custom resource providers) included, so every AWS SDK client and every hand-signed call uses the FIPS endpoints.
 */
export class FipsEndpoints implements IAspect {
  visit(node: IConstruct): void {
    if (CfnResource.isCfnResource(node) && node.cfnResourceType === 'AWS::Lambda::Function')
      node.addPropertyOverride('Environment.Variables.AWS_USE_FIPS_ENDPOINT', 'true')
  }
}
