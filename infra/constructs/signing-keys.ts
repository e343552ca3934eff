import { Aws, CfnOutput, Duration, Stack, Validations } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import type * as logs from 'aws-cdk-lib/aws-logs'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { InvocationType, Trigger } from 'aws-cdk-lib/triggers'
import type { Construct } from 'constructs'
import { lambdas } from '#functions/routes'
import { type AuthFunction, declaredFunction } from './auth-function.ts'
import { StackPart } from './stack-part.ts'

export interface SigningKeysProps {
  /** Days between two scheduled rotations (`signingKeyRotationDays`). */
  readonly rotationDays: number
  /**
   * The access tokens' lifetime the API functions sign with (`ACCESS_TOKEN_TTL_SECONDS`): the rotation withdraws a
   * retired key only once its last token has expired.
   */
  readonly accessTokenTtlSeconds: number
  readonly logRetention: logs.RetentionDays
}

/**
 * The access tokens' keys: the key set `{current, next, previous}` (the private keys of `current` and `next`), the
 * published keys (public only), and Secrets Manager's own rotation of the key set, every `rotationDays` and on demand
 * (`rotate-secret`): a function implementing the four steps (`shared/app/signing-key-rotation.ts`), allowed exactly
 * the protocol's calls on the key set and a write of the published keys, which also makes the first key set when the
 * stack is created (a Trigger, before the rotation schedule exists).
 */
export class SigningKeys extends StackPart {
  /** Read only by the functions that sign, and by the rotation. */
  readonly signingKeys: secretsmanager.Secret
  /** Read by every function that verifies a token, and served by `jwks`. */
  readonly publicKeys: secretsmanager.Secret
  readonly rotation: AuthFunction
  /** Makes the first key set when the stack is created; a key set already there is left as it is. */
  readonly firstKeySet: Trigger

  constructor(scope: Construct, id: string, props: SigningKeysProps) {
    super(scope, id)
    const { stackName } = Stack.of(this)
    // Both made with a generated placeholder: the rotation function, run by the deploy before the rotation schedule
    // exists, writes the first key set and publishes its keys. No key is ever in the template.
    this.signingKeys = new secretsmanager.Secret(this, 'SigningKeys', {
      description: `${stackName}: the access tokens' RS256 signing key set {current, next, previous}, private keys included (made by its rotation function)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    })
    this.publicKeys = new secretsmanager.Secret(this, 'PublicKeys', {
      description: `${stackName}: the published signing keys {"keys": [...]}, public keys only (written by the signing keys' rotation function)`,
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    })
    Validations.of(this.publicKeys).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Holds nothing secret: the public keys the JWKS endpoint serves to anyone. It changes with the signing keys, whose rotation function writes it at every rotation.',
    })

    this.rotation = declaredFunction(this, 'rotate-signing-keys', {
      logRetention: props.logRetention,
      // The secret it writes (the key set's own id comes with each rotation's invocation, and is given here for the
      // first key set, which the deploy asks for without an event), and the tokens' lifetime its guard waits out: the
      // API functions' own, so the two cannot disagree.
      environment: {
        JWT_PUBLIC_KEYS_SECRET_ARN: this.publicKeys.secretArn,
        JWT_SIGNING_KEYS_SECRET_ARN: this.signingKeys.secretArn,
        ACCESS_TOKEN_TTL_SECONDS: String(props.accessTokenTtlSeconds),
      },
    })
    const fn = this.rotation.function
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        resources: [this.signingKeys.secretArn],
      }),
    )
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['secretsmanager:PutSecretValue'],
        resources: [this.publicKeys.secretArn],
      }),
    )
    fn.addPermission('InvokedBySecretsManager', {
      principal: new iam.ServicePrincipal('secretsmanager.amazonaws.com'),
      sourceAccount: Stack.of(this).account,
      // For this secret's rotation only: no other secret's may run it (the confused deputy).
      sourceArn: this.signingKeys.secretArn,
    })
    Validations.of(fn).acknowledge({
      id: '@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias',
      reason:
        'Secrets Manager invokes the function itself (the schedule names its unqualified ARN), which the permission allows; its version is invoked only by the first key set Trigger, through that provider role’s own grant.',
    })
    const invoke = fn.permissionsNode.findChild('InvokedBySecretsManager')
    // CDK's `RotationSchedule` would also grant GetRandomPassword on every resource, which this function never calls,
    // hence the schedule resource itself.
    const schedule = new secretsmanager.CfnRotationSchedule(this, 'SigningKeysRotation', {
      secretId: this.signingKeys.secretArn,
      rotationLambdaArn: fn.functionArn,
      rotationRules: { scheduleExpression: `rate(${props.rotationDays} days)` },
      // A change of the schedule, and its rollback, start no rotation: Secrets Manager only runs its configuration
      // test (testSecret on a version it makes and removes), which the function answers changing nothing. A rotation
      // started there would make the rollback of a deploy that changed the schedule call RotateSecret while that
      // rotation is pending, which Secrets Manager refuses: the stack would stay in UPDATE_ROLLBACK_FAILED.
      rotateImmediatelyOnUpdate: false,
    })
    // Secrets Manager checks that it may invoke the function, and the function needs its grants, from the first call.
    schedule.node.addDependency(invoke, this.rotation.role)

    // The first key set, made by the rotation function in the deploy, before the schedule exists: invoked with no
    // event, it turns the placeholder into a key set, and finds one there on every later run (a deploy that changes
    // the function, or the rollback of one), so it changes nothing then. No rotation is started for it, so none can be
    // pending when the schedule is created, changed or rolled back.
    this.firstKeySet = new Trigger(this, 'SigningKeysFirstSet', {
      handler: fn,
      invocationType: InvocationType.REQUEST_RESPONSE,
      timeout: Duration.seconds(lambdas['rotate-signing-keys'].timeoutSeconds),
      executeAfter: [this.rotation.role],
      executeBefore: [schedule],
    })

    new CfnOutput(this, 'SigningKeysSecretArn', { value: this.signingKeys.secretArn })
    new CfnOutput(this, 'RotateSigningKeysCommand', {
      description:
        "Rotates the signing keys now (docs/deploying.md): refused until the next key has been published 2 h 20 min and the retired key's tokens have expired",
      value: `aws secretsmanager rotate-secret --secret-id ${this.signingKeys.secretArn} --region ${Aws.REGION}`,
    })
    new CfnOutput(this, 'RotateSigningKeysFunctionName', { value: fn.functionName })
  }
}
