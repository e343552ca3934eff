import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * The import rules of docs/architecture.md, checked on the source: a room imports only the rooms it may, and each
 * of jose, bcryptjs and the Neon driver is imported by the one module that wraps it.
 */
const root = resolve(import.meta.dirname, '../..')

/**
 * Who may import whom, by path prefix; the first matching room applies. `mayTypesOf`: imported for types only
 * (erased at build), never for a value.
 */
const ROOMS: readonly { room: string; may: readonly string[]; mayTypesOf?: readonly string[] }[] = [
  // The user's record type is inferred from its Drizzle table: declared once, with no SQL in the domain.
  { room: 'shared/domain/', may: ['shared/domain/'], mayTypesOf: ['db/schema.ts'] },
  { room: 'shared/platform/', may: ['shared/platform/'] },
  { room: 'shared/http/', may: ['shared/http/', 'shared/domain/', 'shared/platform/'] },
  { room: 'shared/app/', may: ['shared/app/', 'shared/domain/', 'shared/platform/', 'db/'] },
  // The database client reads the invocation's deadline (shared/platform/deadline.ts) before it sends a statement.
  { room: 'db/', may: ['db/', 'shared/domain/', 'shared/platform/deadline.ts'] },
  {
    room: 'functions/',
    may: ['functions/', 'shared/http/', 'shared/app/', 'shared/domain/', 'shared/platform/'],
  },
  // The local server stands in for API Gateway and Lambda: it may use everything that ships, never the tests.
  { room: 'infra/local/', may: ['infra/', 'functions/', 'shared/', 'db/'] },
  {
    room: 'infra/',
    may: [
      'infra/bundling.ts',
      'infra/constructs/',
      'infra/neon/',
      'infra/settings.ts',
      'infra/stack.ts',
      'functions/routes.ts',
      'shared/http/',
      'shared/platform/',
    ],
  },
  { room: 'bench/', may: ['bench/', 'load/', 'infra/', 'functions/', 'shared/', 'db/', 'client/'] },
  { room: 'load/', may: ['load/', 'bench/', 'infra/', 'functions/', 'shared/', 'db/'] },
  // The front end's client is a package of its own: nothing of the server reaches it, at build time either.
  { room: 'client/src/', may: ['client/src/'] },
  { room: 'client/', may: ['client/'] },
]

/** Packages that one production module wraps; nothing else in the production rooms imports them. */
const WRAPPED: Record<string, string> = {
  jose: 'shared/domain/tokens.ts',
  bcryptjs: 'shared/domain/passwords.ts',
  '@neondatabase/serverless': 'db/client.ts',
  // The settings parse the configured sender with nodemailer's own address parser, so synth reads it as sending will.
  nodemailer: 'infra/settings.ts, shared/platform/mail-transport.ts',
  aws4: 'shared/platform/aws-client.ts',
}
const PRODUCTION = ['functions/', 'shared/', 'db/', 'infra/']

function sourceFiles(folder: string): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mjs)$/.test(entry.name))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .filter((path) => !path.includes('node_modules') && !path.startsWith('db/migrations'))
}

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s(type\s)?[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|\nimport\s+'([^']+)'/g

/** Every module a file imports: repository paths for our own code, package names for the rest. */
function importsOf(file: string): { target: string; own: boolean; typeOnly?: true }[] {
  const text = readFileSync(join(root, file), 'utf8')
  return [...text.matchAll(IMPORT)].map((match) => {
    const specifier = match[2] ?? match[3] ?? match[4] ?? ''
    const typeOnly = match[1] ? ({ typeOnly: true } as const) : {}
    if (specifier.startsWith('#')) return { target: `${specifier.slice(1)}.ts`, own: true, ...typeOnly }
    if (specifier.startsWith('.'))
      return { target: relative(root, resolve(root, dirname(file), specifier)), own: true, ...typeOnly }
    const parts = specifier.split('/')
    const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '')
    return { target: name, own: false, ...typeOnly }
  })
}

const files = [
  ...new Set(['functions', 'shared', 'db', 'infra', 'bench', 'load', 'client'].flatMap(sourceFiles)),
].filter((file) => !file.startsWith('client/dist/'))

describe('the import rules of the rooms', () => {
  it('finds the imports it checks (the parser is not blind)', () => {
    expect(importsOf('shared/app/container.ts').map(({ target }) => target)).toEqual(
      expect.arrayContaining(['db/client.ts', 'shared/domain/auth-service.ts']),
    )
    expect(importsOf('shared/domain/tokens.ts')).toContainEqual({ target: 'jose', own: false })
  })

  it.each(ROOMS)('$room imports only from the rooms it may', ({ room, may, mayTypesOf = [] }) => {
    const inRoom = files.filter((file) => ROOMS.find((entry) => file.startsWith(entry.room))?.room === room)
    expect(inRoom.length, room).toBeGreaterThan(0)
    const allowed = ({ target, typeOnly }: { target: string; typeOnly?: true }) =>
      may.some((prefix) => target.startsWith(prefix)) ||
      (typeOnly === true && mayTypesOf.some((prefix) => target.startsWith(prefix)))
    const violations = inRoom.flatMap((file) =>
      importsOf(file)
        .filter((entry) => entry.own && !allowed(entry))
        .map(({ target }) => `${file} → ${target}`),
    )
    expect(violations).toEqual([])
  })

  it('tells a type-only import from a value import (the domain may read the schema for types only)', () => {
    expect(importsOf('shared/domain/users.ts')).toContainEqual({
      target: 'db/schema.ts',
      own: true,
      typeOnly: true,
    })
    expect(importsOf('shared/app/container.ts')).toContainEqual({ target: 'db/client.ts', own: true })
  })

  it('lets only the composition root reach db/ from shared/ for values', () => {
    const reachers = files
      .filter((file) => file.startsWith('shared/'))
      .filter((file) => importsOf(file).some(({ target, typeOnly }) => target.startsWith('db/') && !typeOnly))
    expect(reachers.every((file) => file.startsWith('shared/app/'))).toBe(true)
  })

  it('keeps the cutover deletable whole: only the operations module reaches db/cutover/ from outside it', () => {
    const reachers = files
      .filter((file) => !file.startsWith('db/cutover/'))
      .filter((file) => importsOf(file).some(({ target }) => target.startsWith('db/cutover/')))
    expect(reachers).toEqual(['shared/app/operations.ts'])
  })

  it('keeps the client free of packages and Node built-ins: what a browser and React Native have is all it uses', () => {
    const imported = files
      .filter((file) => file.startsWith('client/src/'))
      .flatMap((file) =>
        importsOf(file)
          .filter(({ own }) => !own)
          .map(({ target }) => `${file} → ${target}`),
      )
    expect(imported).toEqual([])
  })

  it.each(Object.entries(WRAPPED))('imports %s only in %s', (name, wrapper) => {
    const importers = files
      .filter((file) => PRODUCTION.some((prefix) => file.startsWith(prefix)))
      .filter((file) => importsOf(file).some(({ target, own }) => !own && target === name))
    expect(importers.sort()).toEqual(wrapper.split(', '))
  })
})
