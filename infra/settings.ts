/**
 * The CDK context (`-c key=value` or cdk.json), read once into the typed settings the stack is built from. Every key
 * has a default; a bad value fails the synth with a message naming the key, what it accepts and what it was given.
 * Nothing here makes a construct, so the rules are tested without a synth (test/unit/infra-settings.test.ts).
 */
import * as logs from 'aws-cdk-lib/aws-logs'
import addressparser from 'nodemailer/lib/addressparser'
import { type ComputeSettings, computeUnitsProblem, suspendTimeoutProblem } from '#infra/neon/compute'
import { historyRetentionProblem } from '#infra/neon/history'
import { pgVersionProblem, regionProblem } from '#infra/neon/regions'
import { parseCorsOrigins } from '#shared/http/cors'
import { ConfigError, loadConfig } from '#shared/platform/config'
import { rotationIntervalMs } from '#shared/platform/key-rotation-timing'
import {
  CLEANUP_INTERVAL_MINUTES,
  EMAIL_VERIFICATION_MODES,
  INTEGER_SETTINGS,
  TEXT_DEFAULTS,
} from '#shared/platform/settings'

/** The context as CDK holds it: strings from the command line, JSON values from cdk.json. */
export type Context = Readonly<Record<string, unknown>>

export type DatabaseSettings =
  | {
      readonly kind: 'neon'
      readonly apiKeySecretName: string
      readonly projectName: string
      /** Neon's region id (checked against `NEON_REGIONS`); unset: Neon's region of the stack's own (`aws-<region>`). */
      readonly regionId?: string | undefined
      readonly pgVersion: number
      readonly orgId: string | undefined
      /** The compute's suspend timeout and size (`neonSuspendTimeoutSeconds`, `neonMin/MaxComputeUnits`); unset: Neon's. */
      readonly compute?: ComputeSettings | undefined
      /** How far back the project keeps its history (`neonHistoryRetentionSeconds`); unset: the plan's default. */
      readonly historyRetentionSeconds?: number | undefined
      /** The project a stack created again takes back instead of making one (`neonAdoptProjectId`). */
      readonly adoptProjectId?: string | undefined
      readonly deleteOnRemoval: boolean
      readonly apiUrl?: string
    }
  | { readonly kind: 'existing'; readonly secretName: string }

/**
 * Password reset mail: context `mailFrom` and `passwordResetUrl` (both, or neither), `sesIdentity`, `productName`;
 * `accountDeletionUrl` for deletion links.
 * Unset, the stack sends no mail: no mail sender, and a reset request is answered 503.
 */
export interface MailSettings {
  /** The sender of every mail (`MAIL_FROM`): `Name <address>` or an address. */
  readonly from: string
  /** The address inside `from`: the only one the mail sender may send as (`ses:FromAddress`). */
  readonly fromAddress: string
  /** The verified SES identity that covers `fromAddress`: its domain (or a parent domain), or the address itself. */
  readonly sesIdentity: string
  /** The front end's reset page, `{token}` standing for the token (`PASSWORD_RESET_URL`). */
  readonly passwordResetUrl: string
  /**
   * The front end's account-deletion page, `{token}` standing for the token (`ACCOUNT_DELETION_URL`, context
   * `accountDeletionUrl`): without it no deletion link is mailed (`DELETE /users/me` works all the same).
   */
  readonly accountDeletionUrl?: string | undefined
  readonly productName: string
}

/**
 * Where the alarms go (context `alarmEmail` or `alarmTopicArn`, one or neither): a topic the stack creates, with the
 * address subscribed when one is given (none: subscribe to the `AlarmTopicArn` output yourself), or an existing
 * topic of the operator's, which the stack publishes to and creates none.
 */
export type AlarmSettings =
  | { readonly topic: 'created'; readonly email?: string | undefined }
  | { readonly topic: 'existing'; readonly topicArn: string }

export interface AuthStackSettings {
  readonly adminEmail: string
  readonly corsOrigins: readonly string[]
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number }
  /**
   * The routes declared `callers: 'superuser'` (`adminThrottleRateLimit`, `adminThrottleBurstLimit`): each gets these
   * instead of `throttle`, never more than it.
   */
  readonly adminThrottle: { readonly rateLimit: number; readonly burstLimit: number }
  readonly logRetention: logs.RetentionDays
  /** Deploy the routes marked `docs` (OpenAPI, Swagger UI). */
  readonly docs: boolean
  /**
   * The access tokens' `iss`, and the issuer of API Gateway's JWT authorizer. Unset (the default): the API's own URL
   * (its `apiEndpoint`), where the service serves `/.well-known/openid-configuration` and `/.well-known/jwks.json`.
   * Set it only to a URL that serves those two documents too, such as a custom domain mapped to this API.
   */
  readonly jwtIssuer?: string | undefined
  readonly jwtAudience: string
  readonly bcryptCost: number
  /** `EMAIL_VERIFICATION` of the API's functions (context `emailVerification`): `optional` unless told. */
  readonly emailVerification: (typeof EMAIL_VERIFICATION_MODES)[number]
  /** The service's limits and lifetimes given as context (the rest keep their defaults), by setting name. */
  readonly limits: Partial<Record<LimitSetting, number>>
  /** Changing it replaces every warm container, so each function reads its secrets again (after a rotation). */
  readonly secretsGeneration: string
  /** Days between two scheduled rotations of the signing keys (`signingKeyRotationDays`). */
  readonly signingKeyRotationDays: number
  /** Minutes between two cleanup runs (`cleanupIntervalMinutes`): a divisor of an hour, 15 by default. */
  readonly cleanupIntervalMinutes: number
  readonly database: DatabaseSettings
  /** Password reset mail; unset, none is sent (a reset request is answered 503). */
  readonly mail?: MailSettings | undefined
  /** Where every alarm, and a failed rotation of the signing keys, is sent (`alarmEmail`, `alarmTopicArn`). */
  readonly alarms: AlarmSettings
  /**
   * Execution environments kept initialized for each function of the login path (`PROVISIONED_FUNCTIONS`), served
   * through their `live` alias (`loginProvisionedConcurrency`). 0, the default: none, no alias, no version.
   */
  readonly loginProvisionedConcurrency?: number
  /**
   * The customer-managed KMS key of the secrets the stack imports (`databaseSecretName`, `neonApiKeySecretName`):
   * whatever reads one of them may also decrypt with this key, through Secrets Manager only
   * (`importedSecretsKmsKeyArn`). Unset: they are encrypted with `aws/secretsmanager`, which needs no grant.
   */
  readonly importedSecretsKmsKeyArn?: string | undefined
  /**
   * Every function calls the AWS APIs at their FIPS endpoints (`AWS_USE_FIPS_ENDPOINT`, context `useFipsEndpoints`):
   * the SDK clients and the hand-signed calls alike.
   */
  readonly useFipsEndpoints?: boolean
  /** The migrations the migrate function carries; the committed ones unless a test says otherwise. */
  readonly migrationsFolder?: string
}

export const DEFAULT_STACK_NAME = 'PapaAuth'
/** The upper bound of `loginProvisionedConcurrency`: each unit is three environments, counted against the account. */
export const MAX_PROVISIONED_CONCURRENCY = 100
/** The admin routes' throttling unless context says otherwise: an operator's pace, far below a student's app. */
export const ADMIN_THROTTLE_DEFAULTS = { rateLimit: 5, burstLimit: 10 } as const

/**
 * The limits and lifetimes a platform engineer may set as context, by context key: each the camelCase of its
 * setting, checked against that setting's range in `shared/platform/settings.ts`. Unset keys keep the defaults.
 */
export const LIMIT_CONTEXT = {
  loginMaxFailures: 'LOGIN_MAX_FAILURES',
  loginWindowSeconds: 'LOGIN_WINDOW_SECONDS',
  loginIpMaxFailures: 'LOGIN_IP_MAX_FAILURES',
  loginIpWindowSeconds: 'LOGIN_IP_WINDOW_SECONDS',
  registerRateLimit: 'REGISTER_RATE_LIMIT',
  registerRateWindowSeconds: 'REGISTER_RATE_WINDOW_SECONDS',
  accessTokenTtlSeconds: 'ACCESS_TOKEN_TTL_SECONDS',
  adminMaxAuthAgeSeconds: 'ADMIN_MAX_AUTH_AGE_SECONDS',
  refreshTokenTtlSeconds: 'REFRESH_TOKEN_TTL_SECONDS',
  refreshTokenReuseIntervalSeconds: 'REFRESH_TOKEN_REUSE_INTERVAL_SECONDS',
  sessionMaxAgeSeconds: 'SESSION_MAX_AGE_SECONDS',
  maxSessionsPerUser: 'MAX_SESSIONS_PER_USER',
  auditRetentionDays: 'AUDIT_RETENTION_DAYS',
  passwordResetTtlSeconds: 'PASSWORD_RESET_TTL_SECONDS',
  passwordResetEmailLimit: 'PASSWORD_RESET_EMAIL_LIMIT',
  passwordResetIpLimit: 'PASSWORD_RESET_IP_LIMIT',
  passwordResetWindowSeconds: 'PASSWORD_RESET_WINDOW_SECONDS',
} as const satisfies Record<string, keyof typeof INTEGER_SETTINGS>

export type LimitSetting = (typeof LIMIT_CONTEXT)[keyof typeof LIMIT_CONTEXT]

/** The context's value of a key, `undefined` when it is unset or empty (`-c key=` unsets it). */
const given = (context: Context, key: string): unknown => {
  const value = context[key]
  return value === undefined || value === '' ? undefined : value
}

/** Context `stackName`: the stack's name, `PapaAuth` by default; two names deploy two environments. */
export const stackNameOf = (context: Context): string => text(context, 'stackName', DEFAULT_STACK_NAME)

/** Reads the whole context into the stack's settings; throws on the first bad value, naming its key. */
export function readSettings(context: Context): AuthStackSettings {
  const get = (key: string) => given(context, key)
  const databaseSecretName = get('databaseSecretName')
  const throttle = {
    rateLimit: positiveNumber('throttleRateLimit', get('throttleRateLimit'), 50),
    burstLimit: positiveNumber('throttleBurstLimit', get('throttleBurstLimit'), 100),
  }
  return {
    adminEmail: text(context, 'adminEmail', 'admin@example.com'),
    corsOrigins: origins(get('corsOrigins')),
    throttle,
    adminThrottle: adminThrottle(get, throttle),
    logRetention: retention(get('logRetentionDays')),
    docs: flag('docs', get('docs')),
    jwtIssuer: issuerUrl(get('jwtIssuer')),
    jwtAudience: text(context, 'jwtAudience', TEXT_DEFAULTS.JWT_AUDIENCE),
    bcryptCost: bcryptCost(get('bcryptCost')),
    emailVerification: emailVerification(get('emailVerification')),
    secretsGeneration: text(context, 'secretsGeneration', '1'),
    signingKeyRotationDays: rotationDays(get('signingKeyRotationDays'), limits(get).ACCESS_TOKEN_TTL_SECONDS),
    cleanupIntervalMinutes: cleanupInterval(get('cleanupIntervalMinutes')),
    limits: limits(get),
    mail: mailSettings(get),
    alarms: alarmSettings(get),
    database:
      typeof databaseSecretName === 'string'
        ? { kind: 'existing', secretName: existingDatabase(get, databaseSecretName) }
        : {
            kind: 'neon',
            apiKeySecretName: text(context, 'neonApiKeySecretName', 'papa-auth/neon-api-key'),
            projectName: text(context, 'neonProjectName', stackNameOf(context)),
            regionId: neonRegion(get('neonRegion')),
            pgVersion: neonPgVersion(get('neonPgVersion')),
            orgId: get('neonOrgId') ? String(get('neonOrgId')) : undefined,
            compute: neonCompute(get),
            ...neonHistoryRetention(get('neonHistoryRetentionSeconds')),
            ...neonAdoptProjectId(get('neonAdoptProjectId')),
            deleteOnRemoval: flag('neonDeleteOnRemoval', get('neonDeleteOnRemoval')),
          },
    loginProvisionedConcurrency: provisionedConcurrency(get('loginProvisionedConcurrency')),
    importedSecretsKmsKeyArn: kmsKeyArn(get('importedSecretsKmsKeyArn')),
    useFipsEndpoints: flag('useFipsEndpoints', get('useFipsEndpoints')),
  }
}

function text(context: Context, key: string, fallback: string): string {
  const value = given(context, key)
  return value === undefined ? fallback : String(value)
}

function emailVerification(value: unknown): (typeof EMAIL_VERIFICATION_MODES)[number] {
  if (value === undefined) return TEXT_DEFAULTS.EMAIL_VERIFICATION
  const mode = EMAIL_VERIFICATION_MODES.find((allowed) => allowed === value)
  if (!mode)
    throw new Error(`context emailVerification must be optional or required, not ${JSON.stringify(value)}`)
  return mode
}

function flag(key: string, value: unknown): boolean {
  if (value === undefined || value === false || value === 'false') return false
  if (value === true || value === 'true') return true
  throw new Error(`context ${key} must be true or false, not ${JSON.stringify(value)}`)
}

function positiveNumber(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0) throw new Error(`context ${key} must be a positive number`)
  return number
}

/**
 * Context `adminThrottleRateLimit` (a positive number) and `adminThrottleBurstLimit` (a whole number: CloudFormation's
 * route setting takes an integer). A route setting replaces the stage default for its route, so a value above the
 * stage's would throttle the admin routes less than the others, the opposite of what it is for: refused. Unset, each
 * is its default, or the stage's own when that is lower.
 */
function adminThrottle(
  get: (key: string) => unknown,
  stage: AuthStackSettings['throttle'],
): AuthStackSettings['adminThrottle'] {
  const limit = (key: string, stageKey: string, fallback: number, stageValue: number) => {
    const value = positiveNumber(key, get(key), Math.min(fallback, stageValue))
    if (value > stageValue)
      throw new Error(
        `context ${key} (${value}) is above ${stageKey} (${stageValue}): the admin routes' limits may not exceed every other route's; lower ${key} or raise ${stageKey}`,
      )
    return value
  }
  const rateLimit = limit(
    'adminThrottleRateLimit',
    'throttleRateLimit',
    ADMIN_THROTTLE_DEFAULTS.rateLimit,
    stage.rateLimit,
  )
  const burstLimit = limit(
    'adminThrottleBurstLimit',
    'throttleBurstLimit',
    ADMIN_THROTTLE_DEFAULTS.burstLimit,
    stage.burstLimit,
  )
  if (!Number.isInteger(burstLimit)) {
    const given = get('adminThrottleBurstLimit')
    throw new Error(
      given === undefined
        ? `context adminThrottleBurstLimit must be a whole number, and unset it is throttleBurstLimit's ${burstLimit}: set it`
        : `context adminThrottleBurstLimit must be a whole number, not ${JSON.stringify(given)}`,
    )
  }
  return { rateLimit, burstLimit }
}

/** A list from cdk.json (an array) or the command line (`-c corsOrigins=https://a.example,https://b.example`). */
function origins(value: unknown): string[] {
  if (value === undefined) return []
  const list = Array.isArray(value)
    ? value.map(String)
    : String(value).trim().startsWith('[')
      ? (JSON.parse(String(value)) as unknown[]).map(String)
      : String(value).split(',')
  try {
    return parseCorsOrigins(list.join(','))
  } catch (error) {
    throw new Error(`context corsOrigins: ${(error as Error).message}`)
  }
}

function retention(value: unknown): logs.RetentionDays {
  const days = positiveNumber('logRetentionDays', value, 30)
  const allowed = Object.values(logs.RetentionDays).filter(
    (entry): entry is number => typeof entry === 'number',
  )
  if (!allowed.includes(days)) {
    throw new Error(`context logRetentionDays must be one of ${allowed.filter((d) => d > 0).join(', ')}`)
  }
  return days as logs.RetentionDays
}

/**
 * The `jwtIssuer` context: an https URL without a trailing slash (API Gateway's JWT authorizer fetches
 * `<issuer>/.well-known/openid-configuration` and compares `iss` with it exactly); unset, the API's own URL.
 */
function issuerUrl(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const url = String(value)
  if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*[^\s?#/])?$/.test(url))
    throw new Error(
      `context jwtIssuer must be an https URL without a trailing slash, not ${JSON.stringify(url)}`,
    )
  return url
}

function bcryptCost(value: unknown): number {
  const { default: fallback, min, max } = INTEGER_SETTINGS.BCRYPT_COST
  const cost = positiveNumber('bcryptCost', value, fallback)
  if (!Number.isInteger(cost) || cost < min || cost > max)
    throw new Error(`context bcryptCost must be ${min} to ${max}`)
  return cost
}

/** Context `cleanupIntervalMinutes`: one of `CLEANUP_INTERVAL_MINUTES.allowed`, its default unset. */
function cleanupInterval(value: unknown): number {
  const { default: fallback, allowed } = CLEANUP_INTERVAL_MINUTES
  if (value === undefined) return fallback
  const minutes = Number(value)
  if (!(allowed as readonly number[]).includes(minutes))
    throw new Error(
      `context cleanupIntervalMinutes must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`,
    )
  return minutes
}

/**
 * Context `signingKeyRotationDays`: whole days, 1 to 1000 (Secrets Manager's range); 90 by default. Secrets Manager
 * rotates at any time of the scheduled UTC day, so two scheduled rotations may be one day less apart than that: at
 * least the wait the rotation keeps between two (`rotationIntervalMs`, longer with a long token lifetime), or every
 * scheduled rotation could be refused.
 */
function rotationDays(value: unknown, accessTokenTtlSeconds: number | undefined): number {
  const days = positiveNumber('signingKeyRotationDays', value, 90)
  if (!Number.isInteger(days) || days > 1000)
    throw new Error('context signingKeyRotationDays must be a whole number of days from 1 to 1000')
  const ttl = accessTokenTtlSeconds ?? INTEGER_SETTINGS.ACCESS_TOKEN_TTL_SECONDS.default
  const wait = rotationIntervalMs(ttl)
  const dayMs = 24 * 60 * 60 * 1000
  if ((days - 1) * dayMs < wait) {
    const least = 1 + Math.ceil(wait / dayMs)
    throw new Error(
      `context signingKeyRotationDays must be at least ${least} with access tokens of ${ttl} s: Secrets Manager ` +
        `rotates at any time of the scheduled UTC day, so ${days} day(s) may leave ${(days - 1) * 24} h between two ` +
        `rotations, and a rotation is refused until ${formatDuration(wait)} after the last (the caches, and the ` +
        "retired key's last token; docs/deploying.md, Rotating the signing keys)",
    )
  }
  return days
}

const formatDuration = (ms: number) => {
  const minutes = Math.round(ms / 60_000)
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`
}

/**
 * Context `importedSecretsKmsKeyArn`: a KMS key's ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`). An alias
 * names no key an IAM grant can be scoped to, so it is refused, with the command that finds the key.
 */
function kmsKeyArn(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const arn = String(value).trim()
  if (/^arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:alias\//.test(arn))
    throw new Error(
      `context importedSecretsKmsKeyArn must be the key's ARN, not an alias's (${arn}): aws kms describe-key --key-id ${arn} --query KeyMetadata.Arn`,
    )
  if (!/^arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(arn))
    throw new Error(
      `context importedSecretsKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not ${JSON.stringify(arn)}`,
    )
  return arn
}

function limits(get: (key: string) => unknown): Partial<Record<LimitSetting, number>> {
  const result: Partial<Record<LimitSetting, number>> = {}
  for (const [key, name] of Object.entries(LIMIT_CONTEXT)) {
    const value = get(key)
    if (value === undefined) continue
    const { min, max } = INTEGER_SETTINGS[name]
    const number = Number(value)
    if (!Number.isInteger(number) || number < min || number > max)
      throw new Error(`context ${key} must be a whole number from ${min} to ${max}`)
    result[name] = number
  }
  return result
}

/** The mail context keys, by the setting each becomes on the mail sender. */
const MAIL_SETTING_CONTEXT = {
  MAIL_FROM: 'mailFrom',
  PASSWORD_RESET_URL: 'passwordResetUrl',
  ACCOUNT_DELETION_URL: 'accountDeletionUrl',
  PRODUCT_NAME: 'productName',
} as const

/** An address SES can send from: a local part and a domain with at least one dot. */
const SENDER_ADDRESS =
  /^[^\s@<>()[\]\\,;:"]+@((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)$/i
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i

/**
 * The mail context: `mailFrom` and `passwordResetUrl` together turn password reset mail on, checked with the rules
 * the mail sender applies to the same settings (`shared/platform/config.ts`), so a deploy cannot ship a value the
 * function would refuse; `sesIdentity` and `productName` refine them. None of them: no mail.
 */
function mailSettings(get: (key: string) => unknown): MailSettings | undefined {
  const trimmed = (key: string) => {
    const value = get(key)
    const text = value === undefined ? '' : String(value).trim()
    return text === '' ? undefined : text
  }
  const from = trimmed('mailFrom')
  const resetUrl = trimmed('passwordResetUrl')
  const identity = trimmed('sesIdentity')
  const product = trimmed('productName')
  const deletionUrl = trimmed('accountDeletionUrl')
  if (from === undefined && resetUrl === undefined) {
    const stray = [
      identity && 'sesIdentity',
      product && 'productName',
      deletionUrl && 'accountDeletionUrl',
    ].filter(Boolean)
    if (stray.length > 0)
      throw new Error(
        `context ${stray.join(' and ')} given without mailFrom and passwordResetUrl: set those two to send password reset mail`,
      )
    return undefined
  }
  if (from === undefined || resetUrl === undefined)
    throw new Error(
      `context ${from === undefined ? 'mailFrom' : 'passwordResetUrl'} is missing: mailFrom and passwordResetUrl go together (set both to send password reset mail, neither to send none)`,
    )

  // The service's own validation of the same settings: one rule for PASSWORD_RESET_URL (absolute http(s), `{token}`
  // once at most), here and in the function.
  let checked: ReturnType<typeof loadConfig>
  try {
    checked = loadConfig(
      {
        MAIL_FROM: from,
        PASSWORD_RESET_URL: resetUrl,
        ACCOUNT_DELETION_URL: deletionUrl,
        PRODUCT_NAME: product,
      },
      [],
    )
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    throw new Error(
      error.problems
        .map((problem) => {
          const [, setting = '', message = problem] = /^(\w+): (.*)$/.exec(problem) ?? []
          const key = MAIL_SETTING_CONTEXT[setting as keyof typeof MAIL_SETTING_CONTEXT]
          return key ? `context ${key}: ${message}, not ${JSON.stringify(trimmed(key))}` : problem
        })
        .join('; '),
    )
  }

  // Parsed as nodemailer parses the From header it sends (and SES reads the sender from): exactly one mailbox.
  const parsed = addressparser(from)
  const mailbox = parsed.length === 1 && parsed[0]?.group === undefined ? parsed[0]?.address : undefined
  const domain = mailbox ? SENDER_ADDRESS.exec(mailbox)?.[1]?.toLowerCase() : undefined
  if (!mailbox || !domain)
    throw new Error(
      `context mailFrom must be one sender, "Name <address>" or an address, not ${JSON.stringify(from)}`,
    )

  const sesIdentity = identity ?? domain
  const covers = sesIdentity.includes('@')
    ? sesIdentity.toLowerCase() === mailbox.toLowerCase()
    : DOMAIN.test(sesIdentity) &&
      (domain === sesIdentity.toLowerCase() || domain.endsWith(`.${sesIdentity.toLowerCase()}`))
  if (!covers)
    throw new Error(
      `context sesIdentity ${JSON.stringify(sesIdentity)} does not cover the sender ${mailbox}: give the sender's address, its domain or a parent domain (the SES identity verified for it)`,
    )

  return {
    from: checked.MAIL_FROM ?? from,
    fromAddress: mailbox,
    sesIdentity,
    passwordResetUrl: checked.PASSWORD_RESET_URL ?? resetUrl,
    ...(deletionUrl === undefined ? {} : { accountDeletionUrl: checked.ACCOUNT_DELETION_URL ?? deletionUrl }),
    productName: checked.PRODUCT_NAME,
  }
}

/**
 * An SNS topic's ARN, as `alarmTopicArn` takes it: a standard topic (a FIFO topic, `.fifo`, delivers to SQS queues
 * only, and needs a message group id CloudWatch and EventBridge do not send), in any partition.
 */
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$/

/** Context `alarmEmail` (an address to subscribe to the topic the stack creates) or `alarmTopicArn`, not both. */
function alarmSettings(get: (key: string) => unknown): AlarmSettings {
  const trimmed = (key: string) => {
    const value = get(key)
    const text = value === undefined ? '' : String(value).trim()
    return text === '' ? undefined : text
  }
  const email = trimmed('alarmEmail')
  const topicArn = trimmed('alarmTopicArn')
  if (email !== undefined && topicArn !== undefined)
    throw new Error(
      'context alarmEmail and alarmTopicArn are both given: the address is subscribed to a topic the stack creates, and with alarmTopicArn it creates none. Subscribe the address to your topic instead, or drop alarmTopicArn.',
    )
  if (topicArn !== undefined) {
    if (/\.fifo$/i.test(topicArn))
      throw new Error(
        `context alarmTopicArn must be a standard topic, not a FIFO one (${JSON.stringify(topicArn)}): CloudWatch alarms and EventBridge publish no message group id, and a FIFO topic delivers to SQS queues only`,
      )
    if (!TOPIC_ARN.test(topicArn))
      throw new Error(
        `context alarmTopicArn must be an SNS topic's ARN, arn:<partition>:sns:<region>:<account>:<name>, not ${JSON.stringify(topicArn)}`,
      )
    return { topic: 'existing', topicArn }
  }
  if (email !== undefined && !SENDER_ADDRESS.test(email))
    throw new Error(`context alarmEmail must be one email address, not ${JSON.stringify(email)}`)
  return { topic: 'created', email }
}

/** The secret of a database the stack does not create; the Neon compute context would do nothing there, so is refused. */
function existingDatabase(get: (key: string) => unknown, secretName: string): string {
  const stray = ['neonSuspendTimeoutSeconds', 'neonMinComputeUnits', 'neonMaxComputeUnits'].filter(
    (key) => get(key) !== undefined,
  )
  if (stray.length > 0)
    throw new Error(
      `context ${stray.join(' and ')} given with databaseSecretName: they set the compute of the Neon project the stack creates, and with your own database it creates none. Set them on your database instead.`,
    )
  const project = ['neonHistoryRetentionSeconds', 'neonAdoptProjectId'].filter(
    (key) => get(key) !== undefined,
  )
  if (project.length > 0)
    throw new Error(
      `context ${project.join(' and ')} given with databaseSecretName: they concern the Neon project the stack creates or takes back, and with your own database it has none.`,
    )
  return secretName
}

/** Context `neonHistoryRetentionSeconds`, when set: 0 to 2592000 seconds (the plan may allow less). */
function neonHistoryRetention(value: unknown): { historyRetentionSeconds?: number } {
  if (value === undefined) return {}
  const seconds = Number(value)
  const problem = historyRetentionProblem(seconds, JSON.stringify(value))
  if (problem) throw new Error(`context neonHistoryRetentionSeconds ${problem}`)
  return { historyRetentionSeconds: seconds }
}

/** Context `neonAdoptProjectId`, when set: a Neon project id (lower-case letters, digits and hyphens). */
function neonAdoptProjectId(value: unknown): { adoptProjectId?: string } {
  if (value === undefined) return {}
  const id = String(value)
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id) || id.length > 64)
    throw new Error(
      `context neonAdoptProjectId must be a Neon project id (as the Neon console shows it, e.g. quiet-bird-12345678), not ${JSON.stringify(value)}`,
    )
  return { adoptProjectId: id }
}

/** Context `neonRegion`, when set: one of the regions Neon serves. */
function neonRegion(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const problem = regionProblem(String(value))
  if (problem) throw new Error(`context neonRegion: ${problem}`)
  return String(value)
}

/** Context `neonPgVersion`: a Postgres major version Neon offers; 17 by default. */
function neonPgVersion(value: unknown): number {
  const version = positiveNumber('neonPgVersion', value, 17)
  const problem = pgVersionProblem(version)
  if (problem) throw new Error(`context neonPgVersion: ${problem}`)
  return version
}

/** The Neon compute context: each key unset is Neon's default; the sizes go together (equal for a fixed size). */
function neonCompute(get: (key: string) => unknown): ComputeSettings | undefined {
  const suspend = get('neonSuspendTimeoutSeconds')
  const min = get('neonMinComputeUnits')
  const max = get('neonMaxComputeUnits')
  let suspendTimeoutSeconds: number | undefined
  if (suspend !== undefined) {
    suspendTimeoutSeconds = Number(suspend)
    const problem = suspendTimeoutProblem(suspendTimeoutSeconds, JSON.stringify(suspend))
    if (problem) throw new Error(`context neonSuspendTimeoutSeconds ${problem}`)
  }
  if ((min === undefined) !== (max === undefined))
    throw new Error(
      `context ${min === undefined ? 'neonMinComputeUnits' : 'neonMaxComputeUnits'} is missing: neonMinComputeUnits and neonMaxComputeUnits go together (equal for a fixed size, neither for Neon's)`,
    )
  let computeUnits: ComputeSettings['computeUnits']
  if (min !== undefined && max !== undefined) {
    computeUnits = { min: Number(min), max: Number(max) }
    const problem = computeUnitsProblem(computeUnits.min, computeUnits.max)
    if (problem)
      throw new Error(
        `context neonMinComputeUnits and neonMaxComputeUnits (${JSON.stringify(min)} to ${JSON.stringify(max)}): ${problem}`,
      )
  }
  if (suspendTimeoutSeconds === undefined && computeUnits === undefined) return undefined
  return {
    ...(suspendTimeoutSeconds === undefined ? {} : { suspendTimeoutSeconds }),
    ...(computeUnits === undefined ? {} : { computeUnits }),
  }
}

/**
 * Context `loginProvisionedConcurrency`: the environments kept initialized for each function of the login path, a
 * whole number from 0 (the default: none) to 100.
 */
function provisionedConcurrency(value: unknown): number {
  if (value === undefined) return 0
  const count = Number(value)
  if (!Number.isInteger(count) || count < 0 || count > MAX_PROVISIONED_CONCURRENCY)
    throw new Error(
      `context loginProvisionedConcurrency must be a whole number from 0 (none) to ${MAX_PROVISIONED_CONCURRENCY}, not ${JSON.stringify(value)}`,
    )
  return count
}
