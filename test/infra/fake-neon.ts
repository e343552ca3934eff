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
  /** The default branch, where the project's database and roles live. */
  branchId: string
  databaseName: string
  owner: string
  /** Each role's password by name: Neon keeps them, and hands them out in connection URIs. */
  roles: Map<string, string>
}

/** A canned answer for the next request to a method and path, in place of the fake's own behaviour. */
interface Override {
  status: number
  body?: unknown
  /** Sent as is instead of `body`, for an answer that is not JSON. */
  text?: string
}

/**
 * The few Neon API v2 endpoints the provider calls, served on 127.0.0.1 with the shapes Neon documents: create
 * project (with its default branch, `connection_uris` and running operations), get operation, rename, connection
 * URI, delete, list branches, and list and create a branch's roles.
 */
export async function startFakeNeon() {
  const requests: RecordedRequest[] = []
  const projects = new Map<string, Project>()
  const overrides = new Map<string, Override[]>()
  const operationPolls = new Map<string, number>()
  let created = 0
  let passwords = 0

  const host = (project: Project, pooled: boolean) =>
    `ep-${project.id}${pooled ? '-pooler' : ''}.${project.regionId.replace(/^aws-/, '')}.aws.neon.tech`
  const uri = (project: Project, role: string, pooled: boolean) =>
    `postgresql://${role}:${project.roles.get(role)}@${host(project, pooled)}/${project.databaseName}?sslmode=require`
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
    const send = (status: number, body?: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' })
      response.end(body === undefined ? '' : JSON.stringify(body))
    }
    const override = overrideFor(`${method} ${path}`)
    if (override?.text !== undefined) return response.writeHead(override.status).end(override.text)
    if (override) return send(override.status, override.body)

    const parts = path.split('/').filter(Boolean)
    if (parts[0] !== 'projects') return send(404, { code: '', message: 'not found' })
    if (method === 'POST' && parts.length === 1) {
      const input = (
        JSON.parse(text) as {
          project: {
            name: string
            region_id: string
            branch?: { database_name?: string; role_name?: string }
          }
        }
      ).project
      const id = `quiet-bird-${++created}0000`
      const owner = input.branch?.role_name ?? 'neondb_owner'
      const project: Project = {
        id,
        name: input.name,
        regionId: input.region_id,
        branchId: `br-${id}`,
        databaseName: input.branch?.database_name ?? 'neondb',
        owner,
        roles: new Map([[owner, newPassword()]]),
      }
      projects.set(project.id, project)
      return send(201, {
        project: { id: project.id, name: project.name, region_id: project.regionId },
        branch: { id: project.branchId, project_id: project.id, name: 'main', default: true },
        connection_uris: [
          {
            connection_uri: uri(project, owner, false),
            connection_parameters: {
              database: project.databaseName,
              password: project.roles.get(owner),
              role: owner,
              host: host(project, false),
              pooler_host: host(project, true),
            },
          },
        ],
        roles: [{ branch_id: project.branchId, name: owner, password: project.roles.get(owner) }],
        operations: [
          { id: `op-branch-${project.id}`, status: 'finished', action: 'create_branch' },
          { id: `op-compute-${project.id}`, status: 'running', action: 'start_compute' },
        ],
      })
    }
    const project = projects.get(parts[1] ?? '')
    if (!project) return send(404, { code: '', message: `project ${parts[1]} not found` })
    if (method === 'GET' && parts[2] === 'operations' && parts[3]) {
      const polls = (operationPolls.get(parts[3]) ?? 0) + 1
      operationPolls.set(parts[3], polls)
      return send(200, { operation: { id: parts[3], status: polls < 2 ? 'running' : 'finished' } })
    }
    if (method === 'GET' && parts[2] === 'connection_uri') {
      const role = url.searchParams.get('role_name') ?? ''
      if (!project.roles.has(role)) return send(404, { code: '', message: `role ${role} not found` })
      return send(200, { uri: uri(project, role, url.searchParams.get('pooled') === 'true') })
    }
    if (method === 'GET' && parts[2] === 'branches' && parts.length === 3) {
      // A second, newer branch listed first: the roles live on the default one, not on whichever comes first.
      return send(200, {
        branches: [
          { id: `br-preview-${project.id}`, project_id: project.id, name: 'preview', default: false },
          { id: project.branchId, project_id: project.id, name: 'main', default: true },
        ],
      })
    }
    if (parts[2] === 'branches' && parts[4] === 'roles' && parts.length === 5) {
      if (parts[3] !== project.branchId)
        return send(404, { code: '', message: `branch ${parts[3]} not found` })
      return rolesEndpoint(project, method, text, send)
    }
    if (method === 'PATCH' && parts.length === 2) {
      project.name = (JSON.parse(text) as { project: { name: string } }).project.name
      return send(200, { project: { id: project.id, name: project.name }, operations: [] })
    }
    if (method === 'DELETE' && parts.length === 2) {
      projects.delete(project.id)
      return send(200, { project: { id: project.id } })
    }
    return send(404, { code: '', message: 'not found' })
  }

  function rolesEndpoint(
    project: Project,
    method: string,
    text: string,
    send: (status: number, body?: unknown) => void,
  ) {
    if (method === 'GET') {
      const roles = [...project.roles.keys()].map((name) => ({
        branch_id: project.branchId,
        name,
        protected: false,
      }))
      return send(200, { roles })
    }
    const { name } = (JSON.parse(text) as { role: { name: string } }).role
    if (project.roles.has(name)) return send(409, { code: '', message: `role "${name}" already exists` })
    const password = newPassword()
    project.roles.set(name, password)
    return send(201, {
      role: { branch_id: project.branchId, name, password, protected: false },
      operations: [{ id: `op-role-${name}-${project.id}`, status: 'running', action: 'apply_config' }],
    })
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
    /** The strings a project's secret should hold: direct as its owner, pooled as `pooledRole`. */
    connectionStrings: (id: string, pooledRole: string) => {
      const project = projects.get(id)
      if (!project) throw new Error(`no project ${id}`)
      return { pooledUrl: uri(project, pooledRole, true), directUrl: uri(project, project.owner, false) }
    },
    /** Answers the next requests to `METHOD /path` (a path under /api/v2, `*` for one segment) with these, in order. */
    failNext(route: string, ...answers: Override[]) {
      overrides.set(route, [...(overrides.get(route) ?? []), ...answers])
    },
    reset() {
      requests.length = 0
      overrides.clear()
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
