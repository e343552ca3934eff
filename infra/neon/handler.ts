import { createHash, randomBytes } from 'node:crypto'
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager'
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda'
import { logger } from '#shared/platform/logger'
import {
  type ConnectionParameters,
  type CreatedProject,
  createNeonApi,
  type Endpoint,
  type NeonApi,
  NeonApiError,
  type Operation,
  type Project,
  seconds,
} from './api.ts'
import {
  IN_SERVICE_RESOURCE_TYPE,
  type InServiceProperties,
  NEON_HANDLER_TIMEOUT_MS,
  type NeonProjectProperties,
  parseInServiceProperties,
  parseProperties,
} from './properties.ts'

/** What the provider framework expects back: the project id as the physical id, and nothing secret in `Data`. */
export interface NeonResourceResult {
  PhysicalResourceId: string
  Data?: { ProjectId: string }
}

/**
 * How an invocation's time is shared out. Every step is bounded so that the handler answers, success or a reason,
 * before Lambda's timeout: a killed handler answers nothing, and CloudFormation then waits an hour for a response.
 */
export interface HandlerTiming {
  /** Kept back from the invocation's remaining time, for the answer to reach the provider framework. */
  answerMarginMs: number
  /** Kept back during a create, for removing the new project when a later step fails. */
  cleanupReserveMs: number
  /** Kept back during the wait for a new project's operations, for writing the secret afterwards. */
  secretWriteReserveMs: number
  /** One Neon request's timeout, which the time left may cut shorter. */
  requestTimeoutMs: number
  /** No Neon request starts with less time left than this. */
  minAttemptMs: number
}

const DEFAULT_TIMING: HandlerTiming = {
  answerMarginMs: 5_000,
  cleanupReserveMs: 25_000,
  secretWriteReserveMs: 10_000,
  requestTimeoutMs: 30_000,
  minAttemptMs: 1_000,
}

export interface NeonHandlerOptions {
  secrets: SecretsManagerClient
  fetch?: typeof fetch
  retryDelayMs?: number
  pollIntervalMs?: number
  /** The longest wait for the new project's operations (branch, compute); the time left may cut it shorter. */
  operationsTimeoutMs?: number
  timing?: Partial<HandlerTiming>
}

export interface ConnectionStrings {
  pooledUrl: string
  directUrl: string
  /** The cleanup's own role, on the pooler; absent for a resource that names none. */
  cleanupUrl?: string
}

/** A role's name and password: for the database secret, never for a log, an error or the resource's `Data`. */
export interface RoleLogin {
  name: string
  password: string
}

/** The invocation's context as the handler reads it; a direct call (a test, a script) may pass none. */
export type InvocationContext = Pick<Context, 'getRemainingTimeInMillis'>

const DONE = new Set(['finished', 'skipped', 'cancelled'])
const FAILED = new Set(['failed', 'error'])
/** Neon's largest page of projects: a search by name returns no more than this. */
const PROJECT_PAGE = 400

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The Neon project resource's lifecycle. Create makes the project with its owner role under a provisional name, picks
 * the password of the API's role, and writes the connection strings into the stack's database secret (`directUrl` as
 * the owner, `pooledUrl` as the API's role); the in-service step, the last resource of the deploy, gives the project
 * its configured name. Update checks the request against the project as Neon has it, renames it, sets its history
 * window and its compute's suspend timeout and size where they differ from what is asked (in place, never a new
 * project), and rewrites the secret, keeping the API's password; Delete keeps the project unless the engineer opted
 * in, or unless it never went into service. A stack created again after its deletion takes its kept project back
 * when told which (`AdoptProjectId`), instead of making one. The API's role is never made here: migrate creates it
 * with SQL from `pooledUrl`, so it holds only `papa_auth_app`'s grants (a role made through Neon's API joins
 * `neon_superuser`).
 *
 * A provisional name (`<name> (deploying <token>)`, the token a digest of the stack's name, account, region and the
 * resource's logical id) marks a project whose creating deploy has not completed. Nothing but migrate (the schema)
 * writes to the database before a deploy completes: seed-admin and the API's users come after, and the API's URL is
 * an output of the completed deploy. So a project still under that name holds no data, and:
 * - Delete removes it even when DeleteOnRemoval is false: that Delete is the rollback of the deploy that created it;
 * - Create removes one it finds (a create of this stack that was cut off, or whose rollback could not remove it)
 *   before making a new one, and refuses when a project with the configured name, or another stack's provisional
 *   one, exists: one name, one project, and never one this stack did not create, unless told to take that one back
 *   (its refusal names the key and the id).
 * Any failure throws with a readable reason, which the provider framework reports as a failed deploy.
 */
export function createNeonHandler(options: NeonHandlerOptions) {
  const retryDelayMs = options.retryDelayMs ?? 1000
  const pollIntervalMs = options.pollIntervalMs ?? 2000
  const operationsTimeoutMs = options.operationsTimeoutMs ?? 240_000
  const timing: HandlerTiming = { ...DEFAULT_TIMING, ...options.timing }

  async function apiFor(
    props: { ApiKeySecretId: string; ApiUrl: string },
    deadline: number,
  ): Promise<NeonApi> {
    const apiKey = await readApiKey(options.secrets, props.ApiKeySecretId, deadline)
    return createNeonApi({
      baseUrl: props.ApiUrl,
      apiKey,
      retryDelayMs,
      deadline,
      requestTimeoutMs: timing.requestTimeoutMs,
      minAttemptMs: timing.minAttemptMs,
      ...fetchOption(options),
    })
  }

  async function create(
    event: CloudFormationCustomResourceEvent,
    props: NeonProjectProperties,
    deadline: number,
  ): Promise<NeonResourceResult> {
    if (props.AdoptProjectId) return adopt(event, props, props.AdoptProjectId, deadline)
    // The create's own steps end early enough to leave time for removing the project when one of them fails.
    const work = deadline - timing.cleanupReserveMs
    const neon = await apiFor(props, deadline)
    const provisional = provisionalName(props.ProjectName, event)
    const compute = wantedCompute(props)
    const retention = wantedRetention(props)
    await clearTheWay(neon.by(work), props, provisional)
    let created: CreatedProject
    try {
      created = await neon.by(work).request<CreatedProject>('POST', '/projects', {
        project: {
          name: provisional,
          region_id: props.RegionId,
          pg_version: Number(props.PgVersion),
          ...(props.OrgId ? { org_id: props.OrgId } : {}),
          branch: { database_name: props.DatabaseName, role_name: props.RoleName },
          // The project's first compute is made with these; the keys left out get Neon's defaults.
          ...(Object.keys(compute).length > 0 ? { default_endpoint_settings: compute } : {}),
          ...(retention === undefined ? {} : { history_retention_seconds: retention }),
        },
      })
    } catch (error) {
      // No answer, or a 5xx: Neon may have made the project all the same. Look for it now, by its provisional name.
      if (error instanceof NeonApiError && (error.status === undefined || error.status >= 500)) {
        await removeLeftovers(neon.by(deadline), props, provisional).catch((reason: unknown) =>
          logger.warn('neon: could not look for a project the failed create may have made', {
            reason: messageOf(reason),
            projectName: provisional,
          }),
        )
      }
      throw error
    }
    const projectId = created.project.id
    logger.info('neon project created', { projectId, regionId: props.RegionId })
    try {
      await waitForOperations(
        neon.by(work),
        projectId,
        created.operations ?? [],
        work - timing.secretWriteReserveMs,
      )
      const apiRole = hasApiRole(props) ? { name: props.ApiRoleName, password: newPassword() } : undefined
      const cleanupRole = hasCleanupRole(props)
        ? { name: props.CleanupRoleName, password: newPassword() }
        : undefined
      await writeConnectionStrings(
        options.secrets,
        props.DatabaseSecretArn,
        fromCreatedProject(created, props, apiRole, cleanupRole),
        work,
      )
    } catch (error) {
      // The project never served anyone: remove it, so a retried deploy does not leave an orphan behind.
      throw await removeAfterFailure(neon.by(deadline), projectId, error)
    }
    return { PhysicalResourceId: projectId, Data: { ProjectId: projectId } }
  }

  /**
   * Before a create: removes what an earlier create of this stack left (its provisional name), and refuses when a
   * project of the configured name, or another stack's provisional one, is there.
   */
  async function clearTheWay(
    neon: NeonApi,
    props: NeonProjectProperties,
    provisional: string,
    adopting?: string,
  ) {
    const found = await projectsNamedLike(neon, props)
    const taken = found.filter(
      (project) =>
        project.name !== provisional &&
        project.id !== adopting &&
        isNameOrProvisionalOf(project.name, props.ProjectName),
    )
    if (taken.length > 0) {
      const inService = taken.filter((project) => project.name === props.ProjectName)
      const takeBack =
        inService.length === 1 && !adopting
          ? ` If it is this stack's own, kept when the stack was deleted (cdk destroy keeps it, with its data), ` +
            `take it back: deploy with -c neonAdoptProjectId=${inService[0]?.id} (docs/deploying.md, "Tearing ` +
            'down and coming back").'
          : ''
      throw new Error(
        `Neon already has a project named ${props.ProjectName} (${taken.map(describeProject).join('; ')}): this ` +
          'stack creates a project of its own and never takes over one it did not create. Delete that project in ' +
          'the Neon console if nothing needs it, or give this stack another project name (context neonProjectName).' +
          takeBack,
      )
    }
    for (const leftover of found.filter((project) => project.name === provisional)) {
      await deleteProject(neon, leftover.id)
      logger.warn('neon project removed: an earlier create of this stack left it, never in service', {
        projectId: leftover.id,
      })
    }
  }

  async function removeLeftovers(neon: NeonApi, props: NeonProjectProperties, provisional: string) {
    for (const project of await projectsNamedLike(neon, props)) {
      if (project.name !== provisional) continue
      await deleteProject(neon, project.id)
      logger.warn('neon project removed: made by a create that failed', { projectId: project.id })
    }
  }

  async function projectsNamedLike(neon: NeonApi, props: NeonProjectProperties): Promise<Project[]> {
    const query = new URLSearchParams({
      search: props.ProjectName.slice(0, PROVISIONAL_PREFIX_CHARS),
      limit: String(PROJECT_PAGE),
      ...(props.OrgId ? { org_id: props.OrgId } : {}),
    })
    const { projects } = await neon.request<{ projects?: Project[] }>('GET', `/projects?${query}`)
    return projects ?? []
  }

  /** The failure, with a word on the new project when it could not be removed too. */
  async function removeAfterFailure(neon: NeonApi, projectId: string, failure: unknown): Promise<unknown> {
    try {
      await deleteProject(neon, projectId)
      logger.warn('neon project removed after a failed create', { projectId })
      return failure
    } catch (error) {
      logger.error('neon project left behind after a failed create', { projectId, reason: messageOf(error) })
      return new Error(
        `${messageOf(failure)}. The new project ${projectId} could not be removed (${messageOf(error)}); ` +
          'the next deploy of this stack removes it, or delete it in the Neon console.',
        { cause: failure },
      )
    }
  }

  async function update(
    projectId: string,
    props: NeonProjectProperties,
    old: NeonProjectProperties,
    deadline: number,
  ): Promise<NeonResourceResult> {
    if (props.AdoptProjectId && props.AdoptProjectId !== projectId) {
      throw new Error(
        `neonAdoptProjectId names the Neon project ${props.AdoptProjectId}, but this stack's project is ` +
          `${projectId}: a stack takes a project back only when the stack is created. Remove the context key.`,
      )
    }
    const stored =
      hasApiRole(props) || hasCleanupRole(props)
        ? await storedSecret(options.secrets, props.DatabaseSecretArn, deadline)
        : undefined
    const apiRole = hasApiRole(props) ? roleLogin(stored, 'pooledUrl', props.ApiRoleName) : undefined
    const cleanupRole = hasCleanupRole(props)
      ? roleLogin(stored, 'cleanupUrl', props.CleanupRoleName)
      : undefined
    const neon = await apiFor(props, deadline)
    const project = await readProject(neon, projectId)
    const problems = fixedPropertyProblems(project, props)
    if (problems.length > 0) throw new Error(problems.join(' '))
    const { direct, pooled } = await ownerConnectionUris(neon, projectId, props)
    await configure(neon, project, props, old, direct, deadline - timing.secretWriteReserveMs)
    await writeConnectionStrings(
      options.secrets,
      props.DatabaseSecretArn,
      {
        pooledUrl: pooledUrlFor(pooled, apiRole),
        directUrl: direct,
        ...(cleanupRole ? { cleanupUrl: pooledUrlFor(pooled, cleanupRole) } : {}),
      },
      deadline,
    )
    logger.info('neon project updated', { projectId })
    return { PhysicalResourceId: projectId, Data: { ProjectId: projectId } }
  }

  /**
   * Create, taking back a project this stack put in service before (`AdoptProjectId`): `cdk destroy` keeps the project
   * and its data, and the stack created again under the same name finds it there. Taken only when it carries the
   * configured name (the name a project gets once its creating deploy completed: never another stack's, whose name
   * differs, nor one still provisional) and the fixed properties, and holds the database and owner role asked for.
   * Nothing is made or deleted but this stack's own provisional leftovers; the compute and history window are set as
   * asked, and the secret (a new one) gets the owner's strings from Neon and new passwords for the API's and the
   * cleanup's roles, which migrate, run by this same deploy, sets on the existing roles.
   */
  async function adopt(
    event: CloudFormationCustomResourceEvent,
    props: NeonProjectProperties,
    projectId: string,
    deadline: number,
  ): Promise<NeonResourceResult> {
    const neon = await apiFor(props, deadline)
    let project: Project
    try {
      project = (await neon.request<{ project: Project }>('GET', `/projects/${projectId}`)).project
    } catch (error) {
      if (!(error instanceof NeonApiError && error.status === 404)) throw error
      throw new Error(
        `neonAdoptProjectId names no project Neon has (${projectId}): check the id in the Neon console, or ` +
          `deploy without it to create a new project (${error.message})`,
      )
    }
    const problems = adoptionProblems(project, props)
    if (problems.length > 0) throw new Error(problems.join(' '))
    await clearTheWay(neon, props, provisionalName(props.ProjectName, event), projectId)
    const { direct, pooled } = await ownerConnectionUris(neon, projectId, props)
    await configure(neon, project, props, undefined, direct, deadline - timing.secretWriteReserveMs)
    const apiRole = hasApiRole(props) ? roleLogin(undefined, 'pooledUrl', props.ApiRoleName) : undefined
    const cleanupRole = hasCleanupRole(props)
      ? roleLogin(undefined, 'cleanupUrl', props.CleanupRoleName)
      : undefined
    await writeConnectionStrings(
      options.secrets,
      props.DatabaseSecretArn,
      {
        pooledUrl: pooledUrlFor(pooled, apiRole),
        directUrl: direct,
        ...(cleanupRole ? { cleanupUrl: pooledUrlFor(pooled, cleanupRole) } : {}),
      },
      deadline,
    )
    logger.warn('neon project taken back: kept by an earlier deletion of this stack, with its data', {
      projectId,
    })
    return { PhysicalResourceId: projectId, Data: { ProjectId: projectId } }
  }

  /**
   * Brings the project to what the resource asks, in place: its name (when the context changed it) and its history
   * window, in one PATCH of what differs from Neon's answer; then its compute's settings.
   */
  async function configure(
    neon: NeonApi,
    project: Project,
    props: NeonProjectProperties,
    old: NeonProjectProperties | undefined,
    directUri: string,
    until: number,
  ) {
    const retention = wantedRetention(props)
    const changes = {
      ...(old && props.ProjectName !== old.ProjectName ? { name: props.ProjectName } : {}),
      ...(retention !== undefined && retention !== project.history_retention_seconds
        ? { history_retention_seconds: retention }
        : {}),
    }
    if (Object.keys(changes).length > 0) {
      const { operations } =
        (await neon.request<{ operations?: Operation[] } | undefined>('PATCH', `/projects/${project.id}`, {
          project: changes,
        })) ?? {}
      if (changes.history_retention_seconds !== undefined)
        logger.info('neon history retention set', { projectId: project.id, seconds: retention })
      await waitForOperations(neon, project.id, operations ?? [], until)
    }
    await tuneCompute(neon, project.id, wantedCompute(props, old), directUri, until)
  }

  async function remove(
    event: CloudFormationCustomResourceEvent,
    projectId: string,
    props: NeonProjectProperties,
    deadline: number,
  ): Promise<NeonResourceResult> {
    if (props.DeleteOnRemoval === 'true') {
      await deleteProject(await apiFor(props, deadline), projectId)
      logger.info('neon project deleted', { projectId })
      return { PhysicalResourceId: projectId }
    }
    // Kept, unless it never went into service. Whatever stops the check keeps the project: a Delete that failed
    // here would block the stack's deletion or rollback, and keeping is what the engineer asked for.
    let neon: NeonApi
    let project: Project
    try {
      neon = await apiFor(props, deadline)
      project = await readProject(neon, projectId)
    } catch (error) {
      logger.warn('neon project retained, unchecked', { projectId, reason: messageOf(error) })
      return { PhysicalResourceId: projectId }
    }
    if (project.name !== provisionalName(props.ProjectName, event)) {
      logger.info('neon project retained', { projectId })
      return { PhysicalResourceId: projectId }
    }
    try {
      await deleteProject(neon, projectId)
      logger.info('neon project removed: the deploy that created it did not complete', { projectId })
    } catch (error) {
      logger.warn('neon project left behind: the next deploy of this stack removes it', {
        projectId,
        reason: messageOf(error),
      })
    }
    return { PhysicalResourceId: projectId }
  }

  /** Gives the project its configured name: the deploy that created it has completed, so it is in service. */
  async function putInService(
    event: CloudFormationCustomResourceEvent,
    props: InServiceProperties,
    deadline: number,
  ): Promise<NeonResourceResult> {
    const physicalId = `${props.ProjectId}/in-service`
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId }
    const neon = await apiFor(props, deadline)
    await neon.request('PATCH', `/projects/${props.ProjectId}`, { project: { name: props.ProjectName } })
    logger.info('neon project in service', { projectId: props.ProjectId })
    return { PhysicalResourceId: physicalId }
  }

  /**
   * Sets what the resource asks of the compute its connection strings name (the default branch's read-write one),
   * compared with what Neon says it has: nothing is sent when they agree, and only what differs otherwise, in place,
   * through the endpoints API. A change of size restarts the compute, so open connections drop once (Neon's docs,
   * "What happens to the compute when making changes"), hence no PATCH at all when nothing differs.
   */
  async function tuneCompute(
    neon: NeonApi,
    projectId: string,
    wanted: WantedCompute,
    directUri: string,
    until: number,
  ) {
    if (Object.keys(wanted).length === 0) return
    const host = new URL(directUri).hostname
    const { endpoints } = await neon.request<{ endpoints?: Endpoint[] }>(
      'GET',
      `/projects/${projectId}/endpoints`,
    )
    const compute = (endpoints ?? []).find((endpoint) => endpoint.host === host)
    if (!compute) {
      throw new Error(
        `Neon project ${projectId}: no compute serves ${host}, the host of its connection string, so its settings ` +
          'cannot be set. Was it deleted in the Neon console? Add a read-write compute to the default branch.',
      )
    }
    const changes: WantedCompute = {
      ...(wanted.suspend_timeout_seconds !== undefined &&
      wanted.suspend_timeout_seconds !== compute.suspend_timeout_seconds
        ? { suspend_timeout_seconds: wanted.suspend_timeout_seconds }
        : {}),
      // The two limits together: Neon checks the one against the other.
      ...(wanted.autoscaling_limit_min_cu !== undefined &&
      wanted.autoscaling_limit_max_cu !== undefined &&
      (wanted.autoscaling_limit_min_cu !== compute.autoscaling_limit_min_cu ||
        wanted.autoscaling_limit_max_cu !== compute.autoscaling_limit_max_cu)
        ? {
            autoscaling_limit_min_cu: wanted.autoscaling_limit_min_cu,
            autoscaling_limit_max_cu: wanted.autoscaling_limit_max_cu,
          }
        : {}),
    }
    if (Object.keys(changes).length === 0) return
    const { operations } = await neon.request<{ operations?: Operation[] }>(
      'PATCH',
      `/projects/${projectId}/endpoints/${compute.id}`,
      { endpoint: changes },
    )
    logger.info('neon compute updated', { projectId, endpointId: compute.id, ...changes })
    await waitForOperations(neon, projectId, operations ?? [], until)
  }

  async function waitForOperations(neon: NeonApi, projectId: string, operations: Operation[], until: number) {
    const started = Date.now()
    const deadline = Math.min(started + operationsTimeoutMs, until)
    let pending = operations.filter((operation) => !DONE.has(operation.status))
    while (pending.length > 0) {
      const failed = pending.find((operation) => FAILED.has(operation.status))
      if (failed) throw new Error(`Neon project ${projectId}: operation ${failed.id} ${failed.status}`)
      const stillRunning = () => {
        const cut =
          deadline < started + operationsTimeoutMs ? ', all the time left before the handler must answer' : ''
        return new Error(
          `Neon project ${projectId}: operations still running after ${seconds(Date.now() - started)}${cut}`,
        )
      }
      // Another poll needs its interval and then an attempt's worth of time.
      if (Date.now() + pollIntervalMs + timing.minAttemptMs > deadline) throw stillRunning()
      await sleep(pollIntervalMs)
      // A loaded machine wakes a timer late: checked again, so a poll with no time left for its attempt ends the wait
      // as such, not as a request refused for want of time.
      if (Date.now() + timing.minAttemptMs > deadline) throw stillRunning()
      pending = await Promise.all(
        pending.map(async (operation) => {
          const { operation: current } = await neon
            .by(deadline)
            .request<{ operation: Operation }>('GET', `/projects/${projectId}/operations/${operation.id}`)
          return current
        }),
      )
      pending = pending.filter((operation) => !DONE.has(operation.status))
    }
  }

  return async (
    event: CloudFormationCustomResourceEvent,
    context?: InvocationContext,
  ): Promise<NeonResourceResult> => {
    const remaining = context?.getRemainingTimeInMillis() ?? NEON_HANDLER_TIMEOUT_MS
    const deadline = Date.now() + remaining - timing.answerMarginMs
    if (event.ResourceType === IN_SERVICE_RESOURCE_TYPE) {
      return putInService(event, parseInServiceProperties(event.ResourceProperties), deadline)
    }
    const props = parseProperties(event.ResourceProperties)
    switch (event.RequestType) {
      case 'Create':
        return create(event, props, deadline)
      case 'Update':
        return update(event.PhysicalResourceId, props, parseProperties(event.OldResourceProperties), deadline)
      case 'Delete':
        return remove(event, event.PhysicalResourceId, props, deadline)
    }
  }
}

/** What the resource asks of the compute, in Neon's terms; a key left out is not asked for. */
type WantedCompute = Partial<
  Pick<Endpoint, 'suspend_timeout_seconds' | 'autoscaling_limit_min_cu' | 'autoscaling_limit_max_cu'>
>

/**
 * The compute settings the properties give. On an update, a suspend timeout the old properties gave and the new ones
 * do not goes back to Neon's default (`0`): the context was removed, or this is the rollback of the deploy that set it.
 * The sizes have no such value, so sizes no longer given stay as they are.
 */
export function wantedCompute(props: NeonProjectProperties, old?: NeonProjectProperties): WantedCompute {
  const suspend = props.SuspendTimeoutSeconds ?? (old?.SuspendTimeoutSeconds === undefined ? undefined : '0')
  return {
    ...(suspend === undefined ? {} : { suspend_timeout_seconds: Number(suspend) }),
    ...(props.MinComputeUnits !== undefined && props.MaxComputeUnits !== undefined
      ? {
          autoscaling_limit_min_cu: Number(props.MinComputeUnits),
          autoscaling_limit_max_cu: Number(props.MaxComputeUnits),
        }
      : {}),
  }
}

/** The history window the properties ask for, in seconds; none when they name none (Neon's plan decides). */
export const wantedRetention = (props: NeonProjectProperties): number | undefined =>
  props.HistoryRetentionSeconds === undefined ? undefined : Number(props.HistoryRetentionSeconds)

/**
 * Why a project may not be taken back by this stack; none when it may. Its name must be the configured one, which
 * only a project put in service under it carries (another stack's has its own name, a failed create's a provisional
 * one), and the fixed properties must be the project's; its database and owner are checked by asking Neon for them.
 */
export function adoptionProblems(project: Project, props: NeonProjectProperties): string[] {
  if (project.name !== props.ProjectName) {
    return [
      `The Neon project ${project.id} is named "${project.name}", not ${props.ProjectName}: a stack takes back only ` +
        'a project it put in service under its own project name (context neonProjectName), never another ' +
        "stack's, nor one made by hand, nor one whose creating deploy never completed (it holds no data). Check " +
        'neonAdoptProjectId.',
    ]
  }
  return fixedPropertyProblems(project, props)
}

/** The characters of the configured name a provisional name keeps, so that it stays within Neon's name length. */
const PROVISIONAL_PREFIX_CHARS = 40

/**
 * The name a project of this resource carries until the deploy that created it completes. The stack is named by its
 * ARN without the unique suffix, so a stack created again under the same name (after a failed first deploy) finds
 * what the failed one left.
 */
export function provisionalName(
  projectName: string,
  event: Pick<CloudFormationCustomResourceEvent, 'StackId' | 'LogicalResourceId'>,
): string {
  const stack = event.StackId.replace(/\/[^/]*$/, '')
  const token = createHash('sha256').update(`${stack}|${event.LogicalResourceId}`).digest('hex').slice(0, 8)
  return `${projectName.slice(0, PROVISIONAL_PREFIX_CHARS)} (deploying ${token})`
}

/** Whether `name` is `projectName` itself, or a provisional name of it (this stack's or another's). */
function isNameOrProvisionalOf(name: string, projectName: string): boolean {
  if (name === projectName) return true
  const prefix = `${projectName.slice(0, PROVISIONAL_PREFIX_CHARS)} (deploying `
  return name.startsWith(prefix) && /^[0-9a-f]{8}\)$/.test(name.slice(prefix.length))
}

const describeProject = (project: Project) =>
  `${project.id}, "${project.name}", created ${project.created_at}`

/** The project as Neon has it; a clear reason when it is gone. */
async function readProject(neon: NeonApi, projectId: string): Promise<Project> {
  try {
    return (await neon.request<{ project: Project }>('GET', `/projects/${projectId}`)).project
  } catch (error) {
    if (!(error instanceof NeonApiError && error.status === 404)) throw error
    throw new NeonApiError(
      `the Neon project ${projectId} no longer exists (deleted outside this stack?): ${error.message}`,
      404,
    )
  }
}

/**
 * The owner's connection URIs, direct and pooled, from Neon, which keeps the password of the role it made: Update
 * writes them again (the secret may be a new one, replaced or emptied by hand), so a deploy never resets one under
 * the functions that are using it. Asking also checks the database and its owner, which Neon must know.
 */
async function ownerConnectionUris(neon: NeonApi, projectId: string, props: NeonProjectProperties) {
  const uri = async (pooled: boolean) => {
    const query = new URLSearchParams({
      database_name: props.DatabaseName,
      role_name: props.RoleName,
      pooled: String(pooled),
    })
    return (await neon.request<{ uri: string }>('GET', `/projects/${projectId}/connection_uri?${query}`)).uri
  }
  try {
    const [direct, pooled] = await Promise.all([uri(false), uri(true)])
    return { direct, pooled }
  } catch (error) {
    if (!(error instanceof NeonApiError && error.status === 404)) throw error
    throw new Error(
      `DatabaseName and RoleName of the Neon project ${projectId} cannot change: it has no database ` +
        `${props.DatabaseName} with the role ${props.RoleName} (${error.message}), and another would be a new, ` +
        'empty database. Set them back, or create a new stack.',
    )
  }
}

/** Deletes a project; one already gone counts as deleted. */
async function deleteProject(neon: NeonApi, projectId: string) {
  try {
    await neon.request('DELETE', `/projects/${projectId}`)
  } catch (error) {
    if (!(error instanceof NeonApiError && error.status === 404)) throw error
    logger.info('neon project already gone', { projectId })
  }
}

/**
 * Why the request does not fit the project Neon has, one sentence per fixed property (region, Postgres version, org;
 * the database and its owner are checked by asking Neon for them); none when it fits. Compared with what the project
 * is, not with the old properties, so a rollback, which asks for the project as it is, always passes. The org is
 * compared only when the request names one and Neon reports one: an unset `neonOrgId` means the key's own.
 */
export function fixedPropertyProblems(project: Project, props: NeonProjectProperties): string[] {
  const actual: Record<'RegionId' | 'PgVersion' | 'OrgId', string | undefined> = {
    RegionId: project.region_id,
    PgVersion: String(project.pg_version),
    OrgId: props.OrgId && project.org_id ? project.org_id : props.OrgId,
  }
  return (['RegionId', 'PgVersion', 'OrgId'] as const)
    .filter((key) => actual[key] !== props[key])
    .map(
      (key) =>
        `${key} of the Neon project ${project.id} cannot change (${actual[key]} to ${props[key]}): the project ` +
        `is ${actual[key]}, and another value would mean a new, empty database. Set it back to ${actual[key]}, ` +
        'or create a new stack.',
    )
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

const fetchOption = (options: NeonHandlerOptions) => (options.fetch ? { fetch: options.fetch } : {})

/** Whether the API connects as a role of its own; a resource from before that role existed names none. */
const hasApiRole = (props: NeonProjectProperties): props is NeonProjectProperties & { ApiRoleName: string } =>
  props.ApiRoleName !== undefined && props.ApiRoleName !== props.RoleName

/** Whether the cleanup connects as a role of its own; a resource from before that role existed names none. */
const hasCleanupRole = (
  props: NeonProjectProperties,
): props is NeonProjectProperties & { CleanupRoleName: string } =>
  props.CleanupRoleName !== undefined &&
  props.CleanupRoleName !== props.RoleName &&
  props.CleanupRoleName !== props.ApiRoleName

/**
 * A new password for the API's role: 192 random bits, far above the 60 Neon asks of a password set with SQL, in
 * base64url, so it goes into a URL as it is.
 */
const newPassword = () => randomBytes(24).toString('base64url')

/** The database secret's value as stored; undefined only for a secret with no value yet. */
async function storedSecret(
  secrets: SecretsManagerClient,
  secretArn: string,
  deadline: number,
): Promise<string | undefined> {
  try {
    return (await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }), by(deadline))).SecretString
  } catch (error) {
    // Only a secret with no value yet counts as empty; any other failure (a denial, throttling) must not pass for
    // one, or a passing glitch would replace a password in use.
    if (errorName(error) !== 'ResourceNotFoundException') {
      throw new Error(
        `could not read the connection strings from the secret ${secretArn} (${errorName(error)})`,
      )
    }
    return undefined
  }
}

/**
 * A role's login on an existing project (the API's in `pooledUrl`, the cleanup's in `cleanupUrl`): the password the
 * secret already holds for it, kept, because only migrate sets a role's password and it runs only when its version
 * changes (new migrations, a new secretsGeneration), so a new one here would lock the function out. A new password
 * only when the secret holds none for the role: a stack from before that role (migrate, new in that deploy, then
 * creates it), or a secret emptied or replaced by hand.
 */
function roleLogin(
  secretString: string | undefined,
  field: 'pooledUrl' | 'cleanupUrl',
  name: string,
): RoleLogin {
  const password = storedPassword(secretString, field, name)
  if (password) return { name, password }
  const which = field === 'pooledUrl' ? 'api' : 'cleanup'
  logger.warn(`neon ${which} role gets a new password: migrate must run to set it`, { role: name })
  return { name, password: newPassword() }
}

/** The password of `role` in a stored connection string `field`, if that is who it connects as. */
function storedPassword(
  secretString: string | undefined,
  field: 'pooledUrl' | 'cleanupUrl',
  role: string,
): string | undefined {
  if (!secretString) return undefined
  try {
    const stored = (JSON.parse(secretString) as Record<string, unknown>)[field]
    if (typeof stored !== 'string') return undefined
    const url = new URL(stored)
    if (decodeURIComponent(url.username) !== role) return undefined
    return decodeURIComponent(url.password) || undefined
  } catch {
    // JSON.parse and URL quote their input in the message, and this input holds passwords.
    return undefined
  }
}

/** The key as stored: the plain string, or the `apiKey` field of a JSON secret. */
async function readApiKey(
  secrets: SecretsManagerClient,
  secretId: string,
  deadline: number,
): Promise<string> {
  let value: string | undefined
  try {
    value = (await secrets.send(new GetSecretValueCommand({ SecretId: secretId }), by(deadline))).SecretString
  } catch (error) {
    throw new Error(`could not read the Neon API key from the secret ${secretId} (${errorName(error)})`)
  }
  let key = value?.trim() ?? ''
  if (key.startsWith('{')) key = apiKeyField(key)
  if (key === '') throw new Error(`the secret ${secretId} holds no Neon API key`)
  return key
}

function apiKeyField(json: string): string {
  try {
    const parsed = JSON.parse(json) as { apiKey?: unknown }
    return typeof parsed.apiKey === 'string' ? parsed.apiKey.trim() : ''
  } catch {
    // JSON.parse quotes its input in the message, and this input is the key.
    return ''
  }
}

/**
 * The strings for the new project's database: direct as the owner, pooled (the `-pooler` host) as the API's role when
 * it has one, else as the owner too; and, when the cleanup has a role of its own, pooled as that role.
 */
export function fromCreatedProject(
  created: CreatedProject,
  props: NeonProjectProperties,
  apiRole?: RoleLogin,
  cleanupRole?: RoleLogin,
): ConnectionStrings {
  const uris = created.connection_uris ?? []
  const match =
    uris.find(
      (uri) =>
        uri.connection_parameters.role === props.RoleName &&
        uri.connection_parameters.database === props.DatabaseName,
    ) ?? uris[0]
  if (!match) throw new Error(`Neon project ${created.project.id}: the API returned no connection string`)
  const pooled = new URL(match.connection_uri)
  pooled.hostname = poolerHost(match.connection_parameters)
  return {
    pooledUrl: pooledUrlFor(pooled.toString(), apiRole),
    directUrl: match.connection_uri,
    ...(cleanupRole ? { cleanupUrl: pooledUrlFor(pooled.toString(), cleanupRole) } : {}),
  }
}

/** The owner's pooled string, as the API's role when it has one; TLS required either way. */
function pooledUrlFor(ownerPooledUri: string, apiRole?: RoleLogin): string {
  const url = new URL(ownerPooledUri)
  if (apiRole) {
    url.username = apiRole.name
    url.password = apiRole.password
  }
  url.searchParams.set('sslmode', 'require')
  return url.toString()
}

const poolerHost = (params: ConnectionParameters) =>
  params.pooler_host || params.host.replace(/^([^.]+)/, '$1-pooler')

async function writeConnectionStrings(
  secrets: SecretsManagerClient,
  secretArn: string,
  strings: ConnectionStrings,
  deadline: number,
) {
  try {
    await secrets.send(
      new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify(strings) }),
      by(deadline),
    )
  } catch (error) {
    throw new Error(`could not write the connection strings to the secret ${secretArn} (${errorName(error)})`)
  }
}

/** An AWS call's reason: the error's name (its message may quote what was sent), or that time ran out. */
const errorName = (error: unknown) => {
  if (!(error instanceof Error)) return 'unknown error'
  return error.name === 'AbortError' || error.name === 'TimeoutError'
    ? 'no answer in the time left before the handler must answer'
    : error.name
}

/** An AWS SDK call's options: cut off at the deadline, like every Neon request. */
const by = (deadline: number) => ({ abortSignal: AbortSignal.timeout(Math.max(0, deadline - Date.now())) })

/** The deployed entry point: one Secrets Manager client per container. */
export const handler = createNeonHandler({ secrets: new SecretsManagerClient({}) })
