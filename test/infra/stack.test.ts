import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { App, Stack, Validations } from 'aws-cdk-lib'
import { Match } from 'aws-cdk-lib/assertions'
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import * as lambda from 'aws-cdk-lib/aws-lambda'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { AwsSolutionsChecks } from 'cdk-nag'
import type { IConstruct } from 'constructs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  API_BASE_PATH,
  fallbackRoute,
  lambdas,
  operatorFunctions,
  type Route,
  routes,
} from '#functions/routes'
import { MIGRATIONS_FOLDER } from '#infra/bundling'
import { AdminRoutes, MAX_ALARM_METRICS } from '#infra/constructs/admin-routes'
import { PROVISIONED_FUNCTIONS } from '#infra/constructs/http-api'
import { hashFolder } from '#infra/constructs/operator-functions'
import { fromApiGatewayResult, lambdaContext } from '#infra/local/event'
import { loadHandler } from '#infra/local/server'
import { NEON_API_URL } from '#infra/neon/api'
import { NEON_REGIONS } from '#infra/neon/regions'
import { MAX_PROVISIONED_CONCURRENCY } from '#infra/settings'
import { DATABASE_NAME, DATABASE_ROLE, defineApp } from '#infra/stack'
import { CORS_POLICY } from '#shared/http/cors'
import { apiEvent } from '#test/helpers/events'
import { functionNamed, MAIL_CONTEXT, type Resource, type Synthesized, synthesize } from './synth.ts'

const apiRoutes = routes.filter((route) => !route.docs)
const docsRoutes = routes.filter((route) => route.docs)
/** The admin routes, as routes.ts declares them: the only ones with their own throttling and alarm. */
const superuserRoutes = routes.filter((route) => route.callers === 'superuser')
const keyOf = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${route.path}`
/** Functions that query the database, so must not be updated before the migrations ran. */
const databaseReaders = [
  ...new Set(
    apiRoutes
      .map((route) => route.function)
      .filter((name) => (lambdas[name] as { reads?: readonly string[] }).reads?.includes('database')),
  ),
  'seed-admin',
  'cleanup',
  'send-mail',
]
/** The functions that queue mail (routes.ts): the only ones that may invoke the mail sender. */
const mailQueuers = Object.entries(lambdas)
  .filter(([, spec]) => (spec as { queuesMail?: boolean }).queuesMail)
  .map(([name]) => name)
  .sort()

/** The stack as deployed with password reset mail (the mail context); `noMail` below, without it. */
let app: Synthesized

beforeAll(() => {
  app = synthesize({ context: MAIL_CONTEXT })
})
afterAll(() => app?.remove())

const byType = (synthesized: Synthesized, type: string) =>
  Object.entries(synthesized.resources).filter(([, resource]) => resource.Type === type)

const resource = (synthesized: Synthesized, logicalId: string): Resource => {
  const found = synthesized.resources[logicalId]
  if (!found) throw new Error(`no resource ${logicalId}`)
  return found
}

const onlyOf = (synthesized: Synthesized, type: string): [string, Resource] => {
  const found = byType(synthesized, type)
  expect(found).toHaveLength(1)
  return found[0] as [string, Resource]
}

const logicalIdOf = (synthesized: Synthesized, name: string) =>
  synthesized.logicalId(functionNamed(synthesized, name))

/** The Trigger that runs migrate on deploy (the other one makes the first signing key set). */
const migrationTrigger = (synthesized: Synthesized): [string, Resource] => [
  'MigrateOnDeploy',
  resource(synthesized, 'MigrateOnDeploy'),
]

/** Renders a CloudFormation value with `<LogicalId>` for each Ref (`<Id.Attr>` for GetAtt), so ARNs compare as text. */
function render(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>
    if ('Ref' in object) return `<${String(object.Ref)}>`
    if ('Fn::GetAtt' in object) return `<${(object['Fn::GetAtt'] as string[]).join('.')}>`
    if ('Fn::Join' in object) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]]
      return parts.map(render).join(separator)
    }
  }
  return JSON.stringify(value)
}

interface Statement {
  Action: string | string[]
  Effect: string
  Resource: unknown
}

/** Every statement granted to a role: its attached policies, inline policies and managed policies. */
function grantsOf(synthesized: Synthesized, roleId: string) {
  const role = resource(synthesized, roleId)
  const statements: Statement[] = []
  for (const [, policy] of byType(synthesized, 'AWS::IAM::Policy')) {
    const roles = (policy.Properties.Roles as unknown[]).map(render)
    if (roles.includes(`<${roleId}>`))
      statements.push(...(policy.Properties.PolicyDocument.Statement as Statement[]))
  }
  return {
    statements,
    managed: (role.Properties.ManagedPolicyArns ?? []) as unknown[],
    inline: (role.Properties.Policies ?? []) as unknown[],
  }
}

const actions = (statement: Statement) => [statement.Action].flat()
const resources = (statement: Statement) => [statement.Resource].flat().map(render)

/** The secrets a function's role may read, as rendered ARNs. */
function secretsReadBy(synthesized: Synthesized, functionId: string): string[] {
  const roleId = render(resource(synthesized, functionId).Properties.Role).replace(/^<|\.Arn>$/g, '')
  return grantsOf(synthesized, roleId)
    .statements.filter((statement) => actions(statement).includes('secretsmanager:GetSecretValue'))
    .flatMap(resources)
    .sort()
}

const secretId = (synthesized: Synthesized, prefix: string) => {
  const found = byType(synthesized, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith(prefix))
  if (!found) throw new Error(`no secret ${prefix}`)
  return found[0]
}

describe('the API', () => {
  it('routes every entry of routes.ts to its own function, and everything else to not-found', () => {
    const [apiId] = onlyOf(app, 'AWS::ApiGatewayV2::Api')
    const integrations = Object.fromEntries(byType(app, 'AWS::ApiGatewayV2::Integration'))
    const targetOf = (routeKey: string) => {
      const found = byType(app, 'AWS::ApiGatewayV2::Route').filter(
        ([, r]) => r.Properties.RouteKey === routeKey,
      )
      expect(found, routeKey).toHaveLength(1)
      const [, route] = found[0] as [string, Resource]
      expect(render(route.Properties.ApiId)).toBe(`<${apiId}>`)
      const integrationId = render(route.Properties.Target).replace('integrations/<', '').replace('>', '')
      const integration = integrations[integrationId]
      expect(integration?.Properties.IntegrationType).toBe('AWS_PROXY')
      expect(integration?.Properties.PayloadFormatVersion).toBe('2.0')
      return render(integration?.Properties.IntegrationUri)
    }

    for (const route of apiRoutes) {
      expect(targetOf(`${route.method} ${route.path}`)).toBe(`<${logicalIdOf(app, route.function)}.Arn>`)
    }
    expect(targetOf('$default')).toBe(`<${logicalIdOf(app, fallbackRoute.function)}.Arn>`)
    expect(byType(app, 'AWS::ApiGatewayV2::Route')).toHaveLength(apiRoutes.length + 1)
    const functionsBehindRoutes = new Set([
      ...apiRoutes.map((route) => route.function),
      fallbackRoute.function,
    ])
    for (const name of functionsBehindRoutes) {
      app.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [logicalIdOf(app, name), 'Arn'] },
        Principal: 'apigateway.amazonaws.com',
      })
    }
  })

  it('serves from the $default stage (no stage prefix in paths), throttled and access-logged', () => {
    const [, stage] = onlyOf(app, 'AWS::ApiGatewayV2::Stage')
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    })
    const accessLogs = render(stage.Properties.AccessLogSettings.DestinationArn).replace(/^<|\.Arn>$/g, '')
    expect(resource(app, accessLogs).Properties.RetentionInDays).toBe(30)
    expect(JSON.parse(stage.Properties.AccessLogSettings.Format).requestId).toBe('$context.requestId')
    expect(render(app.outputs.ApiUrl?.Value)).toMatch(
      /^https:\/\/<Api\w+>\.execute-api\.<AWS::Region>.*\/api\/v1$/,
    )
  })

  it('answers no CORS preflight unless origins are configured', () => {
    const [, api] = onlyOf(app, 'AWS::ApiGatewayV2::Api')
    expect(api.Properties.CorsConfiguration).toBeUndefined()
  })

  it('deploys no documentation route unless the docs context is on', () => {
    const keys = byType(app, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties.RouteKey)
    for (const route of docsRoutes) expect(keys).not.toContain(`${route.method} ${route.path}`)
    for (const name of new Set(docsRoutes.map((route) => route.function))) {
      expect(app.stack.functions.has(name)).toBe(false)
    }
  })
})

/** The alarm on the admin routes' 5xx. */
const adminAlarmOf = (synthesized: Synthesized): [string, Resource] => {
  const found = byType(synthesized, 'AWS::CloudWatch::Alarm').filter(([id]) =>
    id.startsWith('AdminServerErrorsAlarm'),
  )
  expect(found).toHaveLength(1)
  return found[0] as [string, Resource]
}

/** The alarm topic the stack creates. */
const alarmTopicOf = (synthesized: Synthesized) => onlyOf(synthesized, 'AWS::SNS::Topic')[0]

describe('the admin routes', () => {
  it('are the routes declared for superusers: PATCH among them, each deployed', () => {
    expect(superuserRoutes.map(keyOf)).toEqual(
      expect.arrayContaining([`GET ${API_BASE_PATH}/admin/users`, `PATCH ${API_BASE_PATH}/admin/users/{id}`]),
    )
    const deployed = byType(app, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties.RouteKey)
    expect(deployed).toEqual(expect.arrayContaining(superuserRoutes.map(keyOf)))
  })

  it('get a route setting each: lower throttling than the stage, detailed metrics', () => {
    const [, stage] = onlyOf(app, 'AWS::ApiGatewayV2::Stage')
    const settings = stage.Properties.RouteSettings as Record<string, unknown>
    // Beside them, only the two routes whose latency is alarmed on (see 'alarms' below).
    const watched = [`POST ${API_BASE_PATH}/auth/login`, `GET ${API_BASE_PATH}/users/me`]
    expect(Object.keys(settings).sort()).toEqual([...superuserRoutes.map(keyOf), ...watched].sort())
    for (const [key, value] of Object.entries(settings).filter(([key]) => !watched.includes(key)))
      expect(value, key).toEqual({
        ThrottlingRateLimit: 5,
        ThrottlingBurstLimit: 10,
        DetailedMetricsEnabled: true,
      })
    // The other routes keep the stage's default, which has no detailed metrics.
    expect(stage.Properties.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    })
  })

  it('exist before the stage that names them (API Gateway refuses a setting for a route it cannot find)', () => {
    const [, stage] = onlyOf(app, 'AWS::ApiGatewayV2::Stage')
    const routeIds = byType(app, 'AWS::ApiGatewayV2::Route')
      .filter(([, route]) => superuserRoutes.map(keyOf).includes(route.Properties.RouteKey))
      .map(([id]) => id)
    expect(routeIds).toHaveLength(superuserRoutes.length)
    expect(stage.DependsOn).toEqual(expect.arrayContaining(routeIds))
  })

  it('raise one alarm on a 5xx from any of them in five minutes, each route’s 5xx filled with 0 and summed', () => {
    const [alarmId, alarm] = adminAlarmOf(app)
    const [apiId] = onlyOf(app, 'AWS::ApiGatewayV2::Api')
    const { Metrics: metrics, ...rest } = alarm.Properties
    expect(rest).toEqual({
      AlarmDescription: expect.stringMatching(/^papa-auth: an admin route .* answered 5xx/),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: alarmTopicOf(app) }],
      OKActions: [{ Ref: alarmTopicOf(app) }],
    })
    const [expression, ...reads] = metrics as {
      Id: string
      Expression?: string
      ReturnData: boolean
      MetricStat?: {
        Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] }
        Period: number
        Stat: string
      }
    }[]
    expect(expression).toMatchObject({ ReturnData: true })
    expect(expression?.Expression?.split(' + ').sort()).toEqual(
      reads.map(({ Id }) => `FILL(${Id}, 0)`).sort(),
    )
    // One read per admin route: API Gateway's per-route 5xx (namespace, metric and dimensions as AWS documents them).
    expect(reads.map((read) => read.MetricStat)).toEqual(
      expect.arrayContaining(
        superuserRoutes.map((route) => ({
          Metric: {
            Namespace: 'AWS/ApiGateway',
            MetricName: '5xx',
            Dimensions: [
              { Name: 'ApiId', Value: { Ref: apiId } },
              { Name: 'Method', Value: route.method },
              { Name: 'Resource', Value: route.path },
              { Name: 'Stage', Value: '$default' },
            ],
          },
          Period: 300,
          Stat: 'Sum',
        })),
      ),
    )
    expect(reads).toHaveLength(superuserRoutes.length)
    for (const read of reads) expect(read.ReturnData).toBe(false)
    expect(app.outputs.AdminServerErrorsAlarmName?.Value).toEqual({ Ref: alarmId })
  })

  it('fail the synth when they outgrow what one alarm can read', () => {
    const stack = new Stack(new App(), 'Bare')
    const httpApi = new apigw.HttpApi(stack, 'Api', { createDefaultStage: false })
    const stage = new apigw.HttpStage(stack, 'Stage', { httpApi, stageName: '$default' })
    const fn = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => ({})'),
    })
    const integration = new HttpLambdaIntegration('Integration', fn)
    const adminRoutes = (count: number, prefix: string) =>
      Array.from({ length: count }, (_, index) => {
        const route: Route = {
          method: 'GET',
          path: `/admin/${prefix}/${index}`,
          function: 'admin-list-users',
          callers: 'superuser',
        }
        const [resource] = httpApi.addRoutes({
          path: route.path,
          methods: [apigw.HttpMethod.GET],
          integration,
        })
        if (!resource) throw new Error('no route')
        return { route, resource }
      })
    const throttle = { rateLimit: 5, burstLimit: 10 }
    expect(
      () =>
        new AdminRoutes(stack, 'TooMany', {
          httpApi,
          stage,
          routes: adminRoutes(MAX_ALARM_METRICS + 1, 'many'),
          throttle,
        }),
    ).toThrow(
      `${MAX_ALARM_METRICS + 1} admin routes, and one alarm reads at most ${MAX_ALARM_METRICS} metrics`,
    )
    expect(
      new AdminRoutes(stack, 'Enough', {
        httpApi,
        stage,
        routes: adminRoutes(MAX_ALARM_METRICS, 'enough'),
        throttle,
      }).serverErrorsAlarm,
    ).toBeDefined()
  })
})

describe('the JWT authorizer', () => {
  const protectedRoutes = apiRoutes.filter((route) => route.callers === 'token')
  const apiEndpoint = (synthesized: Synthesized) => ({
    'Fn::GetAtt': [onlyOf(synthesized, 'AWS::ApiGatewayV2::Api')[0], 'ApiEndpoint'],
  })

  it('is one JWT authorizer whose issuer is the API’s own URL and whose audience is the tokens’ audience', () => {
    const [, authorizer] = onlyOf(app, 'AWS::ApiGatewayV2::Authorizer')
    expect(authorizer.Properties).toEqual({
      ApiId: { Ref: onlyOf(app, 'AWS::ApiGatewayV2::Api')[0] },
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: apiEndpoint(app), Audience: ['papa-api'] },
      Name: 'access-token',
    })
    expect(app.outputs.JwtIssuer?.Value).toEqual(apiEndpoint(app))
  })

  it('guards the sample claims route and no other; $default has none', () => {
    expect(protectedRoutes.map((route) => `${route.method} ${route.path}`)).toEqual([
      'GET /api/v1/auth/claims',
    ])
    const [authorizerId] = onlyOf(app, 'AWS::ApiGatewayV2::Authorizer')
    const guarded: string[] = []
    for (const [, route] of byType(app, 'AWS::ApiGatewayV2::Route')) {
      const { RouteKey, AuthorizationType, AuthorizerId } = route.Properties
      if (AuthorizationType === 'JWT') {
        expect(AuthorizerId, RouteKey).toEqual({ Ref: authorizerId })
        guarded.push(RouteKey)
      } else {
        expect(AuthorizationType ?? 'NONE', RouteKey).toBe('NONE')
        expect(AuthorizerId, RouteKey).toBeUndefined()
      }
    }
    expect(guarded).toEqual(['GET /api/v1/auth/claims'])
  })

  it('gives every function that reads the token settings the same issuer, without a dependency cycle', () => {
    const readers = [...app.stack.functions.keys()].filter(
      (name) => resource(app, logicalIdOf(app, name)).Properties.Environment?.Variables?.JWT_AUDIENCE,
    )
    expect(readers).toEqual(expect.arrayContaining(['login', 'token', 'refresh', 'me', 'claims', 'cleanup']))
    for (const name of readers) {
      const variables = resource(app, logicalIdOf(app, name)).Properties.Environment.Variables
      expect(variables.JWT_ISSUER, name).toEqual(apiEndpoint(app))
    }
    expect(dependencyCycle(app)).toBeUndefined()
  })

  it('takes the jwtIssuer context instead (a custom domain), for the authorizer and every function alike', () => {
    const custom = synthesize({ context: { jwtIssuer: 'https://auth.example.com' } })
    try {
      const [, authorizer] = onlyOf(custom, 'AWS::ApiGatewayV2::Authorizer')
      expect(authorizer.Properties.JwtConfiguration.Issuer).toBe('https://auth.example.com')
      for (const name of ['login', 'claims', 'cleanup']) {
        const variables = resource(custom, logicalIdOf(custom, name)).Properties.Environment.Variables
        expect(variables.JWT_ISSUER, name).toBe('https://auth.example.com')
      }
    } finally {
      custom.remove()
    }
  })

  it.each(['auth.example.com', 'http://auth.example.com', 'https://auth.example.com/'])(
    'refuses the jwtIssuer %s (API Gateway fetches <issuer>/.well-known/… over https)',
    (jwtIssuer) => {
      expect(() => synthesize({ context: { jwtIssuer } })).toThrow(/jwtIssuer must be an https URL/)
    },
  )
})

/** A cycle of references (Ref, Fn::GetAtt, DependsOn) between the template's resources, if there is one. */
function dependencyCycle(synthesized: Synthesized): string[] | undefined {
  const referenced = (value: unknown, into: Set<string>): Set<string> => {
    if (Array.isArray(value)) for (const item of value) referenced(item, into)
    else if (typeof value === 'object' && value !== null) {
      const object = value as Record<string, unknown>
      if (typeof object.Ref === 'string') into.add(object.Ref)
      const getAtt = object['Fn::GetAtt']
      if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') into.add(getAtt[0])
      for (const item of Object.values(object)) referenced(item, into)
    }
    return into
  }
  const edges = new Map(
    Object.entries(synthesized.resources).map(([id, r]) => [
      id,
      [...referenced([r.Properties, r.DependsOn ?? []], new Set(r.DependsOn ?? []))].filter(
        (target) => target in synthesized.resources,
      ),
    ]),
  )
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (id: string, path: string[]): string[] | undefined => {
    if (state.get(id) === 'done') return undefined
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id]
    state.set(id, 'visiting')
    for (const target of edges.get(id) ?? []) {
      const cycle = visit(target, [...path, id])
      if (cycle) return cycle
    }
    state.set(id, 'done')
    return undefined
  }
  for (const id of edges.keys()) {
    const cycle = visit(id, [])
    if (cycle) return cycle
  }
  return undefined
}

describe('CORS, with origins configured', () => {
  const ORIGINS = ['https://app.example.com', 'http://localhost:5173']
  let corsApp: Synthesized
  beforeAll(() => {
    corsApp = synthesize({ context: { corsOrigins: ORIGINS.join(',') } })
  })
  afterAll(() => corsApp?.remove())

  it("configures the API's CorsConfiguration from the one CORS policy the local server applies too", () => {
    const [, api] = onlyOf(corsApp, 'AWS::ApiGatewayV2::Api')
    expect(api.Properties.CorsConfiguration).toEqual({
      AllowOrigins: ORIGINS,
      AllowMethods: [...CORS_POLICY.allowMethods],
      AllowHeaders: [...CORS_POLICY.allowHeaders],
      ExposeHeaders: [...CORS_POLICY.exposeHeaders],
      AllowCredentials: CORS_POLICY.allowCredentials,
      MaxAge: CORS_POLICY.maxAgeSeconds,
    })
  })

  it('allows every method a route declares, PATCH included, and OPTIONS for the preflight itself', () => {
    const [, api] = onlyOf(corsApp, 'AWS::ApiGatewayV2::Api')
    const declared = [...new Set(routes.map((route) => route.method))]
    expect(declared).toContain('PATCH')
    expect(api.Properties.CorsConfiguration.AllowMethods).toEqual(
      expect.arrayContaining([...declared, 'OPTIONS']),
    )
  })

  it('sends every preflight to a $default route without authorizer, whose function answers it 204', async () => {
    const routeResources = byType(corsApp, 'AWS::ApiGatewayV2::Route').map(([, route]) => route)
    // Routes are method-specific: no OPTIONS route, no ANY route, so API Gateway hands OPTIONS to $default.
    for (const route of routeResources) expect(route.Properties.RouteKey).not.toMatch(/^(OPTIONS|ANY) /)
    const fallback = routeResources.find((route) => route.Properties.RouteKey === '$default')
    expect(fallback?.Properties.AuthorizationType ?? 'NONE').toBe('NONE')
    expect(fallback?.Properties.AuthorizerId).toBeUndefined()

    const integrationId = render(fallback?.Properties.Target).replace(/^integrations\/<|>$/g, '')
    const target = render(resource(corsApp, integrationId).Properties.IntegrationUri)
    const name = [...corsApp.stack.functions.keys()].find(
      (candidate) => target === `<${logicalIdOf(corsApp, candidate)}.Arn>`,
    )
    expect(name).toBe(fallbackRoute.function)
    const handler = await loadHandler(String(name))
    const preflight = apiEvent('OPTIONS', '/api/v1/auth/login', undefined, {
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    })
    const answer = fromApiGatewayResult(await handler(preflight, lambdaContext(String(name))))
    expect(answer.statusCode).toBe(204)
    expect(answer.body.length).toBe(0)
  })
})

describe('the functions', () => {
  it('run Node 24 on arm64 from an esbuild bundle, with source maps, JSON logs and a log group with retention', () => {
    const ours = [...app.stack.functions.values()].map((fn) => app.logicalId(fn))
    const neonHandler = byType(app, 'AWS::Lambda::Function').find(([id]) => id.startsWith('NeonHandler'))
    expect(neonHandler).toBeDefined()
    for (const id of [...ours, neonHandler?.[0] as string]) {
      const fn = resource(app, id)
      expect(fn.Properties, id).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Environment: { Variables: expect.objectContaining({ NODE_OPTIONS: '--enable-source-maps' }) },
        LoggingConfig: { LogFormat: 'JSON' },
      })
      const logGroup = resource(app, render(fn.Properties.LoggingConfig.LogGroup).replace(/^<|>$/g, ''))
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup')
      expect(logGroup.Properties.RetentionInDays).toBe(30)
    }
  })

  it('gives every Lambda function of the stack, CDK’s own included, a log group with retention', () => {
    for (const [id, fn] of byType(app, 'AWS::Lambda::Function')) {
      const logGroupId = render(fn.Properties.LoggingConfig?.LogGroup).replace(/^<|>$/g, '')
      expect(resource(app, logGroupId).Properties.RetentionInDays, id).toBe(30)
    }
  })

  it('sizes memory and timeout per function as routes.ts says (a full vCPU where bcrypt runs)', () => {
    for (const { function: name } of [...apiRoutes, fallbackRoute, ...operatorFunctions]) {
      const { Properties } = resource(app, logicalIdOf(app, name))
      expect(Properties.MemorySize, name).toBe(lambdas[name].memoryMb)
      expect(Properties.Timeout, name).toBe(lambdas[name].timeoutSeconds)
    }
  })

  it('configures each function with the settings its code reads', () => {
    const variables = (name: string) => resource(app, logicalIdOf(app, name)).Properties.Environment.Variables
    expect(variables('login')).toMatchObject({
      JWT_ISSUER: { 'Fn::GetAtt': [onlyOf(app, 'AWS::ApiGatewayV2::Api')[0], 'ApiEndpoint'] },
      JWT_AUDIENCE: 'papa-api',
      BCRYPT_COST: '12',
    })
    expect(Object.keys(variables('migrate')).sort()).toEqual([
      'DATABASE_SECRET_ARN',
      'NODE_OPTIONS',
      'SECRETS_GENERATION',
      'STACK_ID',
    ])
    // Its own stack, whose status tells it a rollback is under way (then it does nothing).
    expect(variables('migrate').STACK_ID).toEqual({ Ref: 'AWS::StackId' })
    expect(variables('seed-admin')).toMatchObject({
      ADMIN_EMAIL: 'admin@example.com',
    })
    expect(Object.keys(variables('not-found'))).toEqual(['NODE_OPTIONS'])
    // The deletion page is told to the functions that queue mail, so a deletion-link request knows it can be mailed.
    expect(variables('account-deletion')).toMatchObject({
      ACCOUNT_DELETION_URL: 'https://app.example.com/delete-account?token={token}',
    })
    expect(variables('me').ACCOUNT_DELETION_URL).toBeUndefined()
    expect(variables('send-mail')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      MAIL_FROM: 'Past Questions <no-reply@mail.example.com>',
      PASSWORD_RESET_URL: 'https://app.example.com/reset-password?token={token}',
      ACCOUNT_DELETION_URL: 'https://app.example.com/delete-account?token={token}',
      PRODUCT_NAME: 'Past Questions',
      SECRETS_GENERATION: '1',
      DATABASE_SECRET_ARN: { Ref: secretId(app, 'DatabaseSecret') },
    })
  })
})

/** The functions that sign access tokens: the only API functions that may read the private keys. */
const SIGNERS: string[] = ['login', 'token', 'refresh']

/** Variables whose names mention secrets but which hold only settings. */
const NOT_SECRETS = new Set(['SECRETS_GENERATION', 'PASSWORD_RESET_URL', 'ACCESS_TOKEN_TTL_SECONDS'])

describe('secrets', () => {
  it('are generated by Secrets Manager at deploy: no value in the template', () => {
    for (const [id, secret] of byType(app, 'AWS::SecretsManager::Secret')) {
      expect(secret.Properties.SecretString, id).toBeUndefined()
    }
    // The key set and its published keys start as placeholders; the deploy's first key set writes both.
    for (const prefix of ['SigningKeys', 'PublicKeys']) {
      expect(resource(app, secretId(app, prefix)).Properties.GenerateSecretString, prefix).toEqual({
        PasswordLength: 32,
        ExcludePunctuation: true,
      })
    }
    app.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp('admin account'),
      GenerateSecretString: { PasswordLength: 32, ExcludePunctuation: true },
    })
  })

  it('never appear in a function variable, a property, an output or a dynamic reference', () => {
    const text = JSON.stringify({ resources: app.resources, outputs: app.outputs })
    expect(text).not.toMatch(/postgres(ql)?:\/\//i)
    expect(text).not.toContain('{{resolve:secretsmanager')
    expect(text).not.toMatch(/"SecretString"\s*:/)
    for (const [id, fn] of byType(app, 'AWS::Lambda::Function')) {
      for (const [name, value] of Object.entries(fn.Properties.Environment?.Variables ?? {})) {
        if (/SECRET|PASSWORD|KEY|TOKEN|DATABASE_URL/.test(name) && !NOT_SECRETS.has(name)) {
          expect(name, `${id} ${name}`).toMatch(/_ARN$/)
          expect(value, `${id} ${name}`).toEqual({ Ref: expect.any(String) })
        }
      }
    }
    const secrets = new Set(byType(app, 'AWS::SecretsManager::Secret').map(([id]) => id))
    for (const [name, output] of Object.entries(app.outputs)) {
      const value = JSON.stringify(output.Value)
      // A secret appears in an output only as its ARN (a Ref), never through an attribute.
      for (const id of secrets) expect(value, name).not.toContain(`"Fn::GetAtt":["${id}"`)
      expect(render(output.Value), name).not.toMatch(/password=|:\/\/[^/\s]*:[^@\s]*@/i)
    }
  })

  it('are granted exactly where they are read: the key set to the signers, the published keys to those that verify, the rest none', () => {
    const signing = `<${secretId(app, 'SigningKeys')}>`
    const published = `<${secretId(app, 'PublicKeys')}>`
    const database = `<${secretId(app, 'DatabaseSecret')}>`
    const admin = `<${secretId(app, 'AdminPassword')}>`
    const expected: Record<string, string[]> = {
      register: [database, published],
      login: [database, published, signing],
      token: [database, published, signing],
      refresh: [database, published, signing],
      logout: [database, published],
      me: [database, published],
      'list-sessions': [database, published],
      'end-one-session': [database, published],
      'end-all-sessions': [database, published],
      'export-account': [database, published],
      'change-password': [database, published],
      'password-reset': [database, published],
      'password-reset-confirm': [database, published],
      'email-verification': [database, published],
      'email-verification-confirm': [database, published],
      'email-change': [database, published],
      'email-change-confirm': [database, published],
      'delete-account': [database, published],
      'get-preferences': [database, published],
      'put-preferences': [database, published],
      'account-deletion': [database, published],
      'account-deletion-confirm': [database, published],
      health: [database, published],
      'admin-list-users': [database, published],
      'admin-get-user': [database, published],
      'admin-update-user': [database, published],
      'admin-delete-user': [database, published],
      'admin-end-sessions': [database, published],
      'admin-password-reset': [database, published],
      jwks: [published],
      'openid-configuration': [],
      claims: [],
    }
    for (const name of new Set(apiRoutes.map((route) => route.function))) {
      expect(secretsReadBy(app, logicalIdOf(app, name)), name).toEqual(
        (expected[name] ?? ['unlisted']).sort(),
      )
    }
    expect(secretsReadBy(app, logicalIdOf(app, 'not-found'))).toEqual([])
    expect(secretsReadBy(app, logicalIdOf(app, 'migrate'))).toEqual([database])
    expect(secretsReadBy(app, logicalIdOf(app, 'seed-admin'))).toEqual([admin, database].sort())
    expect(secretsReadBy(app, logicalIdOf(app, 'cleanup'))).toEqual([database])
    expect(secretsReadBy(app, logicalIdOf(app, 'send-mail'))).toEqual([database])
  })

  it('grants nothing broader: own log group, the bound secrets, no wildcard, no managed policy', () => {
    for (const [name, fn] of app.stack.functions) {
      // Its grants are the rotation protocol's, checked with the rotation; the mail sender's, with the mail.
      if (name === 'rotate-signing-keys' || name === 'send-mail') continue
      const { statements, managed, inline } = grantsOf(
        app,
        app.stack.getLogicalId(fn.role.node.defaultChild as never),
      )
      expect(managed).toEqual([])
      expect(inline).toEqual([])
      const logGroup = `<${app.stack.getLogicalId(fn.logGroup.node.defaultChild as never)}.Arn>`
      for (const statement of statements) {
        expect(statement.Effect).toBe('Allow')
        const isLogs = actions(statement).every((action) => action.startsWith('logs:'))
        if (isLogs) {
          expect(actions(statement).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents'])
          expect(resources(statement)).toEqual([logGroup])
        } else if (actions(statement).includes('lambda:InvokeFunction')) {
          // A function that queues mail: the mail sender, and it alone (checked with the mail).
          expect([name, actions(statement)]).toEqual([name, ['lambda:InvokeFunction']])
          expect(mailQueuers).toContain(name)
        } else if (actions(statement).includes('cloudformation:DescribeStacks')) {
          // Migrate reads its own stack's status, to do nothing during a rollback.
          expect([name, actions(statement), resources(statement)]).toEqual([
            'migrate',
            ['cloudformation:DescribeStacks'],
            ['<AWS::StackId>'],
          ])
        } else {
          expect(actions(statement).sort()).toEqual([
            'secretsmanager:DescribeSecret',
            'secretsmanager:GetSecretValue',
          ])
        }
        for (const arn of resources(statement)) expect(arn).not.toContain('*')
      }
    }
  })

  it('lets the Neon handler read the API key, and read and write the database secret; nothing else touches secrets', () => {
    const [handlerId] =
      byType(app, 'AWS::Lambda::Function').find(([id]) => id.startsWith('NeonHandler')) ?? []
    const roleId = render(resource(app, handlerId as string).Properties.Role).replace(/^<|\.Arn>$/g, '')
    const secretStatements = grantsOf(app, roleId).statements.filter((statement) =>
      actions(statement).some((action) => action.startsWith('secretsmanager:')),
    )
    expect(secretStatements.map((statement) => [actions(statement).sort(), resources(statement)])).toEqual([
      [
        ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        [
          'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:papa-auth/neon-api-key-??????',
        ],
      ],
      // Read back only so an update keeps the API role's password: GetSecretValue, no DescribeSecret, this secret only.
      [
        ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        [`<${secretId(app, 'DatabaseSecret')}>`],
      ],
    ])
    const ours = new Set([
      ...[...app.stack.functions.values()].map((fn) =>
        app.stack.getLogicalId(fn.role.node.defaultChild as never),
      ),
      roleId,
    ])
    for (const [id] of byType(app, 'AWS::IAM::Role').filter(([id]) => !ours.has(id))) {
      const { statements, inline } = grantsOf(app, id)
      expect(JSON.stringify([statements, inline]), id).not.toContain('secretsmanager')
    }
  })
})

describe('the signing keys and their rotation', () => {
  const rotationId = () => logicalIdOf(app, 'rotate-signing-keys')
  const signingId = () => secretId(app, 'SigningKeys')
  const publishedId = () => secretId(app, 'PublicKeys')

  it('rotates the key set every 90 days through Secrets Manager, first right away, with its own function', () => {
    const [scheduleId, schedule] = onlyOf(app, 'AWS::SecretsManager::RotationSchedule')
    expect(schedule.Properties).toEqual({
      SecretId: { Ref: signingId() },
      RotationLambdaARN: { 'Fn::GetAtt': [rotationId(), 'Arn'] },
      RotationRules: { ScheduleExpression: 'rate(90 days)' },
      // A change of the schedule, and its rollback, rotate nothing (docs/deploying.md, Rollbacks).
      RotateImmediatelyOnUpdate: false,
    })
    // Secrets Manager may invoke it (from this account, for this secret only) before the schedule exists.
    const [permissionId, permission] = byType(app, 'AWS::Lambda::Permission').find(
      ([, candidate]) => candidate.Properties.Principal === 'secretsmanager.amazonaws.com',
    ) ?? ['', undefined]
    expect(permission?.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [rotationId(), 'Arn'] },
      Principal: 'secretsmanager.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
      SourceArn: { Ref: signingId() },
    })
    expect(resource(app, scheduleId).DependsOn).toContain(permissionId)
    expect(lambdas['rotate-signing-keys'].invokedBy).toBe('rotation')
    const fn = resource(app, rotationId())
    expect(fn.Properties).toMatchObject({ MemorySize: 256, Timeout: 30 })
    expect(fn.Properties.Environment.Variables).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      JWT_PUBLIC_KEYS_SECRET_ARN: { Ref: publishedId() },
      ACCESS_TOKEN_TTL_SECONDS: '900',
      // For the first key set, which the deploy asks for without an event.
      JWT_SIGNING_KEYS_SECRET_ARN: { Ref: signingId() },
    })
  })

  it('makes the first key set in the deploy, before the schedule exists, with the rotation function itself', () => {
    const [firstId, first] =
      byType(app, 'Custom::Trigger').find(([, trigger]) => {
        const versionId = render(trigger.Properties.HandlerArn).replace(/^<|>$/g, '')
        return render(resource(app, versionId).Properties.FunctionName) === `<${rotationId()}>`
      }) ?? []
    // The rotation function's current version, run with no event whenever it changes: a key set found there is
    // left as it is, so a later deploy or a rollback changes nothing.
    expect(first?.Properties).toMatchObject({ InvocationType: 'RequestResponse', Timeout: '30000' })
    expect(first?.Properties.ExecuteOnHandlerChange).toBe(true)
    // After the function's grants, before the schedule: no rotation is started for it, none is pending then.
    const [scheduleId, schedule] = onlyOf(app, 'AWS::SecretsManager::RotationSchedule')
    expect(schedule.DependsOn).toContain(firstId)
    const roleId = render(resource(app, rotationId()).Properties.Role).replace(/^<|\.Arn>$/g, '')
    expect(first?.DependsOn).toEqual(expect.arrayContaining([roleId]))
    expect(resource(app, scheduleId).Properties.RotateImmediatelyOnUpdate).toBe(false)
  })

  it('gives the rotation function the access tokens’ lifetime the API functions sign with, so its guard waits it out', () => {
    const long = synthesize({ context: { accessTokenTtlSeconds: '86400', signingKeyRotationDays: '3' } })
    try {
      const variables = (name: string) =>
        resource(long, logicalIdOf(long, name)).Properties.Environment.Variables as Record<string, unknown>
      expect(variables('rotate-signing-keys').ACCESS_TOKEN_TTL_SECONDS).toBe('86400')
      for (const name of SIGNERS) expect(variables(name).ACCESS_TOKEN_TTL_SECONDS, name).toBe('86400')
    } finally {
      long.remove()
    }
    // Two scheduled rotations may fall a day less apart than the schedule: too short for the guard, refused at synth.
    expect(() =>
      synthesize({ context: { accessTokenTtlSeconds: '86400', signingKeyRotationDays: '2' } }),
    ).toThrow(/context signingKeyRotationDays must be at least 3 with access tokens of 86400 s/)
  })

  it('takes the rotation interval from the signingKeyRotationDays context, in whole days', () => {
    const custom = synthesize({ context: { signingKeyRotationDays: '30' } })
    try {
      expect(onlyOf(custom, 'AWS::SecretsManager::RotationSchedule')[1].Properties.RotationRules).toEqual({
        ScheduleExpression: 'rate(30 days)',
      })
    } finally {
      custom.remove()
    }
    for (const value of ['0', '1.5', '1001', 'often'])
      expect(() => synthesize({ context: { signingKeyRotationDays: value } }), value).toThrow(
        /signingKeyRotationDays/,
      )
  })

  it('lets the rotation function make the protocol’s calls on the key set and write the published keys, nothing more', () => {
    const roleId = render(resource(app, rotationId()).Properties.Role).replace(/^<|\.Arn>$/g, '')
    const { statements, managed, inline } = grantsOf(app, roleId)
    expect([managed, inline]).toEqual([[], []])
    const logGroup = render(resource(app, rotationId()).Properties.LoggingConfig.LogGroup).replace(
      />$/,
      '.Arn>',
    )
    expect(
      statements.map((statement) => [statement.Effect, actions(statement).sort(), resources(statement)]),
    ).toEqual([
      ['Allow', ['logs:CreateLogStream', 'logs:PutLogEvents'], [logGroup]],
      [
        'Allow',
        [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        [`<${signingId()}>`],
      ],
      ['Allow', ['secretsmanager:PutSecretValue'], [`<${publishedId()}>`]],
    ])
  })

  it('lets only the signers and the rotation function near the private keys, and only the rotation change them', () => {
    const signing = `<${signingId()}>`
    const touching = new Map<string, string[]>()
    for (const [, policy] of byType(app, 'AWS::IAM::Policy')) {
      for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
        if (!resources(statement).includes(signing)) continue
        for (const role of (policy.Properties.Roles as unknown[]).map(render))
          touching.set(role, [...(touching.get(role) ?? []), ...actions(statement)])
      }
    }
    const roleOf = (name: string) =>
      render(resource(app, logicalIdOf(app, name)).Properties.Role).replace(/\.Arn>$/, '>')
    expect([...touching.keys()].sort()).toEqual([...SIGNERS, 'rotate-signing-keys'].map(roleOf).sort())
    for (const name of SIGNERS)
      expect(touching.get(roleOf(name))?.sort(), name).toEqual([
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
      ])
  })

  it('puts no key in the template: no key material, the key set only by its ARN', () => {
    const text = JSON.stringify(app.template.toJSON())
    expect(text).not.toMatch(/PRIVATE KEY|"kty"|"privateKey"|"publicJwk"/)
    const outputs = Object.entries(app.outputs).filter(([, output]) =>
      JSON.stringify(output.Value).includes(signingId()),
    )
    expect(outputs.map(([name, output]) => [name, render(output.Value)])).toEqual([
      ['SigningKeysSecretArn', `<${signingId()}>`],
      [
        'RotateSigningKeysCommand',
        `aws secretsmanager rotate-secret --secret-id <${signingId()}> --region <AWS::Region>`,
      ],
    ])
  })

  it('passes cdk-nag’s rotation rule without acknowledging it for the key set; the published keys say why they need none', () => {
    const acknowledged = (id: string) =>
      app.stack.node
        .findChild('SigningKeys')
        .node.findChild(id)
        .node.findAll()
        .flatMap((construct) => construct.node.metadata)
        .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
        .map(([rule, reason]) => [rule.replace(/^Annotation::/, ''), reason])
    expect(acknowledged('SigningKeys')).toEqual([])
    expect(acknowledged('PublicKeys')).toEqual([
      ['AwsSolutions-SMG4', expect.stringMatching(/^Holds nothing secret: the public keys/)],
    ])
    const report = new AwsSolutionsChecks(app.stack).validateScope(app.stack)
    expect(report.violations).toEqual([])
  })
})

describe('the cleanup', () => {
  it('runs every 15 minutes on an EventBridge schedule, with the limits the API runs with', () => {
    const [, rule] = onlyOfPrefix(app, 'AWS::Events::Rule', 'CleanupSchedule')
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(15 minutes)', State: 'ENABLED' })
    expect(rule.Properties.Targets).toHaveLength(1)
    expect(render(rule.Properties.Targets[0].Arn)).toBe(`<${logicalIdOf(app, 'cleanup')}.Arn>`)
    const [, permission] = byType(app, 'AWS::Lambda::Permission').find(
      ([, candidate]) => candidate.Properties.Principal === 'events.amazonaws.com',
    ) ?? [undefined, undefined]
    expect(render(permission?.Properties.FunctionName)).toBe(`<${logicalIdOf(app, 'cleanup')}.Arn>`)
  })

  it('runs as often as context cleanupIntervalMinutes says', () => {
    const hourly = synthesize({ context: { ...MAIL_CONTEXT, cleanupIntervalMinutes: '60' } })
    expect(
      onlyOfPrefix(hourly, 'AWS::Events::Rule', 'CleanupSchedule')[1].Properties.ScheduleExpression,
    ).toBe('rate(1 hour)')
    const often = synthesize({ context: { ...MAIL_CONTEXT, cleanupIntervalMinutes: '5' } })
    expect(onlyOfPrefix(often, 'AWS::Events::Rule', 'CleanupSchedule')[1].Properties.ScheduleExpression).toBe(
      'rate(5 minutes)',
    )
  })
})

describe('migrations on deploy', () => {
  const triggerOf = migrationTrigger

  it('run the migrate function synchronously, after the database exists and before any function that queries it', () => {
    const [triggerId, trigger] = triggerOf(app)
    expect(trigger.Properties).toMatchObject({ InvocationType: 'RequestResponse', Timeout: '300000' })
    const versionId = render(trigger.Properties.HandlerArn).replace(/^<|>$/g, '')
    const version = resource(app, versionId)
    expect(version.Type).toBe('AWS::Lambda::Version')
    expect(version.Properties.FunctionName).toEqual({ Ref: logicalIdOf(app, 'migrate') })

    const [neonId] = onlyOf(app, 'Custom::NeonProject')
    expect(trigger.DependsOn).toContain(neonId)
    for (const name of databaseReaders) {
      expect(resource(app, logicalIdOf(app, name)).DependsOn, name).toContain(triggerId)
    }
  })

  it('run again when the migration set changes, and only then', () => {
    const folder = mkdtempSync(join(tmpdir(), 'papa-auth-migrations-'))
    try {
      cpSync(MIGRATIONS_FOLDER, folder, { recursive: true })
      const unchanged = synthesize({ overrides: { migrationsFolder: folder } })
      const journalPath = join(folder, 'meta/_journal.json')
      const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Record<string, unknown>[] }
      journal.entries.push({
        idx: journal.entries.length,
        version: '7',
        when: 1,
        tag: '0099_more',
        breakpoints: true,
      })
      writeFileSync(journalPath, JSON.stringify(journal))
      writeFileSync(join(folder, '0099_more.sql'), 'alter table users add column nickname text;\n')
      const changed = synthesize({ overrides: { migrationsFolder: folder } })
      const again = synthesize()

      const handlerOf = (synthesized: Synthesized) => triggerOf(synthesized)[1].Properties.HandlerArn
      const descriptionOf = (synthesized: Synthesized) =>
        resource(synthesized, logicalIdOf(synthesized, 'migrate')).Properties.Description
      expect(descriptionOf(app)).toContain(hashFolder(MIGRATIONS_FOLDER).slice(0, 16))
      expect(descriptionOf(changed)).toContain(hashFolder(folder).slice(0, 16))
      expect(handlerOf(changed)).not.toEqual(handlerOf(app))
      expect(handlerOf(again)).toEqual(handlerOf(app))
      expect(descriptionOf(unchanged)).toEqual(descriptionOf(app))
      for (const synthesized of [unchanged, changed, again]) synthesized.remove()
    } finally {
      rmSync(folder, { recursive: true, force: true })
    }
  })
})

describe('the Neon database', () => {
  it('is a custom resource given names and settings, never a password', () => {
    const [, neon] = onlyOf(app, 'Custom::NeonProject')
    const { ServiceToken, RegionId, DatabaseSecretArn, ...rest } = neon.Properties
    expect(rest).toEqual({
      ApiUrl: NEON_API_URL,
      ApiKeySecretId: 'papa-auth/neon-api-key',
      ProjectName: 'PapaAuth',
      PgVersion: '17',
      DatabaseName: DATABASE_NAME,
      RoleName: DATABASE_ROLE,
      // The API's own login, distinct from the owner the migrations connect as.
      ApiRoleName: 'papa_auth_api',
      // The cleanup's own login: it may delete the audit trail, which the API may not.
      CleanupRoleName: 'papa_auth_cleanup',
      DeleteOnRemoval: 'false',
    })
    expect(render(RegionId)).toBe('aws-<AWS::Region>')
    expect(DatabaseSecretArn).toEqual({ Ref: secretId(app, 'DatabaseSecret') })
    expect(render(ServiceToken)).toMatch(/^<NeonProviderframeworkonEvent\w+\.Arn>$/)
    expect(neon.DeletionPolicy).toBe('Delete')
    // Kept with its project when the stack is deleted; deleted with the rollback of its own create (a failed first
    // deploy), whose project the rollback removes too.
    const secret = resource(app, secretId(app, 'DatabaseSecret'))
    expect([secret.DeletionPolicy, secret.UpdateReplacePolicy]).toEqual(['RetainExceptOnCreate', 'Retain'])
    expect(render(app.outputs.NeonProjectId?.Value)).toMatch(/^<NeonProject\w+\.ProjectId>$/)
  })

  it('keeps the history window Neon’s plan gives unless context neonHistoryRetentionSeconds sets it', () => {
    expect(onlyOf(app, 'Custom::NeonProject')[1].Properties.HistoryRetentionSeconds).toBeUndefined()
    const week = synthesize({ context: { neonHistoryRetentionSeconds: '604800' } })
    try {
      const [id, neon] = onlyOf(week, 'Custom::NeonProject')
      expect(neon.Properties.HistoryRetentionSeconds).toBe('604800')
      // Set in place on the same resource: never a new project.
      expect(id).toBe(onlyOf(app, 'Custom::NeonProject')[0])
      expect(week.warnings().map((warning) => warning.id)).not.toContain('papa-auth:no-history')
    } finally {
      week.remove()
    }
    const none = synthesize({ context: { neonHistoryRetentionSeconds: 0 } })
    try {
      expect(onlyOf(none, 'Custom::NeonProject')[1].Properties.HistoryRetentionSeconds).toBe('0')
      expect(none.warnings()).toContainEqual({
        id: 'papa-auth:no-history',
        message: expect.stringMatching(/^neonHistoryRetentionSeconds is 0: Neon keeps no history/),
      })
    } finally {
      none.remove()
    }
    for (const value of ['2592001', '-1', '1.5', '1d'])
      expect(() => synthesize({ context: { neonHistoryRetentionSeconds: value } }), value).toThrow(
        /^context neonHistoryRetentionSeconds must be a whole number of seconds from 0 to 2592000 \(30 days\)/,
      )
  })

  it('takes back a kept project on Create only when context neonAdoptProjectId names it', () => {
    expect(onlyOf(app, 'Custom::NeonProject')[1].Properties.AdoptProjectId).toBeUndefined()
    const again = synthesize({ context: { neonAdoptProjectId: 'quiet-bird-12345678' } })
    try {
      const [id, neon] = onlyOf(again, 'Custom::NeonProject')
      expect(neon.Properties.AdoptProjectId).toBe('quiet-bird-12345678')
      expect(id).toBe(onlyOf(app, 'Custom::NeonProject')[0])
    } finally {
      again.remove()
    }
    expect(() => synthesize({ context: { neonAdoptProjectId: 'Quiet Bird' } })).toThrow(
      /^context neonAdoptProjectId must be a Neon project id/,
    )
    expect(() =>
      synthesize({ context: { databaseSecretName: 'ops/db', neonAdoptProjectId: 'quiet-bird-1' } }),
    ).toThrow(/^context neonAdoptProjectId given with databaseSecretName/)
  })

  it('takes its settings from context, and deletes the project and its secret only on opt-in', () => {
    const custom = synthesize({
      context: {
        neonApiKeySecretName: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:ops/neon-AbCdEf',
        neonProjectName: 'auth-prod',
        neonRegion: 'aws-eu-central-1',
        neonPgVersion: '16',
        neonOrgId: 'org-quiet-bird-123',
        neonDeleteOnRemoval: 'true',
      },
    })
    try {
      const [, neon] = onlyOf(custom, 'Custom::NeonProject')
      expect(neon.Properties).toMatchObject({
        ApiKeySecretId: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:ops/neon-AbCdEf',
        ProjectName: 'auth-prod',
        RegionId: 'aws-eu-central-1',
        PgVersion: '16',
        OrgId: 'org-quiet-bird-123',
        DeleteOnRemoval: 'true',
      })
      expect(resource(custom, secretId(custom, 'DatabaseSecret')).DeletionPolicy).toBe('Delete')
    } finally {
      custom.remove()
    }
  })
})

describe('the Neon project’s fixed settings and its lifecycle', () => {
  /** Synthesizes as `cdk synth` does for a stack bound to `region` (CDK_DEFAULT_REGION, as the CLI sets it). */
  const synthesizeIn = (region: string, context: Record<string, unknown> = {}) => {
    const before = process.env.CDK_DEFAULT_REGION
    process.env.CDK_DEFAULT_REGION = region
    try {
      return synthesize({ context })
    } finally {
      if (before === undefined) delete process.env.CDK_DEFAULT_REGION
      else process.env.CDK_DEFAULT_REGION = before
    }
  }
  const ruleOf = (synthesized: Synthesized) =>
    (synthesized.template.toJSON() as { Rules?: Record<string, unknown> }).Rules?.NeonServesTheStackRegion

  it('refuses at synth a region Neon does not serve, naming those it does', () => {
    expect(() => synthesize({ context: { neonRegion: 'aws-eu-west-1' } })).toThrow(
      `context neonRegion: Neon has no region aws-eu-west-1; it creates projects in ${[...NEON_REGIONS.aws, ...NEON_REGIONS.azure].join(', ')} (https://neon.com/docs/introduction/regions)`,
    )
    expect(() => synthesize({ context: { neonRegion: 'eu-central-1' } })).toThrow(
      /context neonRegion: Neon has no region eu-central-1;/,
    )
  })

  it('refuses at synth a Postgres version Neon does not offer', () => {
    for (const version of ['13', '19', '16.5']) {
      expect(() => synthesize({ context: { neonPgVersion: version } }), version).toThrow(
        `context neonPgVersion: Neon offers Postgres 14 to 18, not ${version} (https://neon.com/docs/reference/compatibility)`,
      )
    }
  })

  it('refuses a stack bound to a region where Neon has none, unless neonRegion names one', () => {
    expect(() => synthesizeIn('eu-west-1')).toThrow(
      /^the stack's region eu-west-1 has no Neon region of the same name: Neon has no region aws-eu-west-1; .* Set context neonRegion to the one nearest to the stack/,
    )
    const nearest = synthesizeIn('eu-west-1', { neonRegion: 'aws-eu-west-2' })
    const served = synthesizeIn('eu-central-1')
    try {
      expect(onlyOf(nearest, 'Custom::NeonProject')[1].Properties.RegionId).toBe('aws-eu-west-2')
      expect(onlyOf(served, 'Custom::NeonProject')[1].Properties.RegionId).toBe('aws-eu-central-1')
      // Known at synth, so checked there: no rule for CloudFormation.
      expect(ruleOf(nearest)).toBeUndefined()
      expect(ruleOf(served)).toBeUndefined()
    } finally {
      nearest.remove()
      served.remove()
    }
  })

  it('has CloudFormation check an environment-agnostic stack’s region before it creates anything', () => {
    expect(render(onlyOf(app, 'Custom::NeonProject')[1].Properties.RegionId)).toBe('aws-<AWS::Region>')
    expect(ruleOf(app)).toEqual({
      Assertions: [
        {
          Assert: {
            'Fn::Contains': [NEON_REGIONS.aws.map((id) => id.replace('aws-', '')), { Ref: 'AWS::Region' }],
          },
          AssertDescription: expect.stringMatching(
            /^Neon has no region in this AWS region; it serves us-east-1, .*Deploy with -c neonRegion=<Neon region id>/,
          ),
        },
      ],
    })
    const named = synthesize({ context: { neonRegion: 'aws-us-east-2' } })
    try {
      expect(ruleOf(named)).toBeUndefined()
    } finally {
      named.remove()
    }
  })

  it('puts the project in service after every other resource, so only a completed deploy does', () => {
    const [inServiceId, inService] = onlyOf(app, 'Custom::NeonProjectInService')
    const [projectId] = onlyOf(app, 'Custom::NeonProject')
    /** What CloudFormation creates before a resource: its DependsOn and what it references, and theirs in turn. */
    const createdBefore = (id: string, seen = new Set<string>()): Set<string> => {
      const found = resource(app, id)
      const referenced = [
        ...JSON.stringify(found.Properties ?? {}).matchAll(/"(?:Ref|Fn::GetAtt)":\[?"(\w+)"/g),
      ]
      for (const next of [...(found.DependsOn ?? []), ...referenced.map((match) => match[1] as string)]) {
        if (next in app.resources && !seen.has(next)) createdBefore(next, seen.add(next))
      }
      return seen
    }
    const others = Object.keys(app.resources).filter((id) => id !== inServiceId)
    expect([...createdBefore(inServiceId)].sort()).toEqual(others.sort())
    for (const id of others) expect(createdBefore(id).has(inServiceId), id).toBe(false)
    // No dependency it has through a reference anyway (cfn-lint's W3005).
    expect(inService.DependsOn).not.toContain(projectId)
    const { ServiceToken, ...properties } = inService.Properties
    expect(properties).toEqual({
      ApiUrl: NEON_API_URL,
      ApiKeySecretId: 'papa-auth/neon-api-key',
      ProjectId: { 'Fn::GetAtt': [projectId, 'ProjectId'] },
      ProjectName: 'PapaAuth',
    })
    expect(ServiceToken).toEqual(onlyOf(app, 'Custom::NeonProject')[1].Properties.ServiceToken)
  })
})

describe('the Neon compute’s settings', () => {
  const projectOf = (synthesized: Synthesized) => onlyOf(synthesized, 'Custom::NeonProject')[1].Properties

  it('are Neon’s own by default: the resource names none, so the project is created and kept as Neon has it', () => {
    const properties = Object.keys(projectOf(app))
    for (const key of ['SuspendTimeoutSeconds', 'MinComputeUnits', 'MaxComputeUnits']) {
      expect(properties).not.toContain(key)
    }
  })

  it('come from context, as the resource’s properties: the handler applies them at creation and on update', () => {
    const tuned = synthesize({
      context: { neonSuspendTimeoutSeconds: '-1', neonMinComputeUnits: '0.5', neonMaxComputeUnits: '2' },
    })
    const fixed = synthesize({
      context: { neonSuspendTimeoutSeconds: 3600, neonMinComputeUnits: 24, neonMaxComputeUnits: 24 },
    })
    try {
      expect(projectOf(tuned)).toMatchObject({
        SuspendTimeoutSeconds: '-1',
        MinComputeUnits: '0.5',
        MaxComputeUnits: '2',
      })
      // From cdk.json, numbers; a fixed size above autoscaling's 16 CU.
      expect(projectOf(fixed)).toMatchObject({
        SuspendTimeoutSeconds: '3600',
        MinComputeUnits: '24',
        MaxComputeUnits: '24',
      })
      // The project is the same resource: a change of these is an update of it, never a replacement.
      expect(onlyOf(tuned, 'Custom::NeonProject')[0]).toBe(onlyOf(app, 'Custom::NeonProject')[0])
    } finally {
      tuned.remove()
      fixed.remove()
    }
  })

  it('fail the synth with a readable message on a value Neon does not offer', () => {
    const cases: [Record<string, unknown>, string | RegExp][] = [
      [
        { neonSuspendTimeoutSeconds: '30' },
        /context neonSuspendTimeoutSeconds must be 0 .* or 60 to 604800 seconds, not "30"/,
      ],
      [{ neonSuspendTimeoutSeconds: '604801' }, /not "604801"/],
      [{ neonSuspendTimeoutSeconds: '5m' }, /not "5m"/],
      [
        { neonMinComputeUnits: '1' },
        /context neonMaxComputeUnits is missing: neonMinComputeUnits and neonMaxComputeUnits go together/,
      ],
      [{ neonMaxComputeUnits: '1' }, /context neonMinComputeUnits is missing/],
      [
        { neonMinComputeUnits: '2', neonMaxComputeUnits: '1' },
        /the minimum \(2 CU\) is above the maximum \(1 CU\)/,
      ],
      [{ neonMinComputeUnits: '0.3', neonMaxComputeUnits: '1' }, /Neon has no compute of 0.3 CU/],
      [{ neonMinComputeUnits: '17', neonMaxComputeUnits: '17' }, /Neon has no compute of 17 CU/],
      [
        { neonMinComputeUnits: '1', neonMaxComputeUnits: '10' },
        /autoscaling spans at most 8 CU, not 1 to 10/,
      ],
      [{ neonMinComputeUnits: '16', neonMaxComputeUnits: '18' }, /autoscaling goes up to 16 CU, not 18/],
      [
        { databaseSecretName: 'ops/db', neonSuspendTimeoutSeconds: '-1' },
        /context neonSuspendTimeoutSeconds given with databaseSecretName/,
      ],
    ]
    for (const [context, message] of cases) {
      expect(() => synthesize({ context }), JSON.stringify(context)).toThrow(message)
    }
  })
})

describe('provisioned concurrency on the login path', () => {
  let provisioned: Synthesized
  beforeAll(() => {
    provisioned = synthesize({ context: { ...MAIL_CONTEXT, loginProvisionedConcurrency: '2' } })
  })
  afterAll(() => provisioned?.remove())

  /** The logical id of the resource an API route's integration invokes, by route key. */
  const invokedBy = (synthesized: Synthesized, routeKey: string) => {
    const [, route] = byType(synthesized, 'AWS::ApiGatewayV2::Route').find(
      ([, r]) => r.Properties.RouteKey === routeKey,
    ) as [string, Resource]
    const integrationId = render(route.Properties.Target).replace(/^integrations\/<|>$/g, '')
    return render(resource(synthesized, integrationId).Properties.IntegrationUri)
  }
  const routeOf = (name: string) => {
    const route = apiRoutes.find((r) => r.function === name)
    if (!route) throw new Error(`no route to ${name}`)
    return `${route.method} ${route.path}`
  }
  /** What CloudFormation has done before it creates (or updates) a resource: its DependsOn and references, theirs too. */
  const createdBefore = (synthesized: Synthesized, id: string, seen = new Set<string>()): Set<string> => {
    const found = resource(synthesized, id)
    const referenced = [
      ...JSON.stringify(found.Properties ?? {}).matchAll(/"(?:Ref|Fn::GetAtt)":\[?"(\w+)"/g),
    ]
    for (const next of [...(found.DependsOn ?? []), ...referenced.map((match) => match[1] as string)]) {
      if (next in synthesized.resources && !seen.has(next)) createdBefore(synthesized, next, seen.add(next))
    }
    return seen
  }

  it('is off by default: no alias, no version but those the Triggers run, and every route invokes its function', () => {
    expect(byType(app, 'AWS::Lambda::Alias')).toEqual([])
    // migrate's, and the signing keys rotation's (its first key set): the Triggers invoke a version.
    expect(
      byType(app, 'AWS::Lambda::Version')
        .map(([, version]) => version.Properties.FunctionName.Ref)
        .sort(),
    ).toEqual(['migrate', 'rotate-signing-keys'].map((name) => logicalIdOf(app, name)).sort())
    for (const name of PROVISIONED_FUNCTIONS) {
      expect(invokedBy(app, routeOf(name)), name).toBe(`<${logicalIdOf(app, name)}.Arn>`)
    }
  })

  it('keeps N environments initialized for login, token and refresh, behind a live alias on a published version', () => {
    const aliases = byType(provisioned, 'AWS::Lambda::Alias')
    expect(aliases).toHaveLength(PROVISIONED_FUNCTIONS.length)
    for (const name of PROVISIONED_FUNCTIONS) {
      const functionId = logicalIdOf(provisioned, name)
      const found = aliases.find(([, alias]) => alias.Properties.FunctionName.Ref === functionId)
      expect(found, name).toBeDefined()
      const [, alias] = found as [string, Resource]
      expect(alias.Properties).toMatchObject({
        Name: 'live',
        ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 2 },
      })
      const versionId = render(alias.Properties.FunctionVersion).replace(/^<|\.Version>$/g, '')
      const version = resource(provisioned, versionId)
      expect(version.Type).toBe('AWS::Lambda::Version')
      expect(version.Properties.FunctionName).toEqual({ Ref: functionId })
    }
    // The rest of the API is as it was: no alias, no version.
    const versioned = byType(provisioned, 'AWS::Lambda::Version').map(
      ([, v]) => v.Properties.FunctionName.Ref,
    )
    expect(versioned.sort()).toEqual(
      [...PROVISIONED_FUNCTIONS, 'migrate', 'rotate-signing-keys']
        .map((name) => logicalIdOf(provisioned, name))
        .sort(),
    )
  })

  it('has API Gateway invoke the alias, so the initialized environments are what serves', () => {
    for (const name of PROVISIONED_FUNCTIONS) {
      const [aliasId] = byType(provisioned, 'AWS::Lambda::Alias').find(
        ([, alias]) => alias.Properties.FunctionName.Ref === logicalIdOf(provisioned, name),
      ) as [string, Resource]
      expect(invokedBy(provisioned, routeOf(name)), name).toBe(`<${aliasId}>`)
      provisioned.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: { Ref: aliasId },
        Principal: 'apigateway.amazonaws.com',
      })
      // Nothing invokes the unqualified function from the API any more.
      const unqualified = byType(provisioned, 'AWS::Lambda::Permission').filter(
        ([, permission]) =>
          render(permission.Properties.FunctionName) === `<${logicalIdOf(provisioned, name)}.Arn>`,
      )
      expect(unqualified, name).toEqual([])
    }
    // Every other route still invokes its function.
    expect(invokedBy(provisioned, routeOf('me'))).toBe(`<${logicalIdOf(provisioned, 'me')}.Arn>`)
    expect(invokedBy(provisioned, '$default')).toBe(
      `<${logicalIdOf(provisioned, fallbackRoute.function)}.Arn>`,
    )
  })

  it('publishes each version, and moves each alias, only after the migrations ran', () => {
    const [triggerId] = migrationTrigger(provisioned)
    for (const [aliasId, alias] of byType(provisioned, 'AWS::Lambda::Alias')) {
      const versionId = render(alias.Properties.FunctionVersion).replace(/^<|\.Version>$/g, '')
      expect(resource(provisioned, versionId).DependsOn, versionId).toContain(triggerId)
      expect(createdBefore(provisioned, aliasId).has(triggerId), aliasId).toBe(true)
      expect(createdBefore(provisioned, triggerId).has(aliasId), aliasId).toBe(false)
    }
    expect(dependencyCycle(provisioned)).toBeUndefined()
  })

  it('publishes a new version exactly when a function changes, and keeps the aliases', () => {
    const settingsOnly = { ...MAIL_CONTEXT, loginProvisionedConcurrency: '2' }
    // The stage's throttling is no function's; bcryptCost is in every API function's environment.
    const throttled = synthesize({ context: { ...settingsOnly, throttleRateLimit: '20' } })
    const changed = synthesize({ context: { ...settingsOnly, bcryptCost: '13' } })
    try {
      const idsOf = (synthesized: Synthesized, type: string) =>
        byType(synthesized, type)
          .map(([id]) => id)
          .sort()
      const newVersions = (synthesized: Synthesized) => {
        const before = new Set(idsOf(provisioned, 'AWS::Lambda::Version'))
        return idsOf(synthesized, 'AWS::Lambda::Version').filter((id) => !before.has(id))
      }
      expect(newVersions(throttled)).toEqual([])
      expect(newVersions(changed)).toHaveLength(PROVISIONED_FUNCTIONS.length)
      for (const synthesized of [throttled, changed]) {
        expect(idsOf(synthesized, 'AWS::Lambda::Alias')).toEqual(idsOf(provisioned, 'AWS::Lambda::Alias'))
      }
    } finally {
      throttled.remove()
      changed.remove()
    }
  })

  it('passes cdk-nag with nothing more acknowledged', () => {
    const report = new AwsSolutionsChecks(provisioned.stack).validateScope(provisioned.stack)
    expect(report.violations).toEqual([])
  })

  it('takes a whole number from 0 to the maximum, and fails the synth otherwise', () => {
    const none = synthesize({ context: { loginProvisionedConcurrency: '0' } })
    try {
      expect(byType(none, 'AWS::Lambda::Alias')).toEqual([])
    } finally {
      none.remove()
    }
    for (const value of ['-1', '1.5', 'two', String(MAX_PROVISIONED_CONCURRENCY + 1)]) {
      expect(() => synthesize({ context: { loginProvisionedConcurrency: value } }), value).toThrow(
        `context loginProvisionedConcurrency must be a whole number from 0 (none) to ${MAX_PROVISIONED_CONCURRENCY}, not ${JSON.stringify(value)}`,
      )
    }
  })
})

describe('the cutover function', () => {
  it('reads the database secret only, with the settings migrate has, and names the migration set it carries', () => {
    const fn = resource(app, logicalIdOf(app, 'cutover'))
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual([
      'DATABASE_SECRET_ARN',
      'NODE_OPTIONS',
      'SECRETS_GENERATION',
    ])
    expect(secretsReadBy(app, logicalIdOf(app, 'cutover'))).toEqual([`<${secretId(app, 'DatabaseSecret')}>`])
    expect(fn.Properties).toMatchObject({ MemorySize: 512, Timeout: 300 })
    expect(fn.Properties.Description).toContain(hashFolder(MIGRATIONS_FOLDER).slice(0, 16))
  })

  it('runs only when an operator invokes it: no trigger, schedule or API route reaches it', () => {
    const arn = `<${logicalIdOf(app, 'cutover')}.Arn>`
    const id = `<${logicalIdOf(app, 'cutover')}>`
    for (const [, permission] of byType(app, 'AWS::Lambda::Permission'))
      expect([arn, id]).not.toContain(render(permission.Properties.FunctionName))
    for (const [, trigger] of byType(app, 'Custom::Trigger'))
      expect(JSON.stringify(trigger.Properties)).not.toContain(logicalIdOf(app, 'cutover'))
    expect(lambdas.cutover.invokedBy).toBe('operator')
  })

  it('outputs the exact commands of the dry run and of the apply', () => {
    const command = (payload: string, file: string) =>
      `aws lambda invoke --function-name <${logicalIdOf(app, 'cutover')}> --region <AWS::Region> ` +
      `--cli-binary-format raw-in-base64-out --cli-read-timeout 0 --payload '${payload}' ${file} && cat ${file}`
    expect(render(app.outputs.CutoverDryRunCommand?.Value)).toBe(
      command('{"apply":false}', 'cutover-dry-run.json'),
    )
    expect(render(app.outputs.CutoverApplyCommand?.Value)).toBe(
      command(
        '{"apply":true,"emailCollisions":"merge|deactivate","usernameCollisions":"rename|clear","invalidEmails":"deactivate"}',
        'cutover-apply.json',
      ),
    )
  })
})

describe('bring your own database', () => {
  let own: Synthesized
  beforeAll(() => {
    own = synthesize({ context: { databaseSecretName: 'prod/papa-auth/database' } })
  })
  afterAll(() => own?.remove())

  it('uses the named secret and creates no Neon project, no database secret', () => {
    expect(byType(own, 'Custom::NeonProject')).toEqual([])
    expect(byType(own, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('Neon'))).toEqual([])
    expect(byType(own, 'AWS::SecretsManager::Secret').map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual([
      'SigningKeys',
      'PublicKeys',
      'AdminPassword',
    ])
    expect(own.outputs.NeonProjectId).toBeUndefined()
    const arn =
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:prod/papa-auth/database-??????'
    for (const name of ['login', 'migrate', 'seed-admin']) {
      const fn = resource(own, logicalIdOf(own, name))
      expect(fn.Properties.Environment.Variables.DATABASE_SECRET_ARN).toBe('prod/papa-auth/database')
      expect(secretsReadBy(own, logicalIdOf(own, name))).toContain(arn)
    }
    const [triggerId, trigger] = migrationTrigger(own)
    expect(trigger.DependsOn ?? []).toEqual([])
    expect(resource(own, logicalIdOf(own, 'login')).DependsOn).toContain(triggerId)
  })

  it('names the secret by an ARN in the DatabaseSecretArn output, as every --secret-id takes it', () => {
    // Given by name: its ARN without Secrets Manager's suffix, which CloudFormation cannot know at deploy.
    expect(render(own.outputs.DatabaseSecretArn?.Value)).toBe(
      'arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:prod/papa-auth/database',
    )
  })

  it('accepts the secret by full ARN too', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf'
    const byArn = synthesize({ context: { databaseSecretName: arn } })
    try {
      const login = resource(byArn, logicalIdOf(byArn, 'login'))
      expect(login.Properties.Environment.Variables.DATABASE_SECRET_ARN).toBe(arn)
      expect(secretsReadBy(byArn, logicalIdOf(byArn, 'login'))).toContain(arn)
      expect(byArn.outputs.DatabaseSecretArn?.Value).toBe(arn)
    } finally {
      byArn.remove()
    }
  })
})

describe('context', () => {
  it('sets CORS origins, throttling, retention, token claims, bcrypt cost and the docs routes', () => {
    const custom = synthesize({
      context: {
        corsOrigins: 'https://app.example.com, http://localhost:5173',
        throttleRateLimit: '5',
        throttleBurstLimit: '10',
        adminThrottleRateLimit: '2',
        adminThrottleBurstLimit: '4',
        logRetentionDays: '7',
        jwtIssuer: 'https://issuer.example',
        jwtAudience: 'audience.example',
        bcryptCost: '13',
        docs: 'true',
        adminEmail: 'ops@example.com',
      },
    })
    try {
      const [, api] = onlyOf(custom, 'AWS::ApiGatewayV2::Api')
      expect(api.Properties.CorsConfiguration).toMatchObject({
        AllowOrigins: ['https://app.example.com', 'http://localhost:5173'],
        AllowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
        AllowHeaders: ['authorization', 'content-type'],
        ExposeHeaders: ['retry-after', 'www-authenticate', 'content-disposition'],
        AllowCredentials: false,
        MaxAge: 600,
      })
      const [, stage] = onlyOf(custom, 'AWS::ApiGatewayV2::Stage')
      expect(stage.Properties.DefaultRouteSettings).toEqual({
        ThrottlingRateLimit: 5,
        ThrottlingBurstLimit: 10,
      })
      for (const [key, settings] of Object.entries(stage.Properties.RouteSettings))
        expect(settings, key).toEqual({
          // The two routes whose latency is alarmed on keep the stage's throttling; the admin routes have theirs.
          ThrottlingRateLimit: /\/(auth\/login|users\/me)$/.test(key) ? 5 : 2,
          ThrottlingBurstLimit: /\/(auth\/login|users\/me)$/.test(key) ? 10 : 4,
          DetailedMetricsEnabled: true,
        })
      for (const [, logGroup] of byType(custom, 'AWS::Logs::LogGroup')) {
        expect(logGroup.Properties.RetentionInDays).toBe(7)
      }
      expect(resource(custom, logicalIdOf(custom, 'token')).Properties.Environment.Variables).toMatchObject({
        JWT_ISSUER: 'https://issuer.example',
        JWT_AUDIENCE: 'audience.example',
        BCRYPT_COST: '13',
      })
      expect(
        resource(custom, logicalIdOf(custom, 'seed-admin')).Properties.Environment.Variables.ADMIN_EMAIL,
      ).toBe('ops@example.com')
      const keys = byType(custom, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties.RouteKey)
      for (const route of docsRoutes) expect(keys).toContain(`${route.method} ${route.path}`)
      for (const name of new Set(docsRoutes.map((route) => route.function))) {
        expect(secretsReadBy(custom, logicalIdOf(custom, name)), name).toEqual([])
        const variables = resource(custom, logicalIdOf(custom, name)).Properties.Environment.Variables
        // The OpenAPI document states the deployed settings, so its function gets them, and nothing secret.
        expect(variables, name).toMatchObject({ BCRYPT_COST: '13', JWT_ISSUER: 'https://issuer.example' })
        expect(
          Object.keys(variables).filter((key) => key.startsWith('DATABASE_')),
          name,
        ).toEqual([])
      }
    } finally {
      custom.remove()
    }
  })

  it('fails the synth with a readable message on a bad value', () => {
    expect(() => synthesize({ context: { adminThrottleRateLimit: '60' } })).toThrow(
      /adminThrottleRateLimit \(60\) is above throttleRateLimit \(50\)/,
    )
    expect(() => synthesize({ context: { logRetentionDays: '31' } })).toThrow(
      /logRetentionDays must be one of/,
    )
    expect(() => synthesize({ context: { corsOrigins: 'https://app.example.com/path' } })).toThrow(
      /is not an origin/,
    )
    expect(() => synthesize({ context: { neonDeleteOnRemoval: 'yes' } })).toThrow(/true or false/)
    expect(() => synthesize({ context: { bcryptCost: '9' } })).toThrow(/10 to 14/)
    expect(() => synthesize({ context: { loginMaxFailures: '0' } })).toThrow(
      /loginMaxFailures must be a whole number from 1 to 1000/,
    )
    expect(() => synthesize({ context: { sessionMaxAgeSeconds: '1.5' } })).toThrow(/sessionMaxAgeSeconds/)
  })

  it('passes the limits set as context to every function that reads them, and only those set', () => {
    const custom = synthesize({
      context: { loginMaxFailures: '5', registerRateLimit: '1000', auditRetentionDays: '90' },
    })
    try {
      for (const name of ['login', 'token', 'register', 'cleanup']) {
        const variables = resource(custom, logicalIdOf(custom, name)).Properties.Environment.Variables
        expect(variables, name).toMatchObject({
          LOGIN_MAX_FAILURES: '5',
          REGISTER_RATE_LIMIT: '1000',
          AUDIT_RETENTION_DAYS: '90',
        })
        expect(variables.LOGIN_WINDOW_SECONDS, name).toBeUndefined()
      }
    } finally {
      custom.remove()
    }
  })

  it('outputs the exact command that seeds the admin', () => {
    expect(render(app.outputs.SeedAdminCommand?.Value)).toBe(
      `aws lambda invoke --function-name <${logicalIdOf(app, 'seed-admin')}> --region <AWS::Region> ` +
        "--cli-binary-format raw-in-base64-out --payload '{}' seed-admin-result.json && cat seed-admin-result.json",
    )
  })
})

describe('password reset mail', () => {
  const sendMailId = () => logicalIdOf(app, 'send-mail')
  const queueOf = (synthesized: Synthesized) => onlyOf(synthesized, 'AWS::SQS::Queue')
  const roleOf = (synthesized: Synthesized, name: string) =>
    render(resource(synthesized, logicalIdOf(synthesized, name)).Properties.Role).replace(/^<|\.Arn>$/g, '')
  /** The roles whose policies allow an action, with the resources they allow it on (rendered). */
  const allowed = (synthesized: Synthesized, action: string) => {
    const found = new Map<string, string[]>()
    for (const [, policy] of byType(synthesized, 'AWS::IAM::Policy')) {
      for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
        if (!actions(statement).some((candidate) => candidate === action || candidate.endsWith(':*')))
          continue
        for (const role of (policy.Properties.Roles as unknown[]).map((id) =>
          render(id).replace(/^<|>$/g, ''),
        ))
          found.set(role, [...(found.get(role) ?? []), ...resources(statement)])
      }
    }
    return found
  }
  const IDENTITY_ARN = 'arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/'

  it('has a send-mail function, invoked asynchronously, that reads the database secret and nothing else', () => {
    expect(lambdas['send-mail'].invokedBy).toBe('async')
    expect(resource(app, sendMailId()).Properties).toMatchObject({ MemorySize: 256, Timeout: 30 })
    expect(secretsReadBy(app, sendMailId())).toEqual([`<${secretId(app, 'DatabaseSecret')}>`])
    // No resource policy: only the roles granted below may invoke it (no service, no other account).
    for (const [, permission] of byType(app, 'AWS::Lambda::Permission'))
      expect(render(permission.Properties.FunctionName)).not.toContain(sendMailId())
  })

  it('may send through SES as the configured sender of the configured identity only', () => {
    const { statements, managed, inline } = grantsOf(app, roleOf(app, 'send-mail'))
    expect([managed, inline]).toEqual([[], []])
    const ses = statements.filter((statement) =>
      actions(statement).some((action) => action.startsWith('ses:')),
    )
    expect(ses).toHaveLength(1)
    expect(actions(ses[0] as Statement).sort()).toEqual(['ses:SendEmail', 'ses:SendRawEmail'])
    expect(resources(ses[0] as Statement)).toEqual([`${IDENTITY_ARN}mail.example.com`])
    expect((ses[0] as Statement & { Condition?: unknown }).Condition).toEqual({
      StringEquals: { 'ses:FromAddress': 'no-reply@mail.example.com' },
    })
    // Its other grants: its log group, the database secret, the failure destination.
    const [queueId] = queueOf(app)
    expect(
      statements
        .filter((statement) => !ses.includes(statement))
        .map((statement) => [actions(statement).sort(), resources(statement)]),
    ).toEqual([
      [['logs:CreateLogStream', 'logs:PutLogEvents'], [expect.stringMatching(/^<SendMailLogs\w+\.Arn>$/)]],
      [
        ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        [`<${secretId(app, 'DatabaseSecret')}>`],
      ],
      [['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], [`<${queueId}.Arn>`]],
    ])
    // Nothing else may send mail.
    expect([...allowed(app, 'ses:SendRawEmail').keys()]).toEqual([roleOf(app, 'send-mail')])
    expect([...allowed(app, 'ses:SendEmail').keys()]).toEqual([roleOf(app, 'send-mail')])
  })

  it('retries a failed send twice, then hands the event to the MailFailures queue, within an hour', () => {
    const [, config] = onlyOf(app, 'AWS::Lambda::EventInvokeConfig')
    const [queueId] = queueOf(app)
    expect(config.Properties).toEqual({
      FunctionName: { Ref: sendMailId() },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } } },
    })
    expect(render(app.outputs.MailFailuresQueueUrl?.Value)).toBe(`<${queueId}>`)
    expect(render(app.outputs.SendMailFunctionName?.Value)).toBe(`<${sendMailId()}>`)
  })

  it('keeps the failures 14 days in an encrypted queue that refuses any request without TLS, written by send-mail alone', () => {
    const [queueId, queue] = queueOf(app)
    expect(queue.Properties).toEqual({ MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true })
    const [, policy] = onlyOf(app, 'AWS::SQS::QueuePolicy')
    expect(policy.Properties.Queues).toEqual([{ Ref: queueId }])
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      {
        Action: 'sqs:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
      },
    ])
    expect([...allowed(app, 'sqs:SendMessage').keys()]).toEqual([roleOf(app, 'send-mail')])
  })

  it('raises an alarm when a job is in MailFailures, and when send-mail fails', () => {
    const alarms = byType(app, 'AWS::CloudWatch::Alarm')
      .filter(([id]) => /^(MailFailuresAlarm|SendMailErrorsAlarm)/.test(id))
      .map(([, alarm]) => alarm.Properties)
    const [queueId] = queueOf(app)
    const common = {
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      Period: 300,
      TreatMissingData: 'notBreaching',
    }
    expect(alarms).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          ...common,
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Statistic: 'Maximum',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        }),
        expect.objectContaining({
          ...common,
          Namespace: 'AWS/Lambda',
          MetricName: 'Errors',
          Statistic: 'Sum',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: sendMailId() } }],
        }),
      ]),
    )
    expect(alarms).toHaveLength(2)
  })

  it('lets exactly the functions that queue mail invoke send-mail, by the name they are given, and nothing else', () => {
    expect(mailQueuers).toEqual([
      'account-deletion',
      'account-deletion-confirm',
      'admin-delete-user',
      'admin-password-reset',
      'change-password',
      'delete-account',
      'email-change',
      'email-change-confirm',
      'email-verification',
      'password-reset',
      'password-reset-confirm',
      'register',
    ])
    const arn = `<${sendMailId()}.Arn>`
    const invokers = [...allowed(app, 'lambda:InvokeFunction')].filter(([, arns]) =>
      arns.some((candidate) => candidate.startsWith(arn.slice(0, -1))),
    )
    expect(invokers.map(([role]) => role).sort()).toEqual(mailQueuers.map((name) => roleOf(app, name)).sort())
    for (const [role, arns] of invokers) expect(arns, role).toEqual([arn])
    for (const [name, fn] of app.stack.functions) {
      const variables = resource(app, app.logicalId(fn)).Properties.Environment.Variables
      expect(variables.MAILER_FUNCTION_NAME, name).toEqual(
        mailQueuers.includes(name) ? { Ref: sendMailId() } : undefined,
      )
    }
  })

  it('is updated only after the migrations, without a dependency cycle', () => {
    const [triggerId] = migrationTrigger(app)
    expect(resource(app, sendMailId()).DependsOn).toContain(triggerId)
    expect(dependencyCycle(app)).toBeUndefined()
  })

  it('takes the SES identity, the product name and the link lifetime from context', () => {
    const custom = synthesize({
      context: {
        mailFrom: 'no-reply@mail.example.com',
        passwordResetUrl: 'https://example.com/#/reset/{token}',
        sesIdentity: 'example.com',
        productName: 'Papa',
        passwordResetTtlSeconds: '900',
      },
    })
    const byAddress = synthesize({ context: { ...MAIL_CONTEXT, sesIdentity: 'no-reply@mail.example.com' } })
    try {
      const sesResource = (synthesized: Synthesized) =>
        grantsOf(synthesized, roleOf(synthesized, 'send-mail'))
          .statements.filter((statement) => actions(statement).includes('ses:SendRawEmail'))
          .flatMap(resources)
      expect(sesResource(custom)).toEqual([`${IDENTITY_ARN}example.com`])
      expect(sesResource(byAddress)).toEqual([`${IDENTITY_ARN}no-reply@mail.example.com`])
      expect(
        resource(custom, logicalIdOf(custom, 'send-mail')).Properties.Environment.Variables,
      ).toMatchObject({
        MAIL_FROM: 'no-reply@mail.example.com',
        PASSWORD_RESET_URL: 'https://example.com/#/reset/{token}',
        PRODUCT_NAME: 'Papa',
        PASSWORD_RESET_TTL_SECONDS: '900',
      })
      // The API functions store the link's expiry; the cleanup reads the reset windows.
      for (const name of ['password-reset', 'cleanup']) {
        const variables = resource(custom, logicalIdOf(custom, name)).Properties.Environment.Variables
        expect(variables.PASSWORD_RESET_TTL_SECONDS, name).toBe('900')
      }
      expect(custom.warnings()).toEqual([])
    } finally {
      custom.remove()
      byAddress.remove()
    }
  })

  it('fails the synth on a reset URL the function would refuse, a sender SES cannot use, or half the settings', () => {
    const mail = (context: Record<string, string>) => () =>
      synthesize({ context: { ...MAIL_CONTEXT, ...context } })
    // Without {token} the token goes into the query: accepted. Twice is a mistake.
    expect(mail({ passwordResetUrl: 'https://app.example.com/reset-password' })).not.toThrow()
    expect(mail({ passwordResetUrl: 'https://app.example.com/{token}?again={token}' })).toThrow(
      'context passwordResetUrl: PASSWORD_RESET_URL may contain {token} once at most, not "https://app.example.com/{token}?again={token}"',
    )
    for (const url of [
      '/reset-password?token={token}',
      'app.example.com/r?t={token}',
      'ftp://app.example.com/{token}',
    ])
      expect(mail({ passwordResetUrl: url }), url).toThrow(
        /^context passwordResetUrl: PASSWORD_RESET_URL must be an absolute http\(s\) URL/,
      )
    for (const mailFrom of [
      'Past Questions',
      'a@example.com, b@example.com',
      'Name <no-reply>',
      'x@localhost',
    ])
      expect(mail({ mailFrom }), mailFrom).toThrow(/^context mailFrom must be one sender/)
    expect(mail({ sesIdentity: 'other.example.com' })).toThrow(
      /^context sesIdentity "other\.example\.com" does not cover the sender no-reply@mail\.example\.com/,
    )
    expect(mail({ sesIdentity: 'someone@mail.example.com' })).toThrow(/does not cover the sender/)
    expect(() => synthesize({ context: { mailFrom: MAIL_CONTEXT.mailFrom } })).toThrow(
      /^context passwordResetUrl is missing: mailFrom and passwordResetUrl go together/,
    )
    expect(() => synthesize({ context: { passwordResetUrl: MAIL_CONTEXT.passwordResetUrl } })).toThrow(
      /^context mailFrom is missing/,
    )
    expect(() => synthesize({ context: { sesIdentity: 'example.com' } })).toThrow(
      /^context sesIdentity given without mailFrom and passwordResetUrl/,
    )
  })

  it('warns when the reset link would travel over plain http', () => {
    const plain = synthesize({
      context: { ...MAIL_CONTEXT, passwordResetUrl: 'http://app.example.com/reset?token={token}' },
    })
    try {
      expect(plain.warnings().map(({ id }) => id)).toEqual(['papa-auth:reset-url-http'])
    } finally {
      plain.remove()
    }
  })

  describe('without the mail context', () => {
    let noMail: Synthesized
    beforeAll(() => {
      noMail = synthesize()
    })
    afterAll(() => noMail?.remove())

    it('still synthesizes, with a warning naming the context to set', () => {
      expect(noMail.warnings()).toEqual([
        {
          id: 'papa-auth:mail-off',
          message: expect.stringMatching(
            /^Password reset emails are off: .*set context mailFrom .* and passwordResetUrl .*sesIdentity and productName/,
          ),
        },
      ])
      expect(app.warnings()).toEqual([])
    })

    it('deploys no mail sender, no queue, no alarm and no SES or invoke grant; no function is told of a mailer', () => {
      expect(noMail.stack.functions.has('send-mail')).toBe(false)
      for (const type of ['AWS::SQS::Queue', 'AWS::Lambda::EventInvokeConfig'])
        expect(byType(noMail, type), type).toEqual([])
      expect(
        byType(noMail, 'AWS::CloudWatch::Alarm').filter(([id]) => /Mail/.test(id)),
        'mail alarms',
      ).toEqual([])
      const text = JSON.stringify(noMail.resources)
      expect(text).not.toContain('MAILER_FUNCTION_NAME')
      expect(text).not.toContain('"ses:')
      for (const name of mailQueuers) {
        const { statements } = grantsOf(noMail, roleOf(noMail, name))
        expect(statements.flatMap(actions), name).not.toContain('lambda:InvokeFunction')
      }
      expect(noMail.outputs.MailFailuresQueueUrl).toBeUndefined()
      // The routes are deployed all the same: a reset request is answered 503, not 404.
      expect(noMail.stack.functions.has('password-reset')).toBe(true)
    })
  })
})

describe('cdk-nag', () => {
  it('finds nothing in the AwsSolutions pack that is not acknowledged', () => {
    const report = new AwsSolutionsChecks(app.stack).validateScope(app.stack)
    expect(report.violations).toEqual([])
    expect(report.success).toBe(true)
  })

  it('runs in every synth, so an unacknowledged finding fails `cdk synth`', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'papa-auth-cdk-'))
    try {
      const failing = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } })
      new secretsmanager.Secret(defineApp(failing), 'UnrotatedSecret')
      expect(() => failing.synth()).toThrow(/AwsSolutions-SMG4/)
    } finally {
      rmSync(outdir, { recursive: true, force: true })
    }
  })

  it('gives a reason for every acknowledgment', () => {
    const acknowledged: [string, string][] = []
    const visit = (construct: IConstruct) => {
      for (const entry of construct.node.metadata) {
        if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
          acknowledged.push(...Object.entries(entry.data as Record<string, string>))
        }
      }
      for (const child of construct.node.children) visit(child)
    }
    visit(app.stack)
    expect(acknowledged.map(([id]) => id.replace(/^Annotation::/, '')).sort()).toEqual([
      // The rotation function's permission is for Secrets Manager, which invokes it unqualified (not its version).
      '@aws-cdk/aws-lambda:addPermissionsToVersionOrAlias',
      'AwsSolutions-APIG4',
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<NeonHandler\w+\.Arn>:\*\]$/),
      'AwsSolutions-SMG4',
      'AwsSolutions-SMG4',
      'AwsSolutions-SMG4',
      // The MailFailures queue is itself a failure destination.
      'AwsSolutions-SQS3',
    ])
    for (const [id, reason] of acknowledged) expect(reason.length, id).toBeGreaterThan(40)
  })
})

describe('alarms someone receives', () => {
  const OPERATOR_TOPIC = 'arn:aws:sns:eu-central-1:123456789012:ops-alarms'
  /** Everything the stack can deploy, with an address to page. */
  let full: Synthesized
  /** No context at all: the stack's own topic, subscribed by no one. */
  let bare: Synthesized
  /** The operator's topic instead of the stack's. */
  let operators: Synthesized
  beforeAll(() => {
    full = synthesize({
      context: {
        ...MAIL_CONTEXT,
        docs: 'true',
        loginProvisionedConcurrency: '2',
        alarmEmail: 'ops@example.com',
      },
    })
    bare = synthesize()
    operators = synthesize({ context: { ...MAIL_CONTEXT, alarmTopicArn: OPERATOR_TOPIC } })
  }, 180_000)
  afterAll(() => {
    full?.remove()
    bare?.remove()
    operators?.remove()
  })

  const alarms = (synthesized: Synthesized) => byType(synthesized, 'AWS::CloudWatch::Alarm')
  /** The one alarm whose logical ID starts with `prefix`, its properties. */
  const alarmOf = (synthesized: Synthesized, prefix: string) => {
    const found = alarms(synthesized).filter(([id]) => id.startsWith(prefix))
    expect(found, prefix).toHaveLength(1)
    return (found[0] as [string, Resource])[1].Properties
  }
  const lambdaMetric = (synthesized: Synthesized, name: string, metric: string) => ({
    Namespace: 'AWS/Lambda',
    MetricName: metric,
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(synthesized, name) } }],
    Statistic: 'Sum',
  })

  describe('the topic', () => {
    it('is the stack’s own by default: encrypted with a rotated key of its own, subscribed by no one, its ARN an output', () => {
      const [topicId, topic] = onlyOf(bare, 'AWS::SNS::Topic')
      const [keyId, key] = onlyOf(bare, 'AWS::KMS::Key')
      expect(topic.Properties).toEqual({
        DisplayName: 'PapaAuth alarms',
        KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      })
      expect(key.Properties).toMatchObject({ EnableKeyRotation: true, PendingWindowInDays: 7 })
      expect(byType(bare, 'AWS::SNS::Subscription')).toEqual([])
      expect(bare.outputs.AlarmTopicArn?.Value).toEqual({ Ref: topicId })
    })

    it('subscribes the alarmEmail address by email', () => {
      const [, subscription] = onlyOf(full, 'AWS::SNS::Subscription')
      expect(subscription.Properties).toEqual({
        Protocol: 'email',
        Endpoint: 'ops@example.com',
        TopicArn: { Ref: alarmTopicOf(full) },
      })
      // The address is in the subscription only: no output prints it.
      expect(JSON.stringify(full.outputs)).not.toContain('ops@example.com')
    })

    it('refuses every request without TLS, lets only this account’s alarms and this stack’s rule publish', () => {
      const [, policy] = onlyOf(full, 'AWS::SNS::TopicPolicy')
      const topic = { Ref: alarmTopicOf(full) }
      expect(policy.Properties.Topics).toEqual([topic])
      const [ruleId] = onlyOfPrefix(full, 'AWS::Events::Rule', 'SigningKeysRotationFailed')
      expect(policy.Properties.PolicyDocument.Statement).toEqual([
        {
          Sid: 'AllowPublishThroughSSLOnly',
          Effect: 'Deny',
          Principal: '*',
          Action: 'sns:Publish',
          Resource: topic,
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        {
          Sid: 'AlarmsOfThisAccountPublish',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: topic,
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: { 'aws:SourceArn': expect.anything() },
          },
        },
        {
          Sid: 'RuleOfThisStackPublishes',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: topic,
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
        },
      ])
      const cloudwatch = policy.Properties.PolicyDocument.Statement[1]
      expect(render(cloudwatch.Condition.ArnLike['aws:SourceArn'])).toBe(
        'arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*',
      )
    })

    it('lets CloudWatch and EventBridge encrypt with the key, as SNS does for what they publish, and nothing more', () => {
      const [, key] = onlyOf(full, 'AWS::KMS::Key')
      const statements = key.Properties.KeyPolicy.Statement as Record<string, unknown>[]
      // The account's own administration of the key (CDK's default), and the two publishers.
      expect(statements).toHaveLength(2)
      expect(statements[1]).toEqual({
        Sid: 'AlarmsAndEventsPublishEncrypted',
        Effect: 'Allow',
        Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
      })
    })

    it('is the operator’s with alarmTopicArn: no topic, key, policy or subscription of the stack’s, and its ARN everywhere', () => {
      for (const type of [
        'AWS::SNS::Topic',
        'AWS::KMS::Key',
        'AWS::SNS::TopicPolicy',
        'AWS::SNS::Subscription',
      ])
        expect(byType(operators, type), type).toEqual([])
      expect(operators.outputs.AlarmTopicArn?.Value).toBe(OPERATOR_TOPIC)
      for (const [id, alarm] of alarms(operators)) {
        expect(alarm.Properties.AlarmActions, id).toEqual([OPERATOR_TOPIC])
        expect(alarm.Properties.OKActions, id).toEqual([OPERATOR_TOPIC])
      }
      const [, rule] = onlyOfPrefix(operators, 'AWS::Events::Rule', 'SigningKeysRotationFailed')
      expect(rule.Properties.Targets[0].Arn).toBe(OPERATOR_TOPIC)
    })

    it('must be in the stack’s region: a template rule checks it when the stack has none, the synth when it has one', () => {
      const template = JSON.parse(
        readFileSync(join(operators.outdir, `${operators.stack.artifactId}.template.json`), 'utf8'),
      ) as { Rules: Record<string, { Assertions: { Assert: unknown; AssertDescription: string }[] }> }
      expect(template.Rules.AlarmTopicInTheStackRegion?.Assertions).toEqual([
        {
          Assert: { 'Fn::Equals': ['eu-central-1', { Ref: 'AWS::Region' }] },
          AssertDescription:
            'context alarmTopicArn names a topic in eu-central-1: CloudWatch alarms and EventBridge rules publish only to a topic in their own region.',
        },
      ])
      const bound = (region: string) => {
        const outdir = mkdtempSync(join(tmpdir(), 'papa-auth-cdk-'))
        try {
          const boundApp = new App({
            outdir,
            context: { 'aws:cdk:bundling-stacks': [], alarmTopicArn: OPERATOR_TOPIC },
          })
          const previous = process.env.CDK_DEFAULT_REGION
          process.env.CDK_DEFAULT_REGION = region
          try {
            defineApp(boundApp)
          } finally {
            if (previous === undefined) delete process.env.CDK_DEFAULT_REGION
            else process.env.CDK_DEFAULT_REGION = previous
          }
          return boundApp.synth().stacks[0]?.template as { Rules?: Record<string, unknown> }
        } finally {
          rmSync(outdir, { recursive: true, force: true })
        }
      }
      expect(() => bound('us-east-1')).toThrow(
        "context alarmTopicArn names a topic in eu-central-1: CloudWatch alarms and EventBridge rules publish only to a topic in their own region, and the stack's is us-east-1",
      )
      expect(bound('eu-central-1').Rules?.AlarmTopicInTheStackRegion).toBeUndefined()
    }, 120_000)
  })

  describe('the alarms', () => {
    const LOGIN_PATH = ['Login', 'Token', 'Refresh']
    const EXPECTED = [
      'AdminServerErrorsAlarm',
      'ApiServerErrorRateAlarm',
      ...LOGIN_PATH.flatMap((name) => [`${name}ErrorsAlarm`, `${name}ThrottlesAlarm`]),
      'LoginLatencyAlarm',
      'MeLatencyAlarm',
      'MigrateErrorsAlarm',
      'CleanupErrorsAlarm',
      'SigningKeysRotationAlertUndeliveredAlarm',
    ]
    const idsOf = (synthesized: Synthesized) =>
      alarms(synthesized)
        .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))
        .sort()

    it('are these, the mail sender’s two with mail', () => {
      expect(idsOf(bare)).toEqual([...EXPECTED].sort())
      expect(idsOf(full)).toEqual([...EXPECTED, 'MailFailuresAlarm', 'SendMailErrorsAlarm'].sort())
    })

    it('each tell the topic when they go off and when they recover, say what they mean, and how missing data counts', () => {
      for (const synthesized of [bare, full]) {
        const topic = { Ref: alarmTopicOf(synthesized) }
        for (const [id, alarm] of alarms(synthesized)) {
          expect(alarm.Properties.AlarmActions, id).toEqual([topic])
          expect(alarm.Properties.OKActions, id).toEqual([topic])
          expect(alarm.Properties.InsufficientDataActions, id).toBeUndefined()
          expect(alarm.Properties.AlarmDescription, id).toMatch(/^papa-auth: .{40,}/)
          expect(['notBreaching', 'ignore'], id).toContain(alarm.Properties.TreatMissingData)
        }
      }
    })

    it('page on the API’s 5xx above 5 % of its requests in five minutes, once at least 5 failed', () => {
      const [apiId] = onlyOf(full, 'AWS::ApiGatewayV2::Api')
      const stageMetric = (name: string) => ({
        Metric: {
          Namespace: 'AWS/ApiGateway',
          MetricName: name,
          Dimensions: [
            { Name: 'ApiId', Value: { Ref: apiId } },
            { Name: 'Stage', Value: '$default' },
          ],
        },
        Period: 300,
        Stat: 'Sum',
      })
      const { AlarmActions, OKActions, AlarmDescription, ...rest } = alarmOf(full, 'ApiServerErrorRateAlarm')
      expect(rest).toEqual({
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 5,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        Metrics: [
          {
            Id: 'expr_1',
            Expression: 'IF(FILL(errors, 0) >= 5, 100 * FILL(errors, 0) / FILL(requests, 1), 0)',
            Label: 'API: 5xx, % of requests',
            ReturnData: true,
          },
          { Id: 'errors', MetricStat: stageMetric('5xx'), ReturnData: false },
          { Id: 'requests', MetricStat: stageMetric('Count'), ReturnData: false },
        ],
      })
    })

    it('page on any error or throttle of login, token and refresh, alias invocations included', () => {
      for (const synthesized of [bare, full])
        for (const name of PROVISIONED_FUNCTIONS)
          for (const [metric, suffix] of [
            ['Errors', 'ErrorsAlarm'],
            ['Throttles', 'ThrottlesAlarm'],
          ] as const) {
            const prefix = `${name.charAt(0).toUpperCase()}${name.slice(1)}${suffix}`
            expect(alarmOf(synthesized, prefix), prefix).toMatchObject({
              ...lambdaMetric(synthesized, name, metric),
              Period: 300,
              ComparisonOperator: 'GreaterThanOrEqualToThreshold',
              Threshold: 1,
              EvaluationPeriods: 1,
              TreatMissingData: 'notBreaching',
            })
          }
      // With provisioned concurrency the routes invoke the `live` alias; the function's own metrics (no Resource
      // dimension) sum every version and alias, so the alarms read the same metric.
      expect(byType(full, 'AWS::Lambda::Alias')).toHaveLength(PROVISIONED_FUNCTIONS.length)
    })

    it('page on the p99 latency of login and /users/me, per route, in 2 of 3 periods with at least 50 requests', () => {
      const [apiId] = onlyOf(full, 'AWS::ApiGatewayV2::Api')
      for (const [prefix, method, path, threshold] of [
        ['LoginLatencyAlarm', 'POST', `${API_BASE_PATH}/auth/login`, 3000],
        ['MeLatencyAlarm', 'GET', `${API_BASE_PATH}/users/me`, 1500],
      ] as const) {
        const routeMetric = (name: string, stat: string) => ({
          Metric: {
            Namespace: 'AWS/ApiGateway',
            MetricName: name,
            Dimensions: [
              { Name: 'ApiId', Value: { Ref: apiId } },
              { Name: 'Method', Value: method },
              { Name: 'Resource', Value: path },
              { Name: 'Stage', Value: '$default' },
            ],
          },
          Period: 300,
          Stat: stat,
        })
        expect(alarmOf(full, prefix)).toMatchObject({
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: threshold,
          EvaluationPeriods: 3,
          DatapointsToAlarm: 2,
          TreatMissingData: 'notBreaching',
          Metrics: [
            { Id: 'expr_1', Expression: 'IF(FILL(requests, 0) >= 50, latency, 0)', ReturnData: true },
            { Id: 'latency', MetricStat: routeMetric('Latency', 'p99'), ReturnData: false },
            { Id: 'requests', MetricStat: routeMetric('Count', 'Sum'), ReturnData: false },
          ],
        })
        // The route's detailed metrics are on, at the stage's own throttling, after the route exists.
        const [, stage] = onlyOf(full, 'AWS::ApiGatewayV2::Stage')
        expect(stage.Properties.RouteSettings[`${method} ${path}`]).toEqual({
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
          DetailedMetricsEnabled: true,
        })
        const [routeId] = byType(full, 'AWS::ApiGatewayV2::Route').find(
          ([, route]) => route.Properties.RouteKey === `${method} ${path}`,
        ) as [string, Resource]
        expect(stage.DependsOn).toContain(routeId)
      }
    })

    it('page on a failed migrate, and stay raised until a run succeeds', () => {
      expect(alarmOf(full, 'MigrateErrorsAlarm')).toMatchObject({
        ...lambdaMetric(full, 'migrate', 'Errors'),
        Period: 300,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 1,
        TreatMissingData: 'ignore',
      })
    })

    it('page on a cleanup that failed in each of three hours in a row', () => {
      expect(alarmOf(full, 'CleanupErrorsAlarm')).toMatchObject({
        ...lambdaMetric(full, 'cleanup', 'Errors'),
        Period: 3600,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 1,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
      })
    })
  })

  describe('a failed rotation of the signing keys', () => {
    it('is Secrets Manager’s RotationFailed for the key set alone, sent to the topic in words', () => {
      const [ruleId, rule] = onlyOfPrefix(full, 'AWS::Events::Rule', 'SigningKeysRotationFailed')
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.secretsmanager'],
        'detail-type': ['AWS Service Event via CloudTrail'],
        detail: {
          eventSource: ['secretsmanager.amazonaws.com'],
          eventName: ['RotationFailed', 'TestRotationFailed'],
          additionalEventData: { SecretId: [{ Ref: secretId(full, 'SigningKeys') }] },
        },
      })
      const [target, ...others] = rule.Properties.Targets
      expect(others).toEqual([])
      expect(target).toMatchObject({ Arn: { Ref: alarmTopicOf(full) }, Id: 'Target0' })
      // Published by the topic's policy (above), not a role, which would break delivery to an encrypted topic.
      expect(target.RoleArn).toBeUndefined()
      expect(target.InputTransformer.InputPathsMap).toEqual({
        'detail-eventName': '$.detail.eventName',
        time: '$.time',
        'detail-additionalEventData-SecretId': '$.detail.additionalEventData.SecretId',
      })
      expect(JSON.parse(target.InputTransformer.InputTemplate)).toMatch(
        /^papa-auth PapaAuth: a rotation of the signing keys failed \(<detail-eventName> at <time>, secret <detail-additionalEventData-SecretId>\)\./,
      )
      // An undelivered failure has an alarm of its own.
      expect(alarmOf(full, 'SigningKeysRotationAlertUndeliveredAlarm')).toMatchObject({
        Namespace: 'AWS/Events',
        MetricName: 'FailedInvocations',
        Dimensions: [{ Name: 'RuleName', Value: { Ref: ruleId } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      })
    })
  })

  describe('the dashboard', () => {
    /** The dashboard's body, its references rendered `<LogicalId>` (`<LogicalId.Arn>`), parsed. */
    const bodyOf = (synthesized: Synthesized) => {
      const [id, dashboard] = onlyOf(synthesized, 'AWS::CloudWatch::Dashboard')
      expect(synthesized.outputs.DashboardName?.Value).toEqual({ Ref: id })
      return JSON.parse(render(dashboard.Properties.DashboardBody)) as {
        widgets: {
          properties: { title?: string; alarms?: string[]; metrics?: unknown[][]; annotations?: unknown }
        }[]
      }
    }
    const titled = (synthesized: Synthesized, title: string) => {
      const widget = bodyOf(synthesized).widgets.find((each) => each.properties.title === title)
      expect(widget, title).toBeDefined()
      return widget?.properties ?? {}
    }

    it('is one, its name an output, and shows the state of every alarm', () => {
      for (const synthesized of [bare, full])
        expect(titled(synthesized, 'PapaAuth: alarms').alarms?.sort()).toEqual(
          alarms(synthesized)
            .map(([id]) => `<${id}.Arn>`)
            .sort(),
        )
    })

    it('graphs the counts: logins by outcome through login and token together, resets requested and confirmed', () => {
      /** The widget's metric lines: `[namespace, name, dimension, value, …]`, their options last. */
      const linesOf = (title: string) =>
        (titled(full, title).metrics ?? []).map((line) => ({
          metric: line.filter((part) => typeof part === 'string'),
          options: line.find((part) => typeof part === 'object') as Record<string, unknown> | undefined,
        }))
      const logins = linesOf('Logins')
      for (const outcome of ['succeeded', 'failed', 'locked']) {
        expect(logins.map(({ options }) => options?.expression)).toContain(
          `FILL(login_${outcome}, 0) + FILL(token_${outcome}, 0)`,
        )
        for (const name of ['login', 'token'])
          expect(logins).toContainEqual({
            metric: [
              'PapaAuth',
              'Logins',
              'FunctionName',
              `<${logicalIdOf(full, name)}>`,
              'Outcome',
              outcome,
            ],
            options: { id: `${name}_${outcome}`, visible: false, stat: 'Sum' },
          })
      }
      const resets = linesOf('Password resets').map(({ metric }) => metric)
      expect(resets).toEqual([
        [
          'PapaAuth',
          'PasswordResets',
          'FunctionName',
          `<${logicalIdOf(full, 'password-reset')}>`,
          'Outcome',
          'requested',
        ],
        [
          'PapaAuth',
          'PasswordResets',
          'FunctionName',
          `<${logicalIdOf(full, 'password-reset-confirm')}>`,
          'Outcome',
          'confirmed',
        ],
      ])
    })

    it('graphs the login path’s provisioned concurrency when it has some', () => {
      const metrics = JSON.stringify(titled(full, 'Login path: provisioned concurrency').metrics)
      expect(metrics).toContain('ProvisionedConcurrencyUtilization')
      expect(metrics).toContain('ProvisionedConcurrencySpilloverInvocations')
      expect(bodyOf(bare).widgets.map((widget) => widget.properties.title)).not.toContain(
        'Login path: provisioned concurrency',
      )
    })
  })

  it('passes cdk-nag with nothing more acknowledged, and each variant synthesizes', () => {
    for (const synthesized of [bare, full, operators]) {
      const report = new AwsSolutionsChecks(synthesized.stack).validateScope(synthesized.stack)
      expect(report.violations).toEqual([])
    }
  })
})

/** The one resource of a type whose logical ID starts with `prefix`. */
function onlyOfPrefix(synthesized: Synthesized, type: string, prefix: string): [string, Resource] {
  const found = byType(synthesized, type).filter(([id]) => id.startsWith(prefix))
  expect(found, prefix).toHaveLength(1)
  return found[0] as [string, Resource]
}
describe('partitions, FIPS endpoints and the imported secrets’ KMS key', () => {
  const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'
  const OWN_DATABASE = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:papa-auth/database-AbCdEf'
  /** Synthesizes a stack bound to `region` (CDK_DEFAULT_REGION, as the CLI sets it). */
  const synthesizeIn = (region: string, context: Record<string, unknown> = {}) => {
    const before = process.env.CDK_DEFAULT_REGION
    process.env.CDK_DEFAULT_REGION = region
    try {
      return synthesize({ context })
    } finally {
      if (before === undefined) delete process.env.CDK_DEFAULT_REGION
      else process.env.CDK_DEFAULT_REGION = before
    }
  }
  const rules = (synthesized: Synthesized) =>
    (synthesized.template.toJSON() as { Rules?: Record<string, unknown> }).Rules ?? {}
  const functions = (synthesized: Synthesized) => byType(synthesized, 'AWS::Lambda::Function')
  const roleOf = (synthesized: Synthesized, functionId: string) =>
    render(resource(synthesized, functionId).Properties.Role).replace(/^<|\.Arn>$/g, '')
  const kmsGrantsOf = (synthesized: Synthesized, functionId: string) =>
    grantsOf(synthesized, roleOf(synthesized, functionId)).statements.filter((statement) =>
      actions(statement).some((action) => action.startsWith('kms:')),
    )
  const DECRYPT_THROUGH_SECRETS_MANAGER = {
    Effect: 'Allow',
    Action: 'kms:Decrypt',
    Resource: KEY_ARN,
    Condition: {
      StringEquals: {
        'kms:ViaService': {
          'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]],
        },
      },
    },
  }

  it('refuses at synth a region of a partition the functions’ AWS calls do not know; China and GovCloud pass', () => {
    expect(() => synthesizeIn('us-iso-east-1')).toThrow(
      'the stack cannot be deployed to us-iso-east-1: region us-iso-east-1 is in the aws-iso partition; the service runs in aws, aws-cn, aws-us-gov only',
    )
    for (const region of ['cn-north-1', 'us-gov-west-1']) {
      // Neon has no region there: with a database of one's own.
      const elsewhere = synthesizeIn(region, { databaseSecretName: 'papa-auth/database' })
      try {
        expect(rules(elsewhere).SupportedPartition, region).toBeUndefined()
      } finally {
        elsewhere.remove()
      }
    }
  })

  it('checks the partition with a template rule when the region is only known at deploy', () => {
    expect(rules(app).SupportedPartition).toEqual({
      Assertions: [
        {
          Assert: { 'Fn::Contains': [['aws', 'aws-cn', 'aws-us-gov'], { Ref: 'AWS::Partition' }] },
          AssertDescription:
            'The functions call AWS APIs in the aws, aws-cn, aws-us-gov partitions only; deploy to a region of one of them.',
        },
      ],
    })
  })

  it('sets AWS_USE_FIPS_ENDPOINT on every function with useFipsEndpoints, CDK’s own included, and on none without', () => {
    const fips = synthesize({ context: { ...MAIL_CONTEXT, useFipsEndpoints: 'true' } })
    try {
      expect(functions(fips).length).toBeGreaterThan(30)
      for (const [id, fn] of functions(fips))
        expect(fn.Properties.Environment?.Variables?.AWS_USE_FIPS_ENDPOINT, id).toBe('true')
    } finally {
      fips.remove()
    }
    for (const [id, fn] of functions(app))
      expect(fn.Properties.Environment?.Variables?.AWS_USE_FIPS_ENDPOINT, id).toBeUndefined()
    expect(() => synthesize({ context: { useFipsEndpoints: 'yes' } })).toThrow(
      'context useFipsEndpoints must be true or false, not "yes"',
    )
  })

  it('lets whatever reads an imported secret decrypt it with importedSecretsKmsKeyArn, through Secrets Manager only', () => {
    const own = synthesize({
      context: { databaseSecretName: OWN_DATABASE, importedSecretsKmsKeyArn: KEY_ARN },
    })
    const neon = synthesize({ context: { importedSecretsKmsKeyArn: KEY_ARN } })
    try {
      // Every function that reads the database secret: the key, for decrypting, only through Secrets Manager.
      // Every function that reads the database secret gets the key, for decrypting, only through Secrets Manager;
      // the others (the rotation, the JWKS: the stack's own secrets, under aws/secretsmanager) get no key at all.
      const readers = functions(own).filter(([id]) => secretsReadBy(own, id).includes(OWN_DATABASE))
      expect(readers.length).toBeGreaterThan(20)
      for (const [id] of functions(own))
        expect(kmsGrantsOf(own, id), id).toEqual(
          secretsReadBy(own, id).includes(OWN_DATABASE) ? [DECRYPT_THROUGH_SECRETS_MANAGER] : [],
        )
      expect(kmsGrantsOf(own, logicalIdOf(own, 'rotate-signing-keys'))).toEqual([])
      // With the stack's Neon project, the imported secret is the Neon API key: its provider alone gets the key.
      const withKey = functions(neon).filter(([id]) => kmsGrantsOf(neon, id).length > 0)
      expect(withKey.map(([id]) => id)).toEqual([expect.stringMatching(/^NeonHandler/)])
      expect(kmsGrantsOf(neon, withKey[0]?.[0] ?? '')).toEqual([DECRYPT_THROUGH_SECRETS_MANAGER])
    } finally {
      own.remove()
      neon.remove()
    }
    // Unset: no function may use any KMS key.
    for (const [id] of functions(app)) expect(kmsGrantsOf(app, id), id).toEqual([])
  })

  it('refuses an alias or anything but a KMS key ARN as importedSecretsKmsKeyArn', () => {
    expect(() =>
      synthesize({ context: { importedSecretsKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:alias/papa' } }),
    ).toThrow(
      "context importedSecretsKmsKeyArn must be the key's ARN, not an alias's (arn:aws:kms:eu-west-1:123456789012:alias/papa): aws kms describe-key --key-id arn:aws:kms:eu-west-1:123456789012:alias/papa --query KeyMetadata.Arn",
    )
    expect(() => synthesize({ context: { importedSecretsKmsKeyArn: '1234abcd-12ab' } })).toThrow(
      /context importedSecretsKmsKeyArn must be a KMS key ARN/,
    )
  })
})
