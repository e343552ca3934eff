import * as logs from 'aws-cdk-lib/aws-logs'
import { describe, expect, it } from 'vitest'
import { NEON_PG_VERSIONS, NEON_REGIONS } from '#infra/neon/regions'
import {
  ADMIN_THROTTLE_DEFAULTS,
  type AuthStackSettings,
  type Context,
  LIMIT_CONTEXT,
  MAX_PROVISIONED_CONCURRENCY,
  readSettings,
  stackNameOf,
} from '#infra/settings'
import { INTEGER_SETTINGS, TEXT_DEFAULTS } from '#shared/platform/settings'

/** The context of a deployment that sends password reset mail (docs/deploying.md, Mail). */
const MAIL = {
  mailFrom: 'Past Questions <no-reply@mail.example.com>',
  passwordResetUrl: 'https://app.example.com/reset-password?token={token}',
} as const

/** The message `readSettings` refuses a context with; fails the test when it is accepted. */
function refusal(context: Context): string {
  try {
    readSettings(context)
  } catch (error) {
    return (error as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(context)}`)
}

const neon = (settings: AuthStackSettings) => {
  if (settings.database.kind !== 'neon') throw new Error('not the Neon database')
  return settings.database
}

const DEFAULTS: AuthStackSettings = {
  adminEmail: 'admin@example.com',
  corsOrigins: [],
  throttle: { rateLimit: 50, burstLimit: 100 },
  adminThrottle: { rateLimit: 5, burstLimit: 10 },
  logRetention: logs.RetentionDays.ONE_MONTH,
  docs: false,
  jwtIssuer: undefined,
  jwtAudience: TEXT_DEFAULTS.JWT_AUDIENCE,
  bcryptCost: INTEGER_SETTINGS.BCRYPT_COST.default,
  emailVerification: 'optional',
  secretsGeneration: '1',
  signingKeyRotationDays: 90,
  cleanupIntervalMinutes: 15,
  limits: {},
  mail: undefined,
  alarms: { topic: 'created', email: undefined },
  database: {
    kind: 'neon',
    apiKeySecretName: 'papa-auth/neon-api-key',
    projectName: 'PapaAuth',
    regionId: undefined,
    pgVersion: 17,
    orgId: undefined,
    compute: undefined,
    deleteOnRemoval: false,
  },
  loginProvisionedConcurrency: 0,
  importedSecretsKmsKeyArn: undefined,
  useFipsEndpoints: false,
}

/** Every context key the settings read. */
const KEYS = [
  'stackName',
  'adminEmail',
  'corsOrigins',
  'throttleRateLimit',
  'throttleBurstLimit',
  'adminThrottleRateLimit',
  'adminThrottleBurstLimit',
  'logRetentionDays',
  'docs',
  'jwtIssuer',
  'jwtAudience',
  'bcryptCost',
  'secretsGeneration',
  'signingKeyRotationDays',
  'cleanupIntervalMinutes',
  ...Object.keys(LIMIT_CONTEXT),
  'mailFrom',
  'passwordResetUrl',
  'accountDeletionUrl',
  'sesIdentity',
  'productName',
  'alarmEmail',
  'alarmTopicArn',
  'databaseSecretName',
  'neonApiKeySecretName',
  'neonProjectName',
  'neonRegion',
  'neonPgVersion',
  'neonOrgId',
  'neonDeleteOnRemoval',
  'neonSuspendTimeoutSeconds',
  'neonMinComputeUnits',
  'neonMaxComputeUnits',
  'neonHistoryRetentionSeconds',
  'neonAdoptProjectId',
  'loginProvisionedConcurrency',
  'importedSecretsKmsKeyArn',
  'useFipsEndpoints',
]

describe('the settings of an empty context', () => {
  it('are every default: no mail, a Neon database named after the stack, nothing provisioned', () => {
    expect(readSettings({})).toEqual(DEFAULTS)
    expect(stackNameOf({})).toBe('PapaAuth')
  })

  it('are the same when every key is given empty (`-c key=` unsets it)', () => {
    const empty = Object.fromEntries(KEYS.map((key) => [key, '']))
    expect(readSettings(empty)).toEqual(DEFAULTS)
    expect(stackNameOf(empty)).toBe('PapaAuth')
  })
})

describe('text settings', () => {
  it('take the value given', () => {
    const settings = readSettings({
      stackName: 'PapaAuthStaging',
      adminEmail: 'ops@example.com',
      jwtAudience: 'audience.example',
      secretsGeneration: 7,
      neonApiKeySecretName: 'ops/neon',
      neonOrgId: 'org-quiet-bird-123',
    })
    expect(settings).toMatchObject({
      adminEmail: 'ops@example.com',
      jwtAudience: 'audience.example',
      secretsGeneration: '7',
    })
    expect(neon(settings)).toMatchObject({
      apiKeySecretName: 'ops/neon',
      orgId: 'org-quiet-bird-123',
      // The project is named after the stack unless neonProjectName says otherwise.
      projectName: 'PapaAuthStaging',
    })
    expect(neon(readSettings({ stackName: 'A', neonProjectName: 'auth-prod' })).projectName).toBe('auth-prod')
    expect(stackNameOf({ stackName: 'PapaAuthStaging' })).toBe('PapaAuthStaging')
  })
})

describe('number settings: the ends of each range pass, one step past them fails with the key and the range', () => {
  type Case = {
    key: string
    read: (settings: AuthStackSettings) => unknown
    accepted: (string | number)[]
    refused: [string | number, string][]
  }
  const cases: Case[] = [
    {
      key: 'throttleRateLimit',
      read: (settings) => settings.throttle.rateLimit,
      accepted: [0.5, 1, 10_000],
      refused: [
        ['0', 'context throttleRateLimit must be a positive number'],
        ['fast', 'context throttleRateLimit must be a positive number'],
      ],
    },
    {
      key: 'throttleBurstLimit',
      read: (settings) => settings.throttle.burstLimit,
      accepted: [1, 5000],
      refused: [['-1', 'context throttleBurstLimit must be a positive number']],
    },
    {
      key: 'adminThrottleRateLimit',
      read: (settings) => settings.adminThrottle.rateLimit,
      // Up to the stage's own rate (50 by default).
      accepted: [0.5, 1, 50],
      refused: [
        ['0', 'context adminThrottleRateLimit must be a positive number'],
        ['slow', 'context adminThrottleRateLimit must be a positive number'],
        [
          '50.5',
          "context adminThrottleRateLimit (50.5) is above throttleRateLimit (50): the admin routes' limits may not exceed every other route's; lower adminThrottleRateLimit or raise throttleRateLimit",
        ],
      ],
    },
    {
      key: 'adminThrottleBurstLimit',
      read: (settings) => settings.adminThrottle.burstLimit,
      accepted: [1, 100],
      refused: [
        ['-1', 'context adminThrottleBurstLimit must be a positive number'],
        ['2.5', 'context adminThrottleBurstLimit must be a whole number, not "2.5"'],
        [
          '101',
          "context adminThrottleBurstLimit (101) is above throttleBurstLimit (100): the admin routes' limits may not exceed every other route's; lower adminThrottleBurstLimit or raise throttleBurstLimit",
        ],
      ],
    },
    {
      key: 'logRetentionDays',
      read: (settings) => settings.logRetention,
      accepted: [1, 3653, 9999],
      refused: [
        ['0', 'context logRetentionDays must be a positive number'],
        [
          '31',
          'context logRetentionDays must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, 9999',
        ],
      ],
    },
    {
      key: 'bcryptCost',
      read: (settings) => settings.bcryptCost,
      accepted: [10, 14],
      refused: [
        ['9', 'context bcryptCost must be 10 to 14'],
        ['15', 'context bcryptCost must be 10 to 14'],
        ['12.5', 'context bcryptCost must be 10 to 14'],
      ],
    },
    {
      key: 'emailVerification',
      read: (settings) => settings.emailVerification,
      accepted: ['optional', 'required'],
      refused: [
        ['Required', 'context emailVerification must be optional or required, not "Required"'],
        ['off', 'context emailVerification must be optional or required, not "off"'],
      ],
    },
    {
      key: 'signingKeyRotationDays',
      read: (settings) => settings.signingKeyRotationDays,
      // From 2: Secrets Manager rotates at any time of the scheduled day, so 1 may leave no time between two.
      accepted: [2, 1000],
      refused: [
        [
          '1',
          "context signingKeyRotationDays must be at least 2 with access tokens of 900 s: Secrets Manager rotates at any time of the scheduled UTC day, so 1 day(s) may leave 0 h between two rotations, and a rotation is refused until 2 h 20 min after the last (the caches, and the retired key's last token; docs/deploying.md, Rotating the signing keys)",
        ],
        ['0', 'context signingKeyRotationDays must be a positive number'],
        ['1001', 'context signingKeyRotationDays must be a whole number of days from 1 to 1000'],
        ['1.5', 'context signingKeyRotationDays must be a whole number of days from 1 to 1000'],
      ],
    },
    {
      key: 'importedSecretsKmsKeyArn',
      read: (settings) => settings.importedSecretsKmsKeyArn,
      accepted: [
        'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        'arn:aws-cn:kms:cn-north-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab',
      ],
      refused: [
        [
          'arn:aws:kms:eu-west-1:123456789012:alias/papa',
          "context importedSecretsKmsKeyArn must be the key's ARN, not an alias's (arn:aws:kms:eu-west-1:123456789012:alias/papa): aws kms describe-key --key-id arn:aws:kms:eu-west-1:123456789012:alias/papa --query KeyMetadata.Arn",
        ],
        [
          '1234abcd-12ab-34cd-56ef-1234567890ab',
          'context importedSecretsKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>), not "1234abcd-12ab-34cd-56ef-1234567890ab"',
        ],
      ],
    },
    {
      key: 'cleanupIntervalMinutes',
      read: (settings) => settings.cleanupIntervalMinutes,
      accepted: [5, 60],
      refused: ['7', '0', '90', 'hourly'].map((value) => [
        value,
        `context cleanupIntervalMinutes must be one of 5, 10, 15, 20, 30, 60, not ${JSON.stringify(value)}`,
      ]),
    },
    {
      key: 'loginProvisionedConcurrency',
      read: (settings) => settings.loginProvisionedConcurrency,
      accepted: [0, MAX_PROVISIONED_CONCURRENCY],
      refused: ['-1', String(MAX_PROVISIONED_CONCURRENCY + 1), '1.5', 'two'].map((value) => [
        value,
        `context loginProvisionedConcurrency must be a whole number from 0 (none) to ${MAX_PROVISIONED_CONCURRENCY}, not ${JSON.stringify(value)}`,
      ]),
    },
    {
      key: 'neonPgVersion',
      read: (settings) => neon(settings).pgVersion,
      accepted: [NEON_PG_VERSIONS.min, NEON_PG_VERSIONS.max],
      refused: [NEON_PG_VERSIONS.min - 1, NEON_PG_VERSIONS.max + 1, 16.5].map((version) => [
        String(version),
        `context neonPgVersion: Neon offers Postgres ${NEON_PG_VERSIONS.min} to ${NEON_PG_VERSIONS.max}, not ${version} (https://neon.com/docs/reference/compatibility)`,
      ]),
    },
    {
      key: 'neonSuspendTimeoutSeconds',
      read: (settings) => neon(settings).compute?.suspendTimeoutSeconds,
      accepted: [-1, 0, 60, 604_800],
      refused: ['59', '604801', '5m'].map((value) => [
        value,
        `context neonSuspendTimeoutSeconds must be 0 (Neon's default: suspend after 5 minutes idle), -1 (never suspend) or 60 to 604800 seconds, not "${value}" (https://neon.com/docs/manage/computes#scale-to-zero-configuration)`,
      ]),
    },
    {
      key: 'neonHistoryRetentionSeconds',
      read: (settings) => neon(settings).historyRetentionSeconds,
      accepted: [0, 21_600, 2_592_000],
      refused: ['-1', '2592001', '1.5', '1d'].map((value) => [
        value,
        `context neonHistoryRetentionSeconds must be a whole number of seconds from 0 to 2592000 (30 days), not "${value}"; the Free plan allows 21600 (6 hours), Launch up to 604800 (7 days), Scale up to 2592000 (https://neon.com/docs/introduction/restore-window)`,
      ]),
    },
    ...Object.entries(LIMIT_CONTEXT).map(([key, name]): Case => {
      const { min, max } = INTEGER_SETTINGS[name]
      const message = `context ${key} must be a whole number from ${min} to ${max}`
      return {
        key,
        read: (settings) => settings.limits[name],
        accepted: [min, max],
        refused: [
          [String(min - 1), message],
          [String(max + 1), message],
          [String(min + 0.5), message],
        ],
      }
    }),
  ]

  it.each(cases)('$key', ({ key, read, accepted, refused }) => {
    for (const value of accepted) {
      // From the command line (a string) and from cdk.json (a number) alike.
      expect(read(readSettings({ [key]: String(value) })), `${key}=${value}`).toBe(value)
      expect(read(readSettings({ [key]: value })), `${key}=${value}`).toBe(value)
    }
    for (const [value, message] of refused) expect(refusal({ [key]: value }), `${key}=${value}`).toBe(message)
  })

  it('refuses a rotation schedule shorter than the rotation’s wait with the given token lifetime', () => {
    // 24 h tokens: the retired key's last token lives 24 h 15 min after a rotation, so three days at least.
    expect(
      readSettings({ accessTokenTtlSeconds: 86_400, signingKeyRotationDays: 3 }).signingKeyRotationDays,
    ).toBe(3)
    expect(refusal({ accessTokenTtlSeconds: 86_400, signingKeyRotationDays: 2 })).toMatch(
      /^context signingKeyRotationDays must be at least 3 with access tokens of 86400 s: .* refused until 24 h 15 min after the last/,
    )
    expect(
      readSettings({ accessTokenTtlSeconds: 60, signingKeyRotationDays: 2 }).signingKeyRotationDays,
    ).toBe(2)
  })

  it('passes only the limits given, by setting name', () => {
    expect(readSettings({ loginMaxFailures: '5', auditRetentionDays: 90 }).limits).toEqual({
      LOGIN_MAX_FAILURES: 5,
      AUDIT_RETENTION_DAYS: 90,
    })
  })
})

describe('the admin routes’ throttling', () => {
  it('is lower than the stage’s by default, and set apart from it', () => {
    expect(ADMIN_THROTTLE_DEFAULTS).toEqual({ rateLimit: 5, burstLimit: 10 })
    const { throttle, adminThrottle } = readSettings({})
    expect(adminThrottle.rateLimit).toBeLessThan(throttle.rateLimit)
    expect(adminThrottle.burstLimit).toBeLessThan(throttle.burstLimit)
    expect(readSettings({ throttleRateLimit: 20, throttleBurstLimit: 40 }).adminThrottle).toEqual(
      ADMIN_THROTTLE_DEFAULTS,
    )
  })

  it('may rise with the stage’s, never above it; unset under a lower stage, it is the stage’s', () => {
    expect(
      readSettings({
        throttleRateLimit: 500,
        throttleBurstLimit: 1000,
        adminThrottleRateLimit: 500,
        adminThrottleBurstLimit: 1000,
      }).adminThrottle,
    ).toEqual({ rateLimit: 500, burstLimit: 1000 })
    expect(readSettings({ throttleRateLimit: '2', throttleBurstLimit: '4' }).adminThrottle).toEqual({
      rateLimit: 2,
      burstLimit: 4,
    })
    expect(refusal({ throttleRateLimit: '2', adminThrottleRateLimit: '3' })).toBe(
      "context adminThrottleRateLimit (3) is above throttleRateLimit (2): the admin routes' limits may not exceed every other route's; lower adminThrottleRateLimit or raise throttleRateLimit",
    )
    expect(refusal({ throttleBurstLimit: '4', adminThrottleBurstLimit: '5' })).toMatch(
      /^context adminThrottleBurstLimit \(5\) is above throttleBurstLimit \(4\)/,
    )
    // A fractional stage burst cannot be a route's (an integer in CloudFormation): the admin burst must be given.
    expect(refusal({ throttleBurstLimit: '2.5' })).toBe(
      "context adminThrottleBurstLimit must be a whole number, and unset it is throttleBurstLimit's 2.5: set it",
    )
  })
})

describe('switches', () => {
  it.each(['docs', 'neonDeleteOnRemoval'])('%s takes true or false, as text or JSON', (key) => {
    const read = (value: unknown) => {
      const settings = readSettings({ [key]: value })
      return key === 'docs' ? settings.docs : neon(settings).deleteOnRemoval
    }
    expect([read(true), read('true'), read(false), read('false')]).toEqual([true, true, false, false])
    expect(refusal({ [key]: 'yes' })).toBe(`context ${key} must be true or false, not "yes"`)
  })
})

describe('the issuer', () => {
  it('is an https URL without a trailing slash, path allowed', () => {
    for (const url of ['https://auth.example.com', 'https://example.com/auth'])
      expect(readSettings({ jwtIssuer: url }).jwtIssuer).toBe(url)
    for (const url of ['auth.example.com', 'http://auth.example.com', 'https://auth.example.com/'])
      expect(refusal({ jwtIssuer: url })).toBe(
        `context jwtIssuer must be an https URL without a trailing slash, not ${JSON.stringify(url)}`,
      )
  })
})

describe('CORS origins', () => {
  it('come comma-separated, as a JSON list, or as a cdk.json array', () => {
    const both = ['https://app.example.com', 'http://localhost:5173']
    expect(
      readSettings({ corsOrigins: 'https://app.example.com, http://localhost:5173' }).corsOrigins,
    ).toEqual(both)
    expect(readSettings({ corsOrigins: JSON.stringify(both) }).corsOrigins).toEqual(both)
    expect(readSettings({ corsOrigins: both }).corsOrigins).toEqual(both)
  })

  it('refuse anything but an origin', () => {
    expect(refusal({ corsOrigins: 'https://app.example.com/path' })).toBe(
      'context corsOrigins: CORS origin "https://app.example.com/path" is not an origin like http://localhost:5173 (no path, no slash)',
    )
  })
})

describe('the database', () => {
  it('is the engineer’s secret when databaseSecretName names one', () => {
    expect(readSettings({ databaseSecretName: 'prod/papa-auth/database' }).database).toEqual({
      kind: 'existing',
      secretName: 'prod/papa-auth/database',
    })
  })

  it('takes back the Neon project context neonAdoptProjectId names, and refuses what is no project id', () => {
    expect(neon(readSettings({ neonAdoptProjectId: 'quiet-bird-12345678' })).adoptProjectId).toBe(
      'quiet-bird-12345678',
    )
    expect(neon(readSettings({})).adoptProjectId).toBeUndefined()
    for (const value of ['Quiet-Bird', 'quiet bird', '-quiet', 'quiet--bird', 'x'.repeat(65)])
      expect(refusal({ neonAdoptProjectId: value }), value).toBe(
        `context neonAdoptProjectId must be a Neon project id (as the Neon console shows it, e.g. quiet-bird-12345678), not ${JSON.stringify(value)}`,
      )
  })

  it('refuses the Neon project’s history window and its taking back with a database of the engineer’s', () => {
    expect(
      refusal({
        databaseSecretName: 'ops/db',
        neonHistoryRetentionSeconds: 86400,
        neonAdoptProjectId: 'a-1',
      }),
    ).toBe(
      'context neonHistoryRetentionSeconds and neonAdoptProjectId given with databaseSecretName: they concern the Neon project the stack creates or takes back, and with your own database it has none.',
    )
  })

  it('refuses the Neon compute settings with a database of the engineer’s', () => {
    expect(
      refusal({ databaseSecretName: 'ops/db', neonSuspendTimeoutSeconds: '-1', neonMinComputeUnits: 1 }),
    ).toBe(
      'context neonSuspendTimeoutSeconds and neonMinComputeUnits given with databaseSecretName: they set the compute of the Neon project the stack creates, and with your own database it creates none. Set them on your database instead.',
    )
  })

  it('takes a Neon region Neon serves, and refuses another, naming those it does', () => {
    expect(neon(readSettings({ neonRegion: 'aws-us-east-2' })).regionId).toBe('aws-us-east-2')
    expect(refusal({ neonRegion: 'eu-central-1' })).toBe(
      `context neonRegion: Neon has no region eu-central-1; it creates projects in ${[...NEON_REGIONS.aws, ...NEON_REGIONS.azure].join(', ')} (https://neon.com/docs/introduction/regions)`,
    )
  })

  it('sizes the compute with both ends or neither, within what Neon offers', () => {
    const units = (min: unknown, max: unknown) =>
      neon(readSettings({ neonMinComputeUnits: min, neonMaxComputeUnits: max })).compute?.computeUnits
    expect(units('0.25', '0.25')).toEqual({ min: 0.25, max: 0.25 })
    expect(units(8, 16)).toEqual({ min: 8, max: 16 })
    expect(units(56, 56)).toEqual({ min: 56, max: 56 })
    expect(refusal({ neonMinComputeUnits: '1' })).toBe(
      "context neonMaxComputeUnits is missing: neonMinComputeUnits and neonMaxComputeUnits go together (equal for a fixed size, neither for Neon's)",
    )
    expect(refusal({ neonMaxComputeUnits: '1' })).toMatch(/^context neonMinComputeUnits is missing/)
    expect(refusal({ neonMinComputeUnits: '1', neonMaxComputeUnits: '10' })).toBe(
      'context neonMinComputeUnits and neonMaxComputeUnits ("1" to "10"): autoscaling spans at most 8 CU, not 1 to 10 (https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration)',
    )
    expect(refusal({ neonMinComputeUnits: '2', neonMaxComputeUnits: '1' })).toMatch(
      /the minimum \(2 CU\) is above the maximum \(1 CU\)$/,
    )
    expect(refusal({ neonMinComputeUnits: 58, neonMaxComputeUnits: 58 })).toMatch(
      /Neon has no compute of 58 CU/,
    )
  })
})

describe('password reset mail', () => {
  it('is on with a sender and a reset page: the sender’s domain is the SES identity, the product name the default', () => {
    expect(readSettings(MAIL).mail).toEqual({
      from: 'Past Questions <no-reply@mail.example.com>',
      fromAddress: 'no-reply@mail.example.com',
      sesIdentity: 'mail.example.com',
      passwordResetUrl: 'https://app.example.com/reset-password?token={token}',
      productName: TEXT_DEFAULTS.PRODUCT_NAME,
    })
  })

  it('takes an SES identity that covers the sender: its address, its domain or a parent domain', () => {
    for (const sesIdentity of ['no-reply@mail.example.com', 'mail.example.com', 'example.com'])
      expect(readSettings({ ...MAIL, sesIdentity, productName: ' Papa ' }).mail).toMatchObject({
        sesIdentity,
        productName: 'Papa',
      })
    expect(refusal({ ...MAIL, sesIdentity: 'other.example.com' })).toBe(
      `context sesIdentity "other.example.com" does not cover the sender no-reply@mail.example.com: give the sender's address, its domain or a parent domain (the SES identity verified for it)`,
    )
  })

  it('refuses half the settings, or refinements without them', () => {
    expect(refusal({ mailFrom: MAIL.mailFrom })).toBe(
      'context passwordResetUrl is missing: mailFrom and passwordResetUrl go together (set both to send password reset mail, neither to send none)',
    )
    expect(refusal({ passwordResetUrl: MAIL.passwordResetUrl })).toMatch(/^context mailFrom is missing/)
    expect(refusal({ sesIdentity: 'example.com', productName: 'Papa' })).toBe(
      'context sesIdentity and productName given without mailFrom and passwordResetUrl: set those two to send password reset mail',
    )
  })

  it('takes a deletion page beside them, by the same rule, and refuses one without mail', () => {
    const accountDeletionUrl = 'https://app.example.com/delete-account?token={token}'
    expect(readSettings({ ...MAIL, accountDeletionUrl }).mail).toMatchObject({ accountDeletionUrl })
    expect(readSettings(MAIL).mail?.accountDeletionUrl).toBeUndefined()
    expect(refusal({ accountDeletionUrl })).toBe(
      'context accountDeletionUrl given without mailFrom and passwordResetUrl: set those two to send password reset mail',
    )
    expect(refusal({ ...MAIL, accountDeletionUrl: 'delete?token={token}' })).toMatch(
      /^context accountDeletionUrl: ACCOUNT_DELETION_URL must be an absolute http\(s\) URL/,
    )
  })

  it('refuses a sender SES cannot send as, and a reset page the mail sender would refuse', () => {
    for (const mailFrom of ['Past Questions', 'a@example.com, b@example.com', 'x@localhost'])
      expect(refusal({ ...MAIL, mailFrom })).toBe(
        `context mailFrom must be one sender, "Name <address>" or an address, not ${JSON.stringify(mailFrom)}`,
      )
    expect(refusal({ ...MAIL, passwordResetUrl: 'https://app.example.com/{token}?again={token}' })).toBe(
      'context passwordResetUrl: PASSWORD_RESET_URL may contain {token} once at most, not "https://app.example.com/{token}?again={token}"',
    )
    expect(refusal({ ...MAIL, passwordResetUrl: '/reset?token={token}' })).toMatch(
      /^context passwordResetUrl: PASSWORD_RESET_URL must be an absolute http\(s\) URL/,
    )
  })
})

describe('where the alarms go', () => {
  const topicArn = 'arn:aws:sns:eu-central-1:123456789012:ops-alarms'

  it('is a topic of the stack’s own, unsubscribed, unless context says otherwise', () => {
    expect(readSettings({}).alarms).toEqual({ topic: 'created', email: undefined })
  })

  it('subscribes the alarmEmail address to that topic', () => {
    expect(readSettings({ alarmEmail: ' ops@example.com ' }).alarms).toEqual({
      topic: 'created',
      email: 'ops@example.com',
    })
  })

  it('is the operator’s topic with alarmTopicArn, in any partition and region', () => {
    for (const arn of [
      topicArn,
      'arn:aws-us-gov:sns:us-gov-west-1:123456789012:alarms_1',
      'arn:aws-cn:sns:cn-north-1:123456789012:alarms',
    ])
      expect(readSettings({ alarmTopicArn: arn }).alarms).toEqual({ topic: 'existing', topicArn: arn })
  })

  it('refuses both at once, naming what to do instead', () => {
    expect(refusal({ alarmEmail: 'ops@example.com', alarmTopicArn: topicArn })).toBe(
      'context alarmEmail and alarmTopicArn are both given: the address is subscribed to a topic the stack creates, and with alarmTopicArn it creates none. Subscribe the address to your topic instead, or drop alarmTopicArn.',
    )
  })

  it('refuses an address that is not one address', () => {
    for (const alarmEmail of ['ops', 'ops@localhost', 'a@example.com,b@example.com', 'Ops <ops@example.com>'])
      expect(refusal({ alarmEmail })).toBe(
        `context alarmEmail must be one email address, not ${JSON.stringify(alarmEmail)}`,
      )
  })

  it('refuses anything but a standard topic’s ARN', () => {
    for (const alarmTopicArn of [
      'ops-alarms',
      'arn:aws:sqs:eu-central-1:123456789012:ops-alarms',
      'arn:aws:sns:eu-central-1:12345:ops-alarms',
      'arn:aws:sns:eu-central-1:123456789012:ops alarms',
      'arn:aws:sns:eu-central-1:123456789012:ops-alarms:1a2b3c4d-subscription',
    ])
      expect(refusal({ alarmTopicArn })).toBe(
        `context alarmTopicArn must be an SNS topic's ARN, arn:<partition>:sns:<region>:<account>:<name>, not ${JSON.stringify(alarmTopicArn)}`,
      )
    expect(refusal({ alarmTopicArn: `${topicArn}.fifo` })).toMatch(
      /^context alarmTopicArn must be a standard topic, not a FIFO one/,
    )
  })
})
