import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  authorization: string | undefined
  body: unknown
}

interface Project {
  id: string
  name: string
  regionId: string
  pgVersion: number
  orgId: string
  createdAt: string
  databaseName: string
  owner: string
  /** The owner's password: Neon keeps it, and hands it out in connection URIs. */
  password: string
  /** The default branch's read-write compute, the one its connection URIs name. */
  compute: Compute
  /** How far back its history reaches (`history_retention_seconds`). */
  historyRetentionSeconds: number
}

/** A compute's settings, as Neon's endpoints API names them. */
export interface Compute {
  suspend_timeout_seconds: number
  autoscaling_limit_min_cu: number
  autoscaling_limit_max_cu: number
}

/** The settings a compute gets when its project is created without any: Neon's own default is a plan's choice. */
export const DEFAULT_COMPUTE: Compute = {
  suspend_timeout_seconds: 0,
  autoscaling_limit_min_cu: 0.25,
  autoscaling_limit_max_cu: 2,
}

/** A project's history window when its create names none: a paid plan's default, 1 day. */
export const DEFAULT_HISTORY_RETENTION_SECONDS = 86_400

/** The organization a project lands in when the request names none: the key's own, as with an organization key. */
export const KEY_ORG_ID = 'org-key-own-42'

/** A canned answer for the next request to a method and path, in place of the fake's own behaviour. */
interface Override {
  status: number
  body?: unknown
  /** Sent as is instead of `body`, for an answer that is not JSON. */
  text?: string
  /** Do what the request asks, then answer with this all the same (a 5xx after the work was done). */
  acted?: boolean
}

/**
 * The few Neon API v2 endpoints the provider calls, served on 127.0.0.1 with the shapes Neon documents: list projects
 * (a `search` on the name, `org_id`, `limit`), create project (with its default branch, its compute made with the
 * `default_endpoint_settings` and `history_retention_seconds` given, `connection_uris` and running operations), get
 * project, get operation, update a project (its name, its history window, refused above the plan's limit),
 * connection URI, list computes, update a compute (checked as Neon checks it, with the operation that applies it) and
 * delete. A project has its owner role only: the API's role is made with SQL, never through Neon's API.
 */
export async function startFakeNeon() {
  const requests: RecordedRequest[] = []
  const projects = new Map<string, Project>()
  const overrides = new Map<string, Override[]>()
  const operationPolls = new Map<string, number>()
  let created = 0
  let passwords = 0
  /** How long every answer waits, for a slow Neon. */
  let delayMs = 0
  /** The longest history window the organization's plan allows (the Free plan's is 6 hours). */
  let planHistoryLimit = 2_592_000
  const historyProblem = (seconds: number) =>
    seconds > planHistoryLimit
      ? `history_retention_seconds ${seconds} exceeds the limit of your plan (${planHistoryLimit})`
      : undefined
  const pending = new Set<NodeJS.Timeout>()

  let configChanges = 0
  const computeId = (project: Project) => `ep-${project.id}`
  const describedCompute = (project: Project) => ({
    id: computeId(project),
    host: host(project, false),
    project_id: project.id,
    branch_id: `br-${project.id}`,
    region_id: project.regionId,
    type: 'read_write',
    current_state: 'idle',
    ...project.compute,
  })
  const host = (project: Project, pooled: boolean) =>
    `ep-${project.id}${pooled ? '-pooler' : ''}.${project.regionId.replace(/^aws-/, '')}.aws.neon.tech`
  const uri = (project: Project, pooled: boolean) =>
    `postgresql://${project.owner}:${project.password}@${host(project, pooled)}/${project.databaseName}?sslmode=require`
  const newPassword = () => `npg_secret${++passwords}`
  /** The first override waiting for this request; a route's `*` stands for one path segment. */
  const overrideFor = (request: string) => {
    for (const [route, answers] of overrides) {
      const pattern = route.split('*').map((part) => part.replace(/[.?+^$()[\]{}|\\]/g, '\\$&'))
      if (answers.length > 0 && new RegExp(`^${pattern.join('[^/]+')}$`).test(request)) return answers.shift()
    }
    return undefined
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://fake')
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const method = request.method ?? 'GET'
    const path = url.pathname.replace(/^\/api\/v2/, '')
    requests.push({
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      authorization: request.headers.authorization,
      body: text === '' ? undefined : JSON.parse(text),
    })
    if (delayMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          pending.delete(timer)
          resolve()
        }, delayMs)
        pending.add(timer)
      })
    }
    const send = (status: number, body?: unknown) => {
      if (response.destroyed) return
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(body === undefined ? '' : JSON.stringify(body))
    }
    const described = (project: Project) => ({
      id: project.id,
      name: project.name,
      region_id: project.regionId,
      pg_version: project.pgVersion,
      org_id: project.orgId,
      created_at: project.createdAt,
      history_retention_seconds: project.historyRetentionSeconds,
    })
    const override = overrideFor(`${method} ${path}`)
    if (override?.text !== undefined) return response.writeHead(override.status).end(override.text)
    if (override && !override.acted) return send(override.status, override.body)
    const answer = (status: number, body?: unknown) =>
      override ? send(override.status, override.body) : send(status, body)

    const parts = path.split('/').filter(Boolean)
    if (parts[0] !== 'projects') return answer(404, { code: '', message: 'not found' })
    if (method === 'GET' && parts.length === 1) {
      const search = url.searchParams.get('search') ?? ''
      const orgId = url.searchParams.get('org_id')
      const limit = Number(url.searchParams.get('limit') ?? 10)
      const found = [...projects.values()].filter(
        (project) =>
          (project.name.includes(search) || project.id.includes(search)) &&
          (orgId === null || project.orgId === orgId),
      )
      return answer(200, { projects: found.slice(0, limit).map(described) })
    }
    if (method === 'POST' && parts.length === 1) {
      const input = (
        JSON.parse(text) as {
          project: {
            name: string
            region_id: string
            pg_version?: number
            org_id?: string
            branch?: { database_name?: string; role_name?: string }
            default_endpoint_settings?: Partial<Compute>
            history_retention_seconds?: number
          }
        }
      ).project
      const id = `quiet-bird-${++created}0000`
      const owner = input.branch?.role_name ?? 'neondb_owner'
      const project: Project = {
        id,
        name: input.name,
        regionId: input.region_id,
        pgVersion: input.pg_version ?? 17,
        orgId: input.org_id ?? KEY_ORG_ID,
        createdAt: new Date().toISOString(),
        databaseName: input.branch?.database_name ?? 'neondb',
        owner,
        password: newPassword(),
        compute: { ...DEFAULT_COMPUTE, ...input.default_endpoint_settings },
        historyRetentionSeconds: input.history_retention_seconds ?? DEFAULT_HISTORY_RETENTION_SECONDS,
      }
      const refused = computeProblem(project.compute) ?? historyProblem(project.historyRetentionSeconds)
      if (refused) return answer(400, { code: '', message: refused })
      projects.set(project.id, project)
      return answer(201, {
        project: { id: project.id, name: project.name, region_id: project.regionId },
        branch: { id: `br-${project.id}`, project_id: project.id, name: 'main', default: true },
        connection_uris: [
          {
            connection_uri: uri(project, false),
            connection_parameters: {
              database: project.databaseName,
              password: project.password,
              role: owner,
              host: host(project, false),
              pooler_host: host(project, true),
            },
          },
        ],
        roles: [{ branch_id: `br-${project.id}`, name: owner, password: project.password }],
        operations: [
          { id: `op-branch-${project.id}`, status: 'finished', action: 'create_branch' },
          { id: `op-compute-${project.id}`, status: 'running', action: 'start_compute' },
        ],
      })
    }
    const project = projects.get(parts[1] ?? '')
    if (!project) return answer(404, { code: '', message: `project ${parts[1]} not found` })
    if (method === 'GET' && parts.length === 2) return answer(200, { project: described(project) })
    if (method === 'GET' && parts[2] === 'operations' && parts[3]) {
      const polls = (operationPolls.get(parts[3]) ?? 0) + 1
      operationPolls.set(parts[3], polls)
      return answer(200, { operation: { id: parts[3], status: polls < 2 ? 'running' : 'finished' } })
    }
    if (method === 'GET' && parts[2] === 'connection_uri') {
      const role = url.searchParams.get('role_name') ?? ''
      const database = url.searchParams.get('database_name') ?? ''
      if (role !== project.owner) return answer(404, { code: '', message: `role ${role} not found` })
      if (database !== project.databaseName) {
        return answer(404, { code: '', message: `database ${database} not found` })
      }
      return answer(200, { uri: uri(project, url.searchParams.get('pooled') === 'true') })
    }
    if (method === 'GET' && parts[2] === 'endpoints' && parts.length === 3) {
      return answer(200, { endpoints: [describedCompute(project)] })
    }
    if (method === 'PATCH' && parts[2] === 'endpoints' && parts.length === 4) {
      if (parts[3] !== computeId(project)) {
        return answer(404, { code: '', message: `endpoint ${parts[3]} not found` })
      }
      const changes = (JSON.parse(text) as { endpoint: Partial<Compute> }).endpoint
      const next = { ...project.compute, ...changes }
      const refused = computeProblem(next)
      if (refused) return answer(400, { code: '', message: refused })
      const changed = JSON.stringify(next) !== JSON.stringify(project.compute)
      project.compute = next
      const operation = `op-config-${project.id}-${++configChanges}`
      return answer(200, {
        endpoint: describedCompute(project),
        operations: changed ? [{ id: operation, status: 'running', action: 'apply_config' }] : [],
      })
    }
    if (method === 'PATCH' && parts.length === 2) {
      const changes = (JSON.parse(text) as { project: { name?: string; history_retention_seconds?: number } })
        .project
      const refused =
        changes.history_retention_seconds === undefined
          ? undefined
          : historyProblem(changes.history_retention_seconds)
      if (refused) return answer(400, { code: '', message: refused })
      if (changes.name !== undefined) project.name = changes.name
      if (changes.history_retention_seconds !== undefined)
        project.historyRetentionSeconds = changes.history_retention_seconds
      return answer(200, { project: described(project), operations: [] })
    }
    if (method === 'DELETE' && parts.length === 2) {
      projects.delete(project.id)
      return answer(200, { project: { id: project.id } })
    }
    return answer(404, { code: '', message: 'not found' })
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.writeHead(500).end())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}/api/v2`,
    requests,
    projects,
    /** The owner's strings, as Neon hands them out: pooled (the `-pooler` host) and direct. */
    ownerStrings: (id: string) => {
      const project = projects.get(id)
      if (!project) throw new Error(`no project ${id}`)
      return { pooledUrl: uri(project, true), directUrl: uri(project, false) }
    },
    /** Answers the next requests to `METHOD /path` (a path under /api/v2, `*` for one segment) with these, in order. */
    failNext(route: string, ...answers: Override[]) {
      overrides.set(route, [...(overrides.get(route) ?? []), ...answers])
    },
    /** Makes every answer wait this long (0: answer at once), as a slow or stuck Neon would. */
    slowDown(ms: number) {
      delayMs = ms
    },
    /** A project made outside the provider (in the console, or by another stack), with the owner role Neon makes. */
    addProject(name: string, overrides: { regionId?: string; orgId?: string; createdAt?: string } = {}) {
      const id = `other-lake-${++created}0000`
      projects.set(id, {
        id,
        name,
        regionId: overrides.regionId ?? 'aws-eu-central-1',
        pgVersion: 17,
        orgId: overrides.orgId ?? KEY_ORG_ID,
        createdAt: overrides.createdAt ?? new Date().toISOString(),
        databaseName: 'neondb',
        owner: 'neondb_owner',
        password: newPassword(),
        compute: { ...DEFAULT_COMPUTE },
        historyRetentionSeconds: DEFAULT_HISTORY_RETENTION_SECONDS,
      })
      return id
    },
    /** The organization's plan allows history windows up to this (21600 on the Free plan); refused above it. */
    limitHistory(seconds: number) {
      planHistoryLimit = seconds
    },
    reset() {
      requests.length = 0
      overrides.clear()
      delayMs = 0
      planHistoryLimit = 2_592_000
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of pending) clearTimeout(timer)
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** What Neon says when it refuses a compute's settings (its plan's limits are left out: the tests name a refusal). */
function computeProblem(compute: Compute): string | undefined {
  const {
    suspend_timeout_seconds: suspend,
    autoscaling_limit_min_cu: min,
    autoscaling_limit_max_cu: max,
  } = compute
  if (!(suspend === 0 || suspend === -1 || (suspend >= 60 && suspend <= 604800)))
    return `invalid suspend_timeout_seconds ${suspend}`
  if (min > max) return 'autoscaling_limit_min_cu must be less than or equal to autoscaling_limit_max_cu'
  return undefined
}
