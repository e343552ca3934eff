import { App, type CfnElement, CfnResource, Stack } from 'aws-cdk-lib'
import { Construct } from 'constructs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { logicalIdWithoutParts, StackPart } from '#infra/constructs/stack-part'
import { MAIL_CONTEXT, type Synthesized, synthesize } from './synth.ts'

/**
 * A deploy replaces a resource whose logical ID changed: for these, that loses data (a secret's value, the database
 * project, the failed mail jobs, the logs), the API's URL (the tokens' issuer), or runs an unplanned key rotation
 * (a new rotation schedule rotates at once). Each keeps the ID it had when the stack made everything directly, before
 * it was split into parts; a part that changes one fails here.
 */
const KEPT: Record<string, string> = {
  DatabaseSecret86DBB7B3: 'AWS::SecretsManager::Secret',
  SigningKeysA56F0358: 'AWS::SecretsManager::Secret',
  PublicKeys430E2E06: 'AWS::SecretsManager::Secret',
  AdminPassword4DD767F0: 'AWS::SecretsManager::Secret',
  SigningKeysRotation: 'AWS::SecretsManager::RotationSchedule',
  NeonProject8E011342: 'Custom::NeonProject',
  NeonInService: 'Custom::NeonProjectInService',
  MailFailures7BCA939E: 'AWS::SQS::Queue',
  ApiF70053CD: 'AWS::ApiGatewayV2::Api',
  DefaultStageEE28A986: 'AWS::ApiGatewayV2::Stage',
  MigrateOnDeploy: 'Custom::Trigger',
  CleanupSchedule42CE35AB: 'AWS::Events::Rule',
  // Named by EventBridge after the function's path, which runs through a part now (keepLogicalIdNamedAfter).
  CleanupScheduleAllowEventRulePapaAuthCleanupFunctionFAD8451F31D11C77: 'AWS::Lambda::Permission',
  ...Object.fromEntries(
    [
      'ApiAccessLogsE9DF007D',
      'TriggerProviderLogs8646A43D',
      'NeonHandlerLogs6104B43F',
      'NeonProviderLogs881C980E',
      'ChangePasswordLogsFA1EAD8D',
      'ClaimsLogs3EBB5F2D',
      'CleanupLogs5A23BA09',
      'CutoverLogsC931ABFC',
      'DocsLogs24466D86',
      'EndAllSessionsLogs3C2F34E8',
      'EndOneSessionLogs60A779AE',
      'HealthLogs774F13BC',
      'JwksLogsDC18869C',
      'ListSessionsLogs8FECE808',
      'LoginLogs3CF9BBAF',
      'LogoutLogs1C5894FB',
      'MeLogs04B5582D',
      'MigrateLogsBDEC375F',
      'NotFoundLogsE9846395',
      'OpenapiLogsF278BA23',
      'OpenidConfigurationLogs8589091A',
      'PasswordResetConfirmLogs224D41C8',
      'PasswordResetLogs2928EB27',
      'RefreshLogsE8FB3D0F',
      'RegisterLogs01221AED',
      'RotateSigningKeysLogs52089E6F',
      'SeedAdminLogs81F6004F',
      'SendMailLogs09783567',
      'TokenLogsD49D257A',
    ].map((id) => [id, 'AWS::Logs::LogGroup']),
  ),
}

let app: Synthesized
beforeAll(() => {
  app = synthesize({ context: { docs: 'true', ...MAIL_CONTEXT } })
})
afterAll(() => app?.remove())

describe('logical IDs', () => {
  it('keep those of every resource that holds data, the API and the key rotation', () => {
    const found = Object.fromEntries(
      Object.keys(KEPT).map((id) => [id, app.resources[id]?.Type ?? 'missing']),
    )
    expect(found).toEqual(KEPT)
  })

  it('are CDK’s own for a resource in a part, as if the part were not there', () => {
    /** Paths that exercise every rule of CDK's naming: one id, `Resource`, `Default`, repeats, other characters. */
    const paths = [
      ['Queue'],
      ['Topic', 'Resource'],
      ['Api', 'Default'],
      ['Stage', 'Stage', 'Resource'],
      ['Login', 'LoginLogs', 'Logs'],
      ['Routes', 'POST--/api/v1/auth/login', 'Login-Integration'],
      ['Very'.repeat(70), 'Long'],
    ]
    const cdkApp = new App()
    const flat = new Stack(cdkApp, 'Flat')
    class Parted extends Stack {
      protected override allocateLogicalId(element: CfnElement): string {
        return logicalIdWithoutParts(element)
      }
    }
    const parted = new Parted(cdkApp, 'Parted')
    const make = (scope: Construct, path: string[]) => {
      const parent = path.slice(0, -1).reduce((at, id) => new Construct(at, id), scope)
      return new CfnResource(parent, path.at(-1) as string, { type: 'Test::Resource' })
    }
    paths.forEach((path, index) => {
      const inPart = new StackPart(new StackPart(parted, `Part${index}`), 'Inner')
      expect(parted.getLogicalId(make(inPart, path)), path.join('/')).toBe(
        flat.getLogicalId(make(flat, path)),
      )
    })
  })
})
