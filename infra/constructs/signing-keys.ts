import { Aws, CfnOutput, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import * as cr from 'aws-cdk-lib/custom-resources'
import type { Construct } from 'constructs'
import { type AuthFunction, declaredFunction } from './auth-function.ts'
import { StackPart } from './stack-part.ts'

/** The id of CDK's singleton function behind every AwsCustomResource of a stack. */
const AWS_CUSTOM_RESOURCE_PROVIDER = 'AWS679f53fac002430cb0da5b7982bd2287'

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
 * published keys (public only), and Secrets Manager's own rotation of the key set, every `rotationDays`, on demand
 * (`rotate-secret`) and once when the stack is created: a function implementing the four steps
 * (`shared/app/signing-key-rotation.ts`), allowed exactly the protocol's calls on the key set and a write of the
 * published keys.
 */
export class SigningKeys extends StackPart {
  /** Read only by the functions that sign, and by the rotation. */
  readonly signingKeys: secretsmanager.Secret
  /** Read by every function that verifies a token, and served by `jwks`. */
  readonly publicKeys: secretsmanager.Secret
  readonly rotation: AuthFunction

  constructor(scope: Construct, id: string, props: SigningKeysProps) {
    super(scope, id)
    const { stackName } = Stack.of(this)
    // Both made with a generated placeholder: the first rotation, which Secrets Manager runs as soon as the rotation
    // schedule exists, writes the first key set and publishes its keys. No key is ever in the template.
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
      // The secret it writes (the key set's own id comes with each invocation), and the tokens' lifetime its guard
      // waits out: the API functions' own, so the two cannot disagree.
      environment: {
        JWT_PUBLIC_KEYS_SECRET_ARN: this.publicKeys.secretArn,
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

    // The first rotation (placeholder to key set), once, when the stack is created: a call on Create only, so no
    // update or rollback ever makes it again, and a Delete does nothing.
    const firstRotation = new cr.AwsCustomResource(this, 'SigningKeysFirstRotation', {
      resourceType: 'Custom::SigningKeysFirstRotation',
      onCreate: {
        service: 'SecretsManager',
        action: 'RotateSecret',
        parameters: { SecretId: this.signingKeys.secretArn },
        physicalResourceId: cr.PhysicalResourceId.of('signing-keys-first-rotation'),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({
          actions: ['secretsmanager:RotateSecret'],
          resources: [this.signingKeys.secretArn],
        }),
        // RotateSecret asks its caller for the right to invoke the rotation function.
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
      ]),
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, 'SigningKeysFirstRotationLogs', {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    })
    firstRotation.node.addDependency(schedule)
    const provider = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER)
    if (!provider) throw new Error('the AwsCustomResource provider has moved: update SigningKeys')
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "CDK's AwsCustomResource function (CDK's code) uses AWSLambdaBasicExecutionRole for its logs; it makes one RotateSecret call on the signing keys, the only grant besides.",
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
