/**
 * Other objects that reference the old users table: foreign keys of other tables and the views over it (and the views
 * over those). PostgreSQL binds them to the table, not its name, so once the table is renamed legacy_users they would
 * silently keep pointing at it. The cutover finds them in pg_constraint and pg_depend, reports them, and either
 * refuses (the default) or, with `inbound: repoint`, moves each to the new users table in the same transaction.
 */
import { sql } from 'drizzle-orm'
import type { Executor } from './inspection.ts'
import { PLAN_TABLE } from './planner.ts'

interface Common {
  name: string
  /** Why it cannot be repointed (it is not ours to alter, or it holds what a recreation would lose); else undefined. */
  cannotRepoint: string | undefined
}

export interface InboundForeignKeyReference extends Common {
  kind: 'foreign key'
  /** `schema.table`. */
  table: string
  columns: string[]
  references: string
  /** Rows whose user is not carried: counted (countStrandedRows) when it references users(id) alone; else null. */
  rowsWithoutCarriedUser: number | null
  /** The statements that move it: drop, add again NOT VALID, validate. */
  repoint: string[]
  /** The table, quoted, and the referencing column when it references users(id) alone: what the count reads. */
  qualifiedTable: string
  column: string | undefined
}

export interface InboundViewReference extends Common {
  kind: 'view' | 'materialized view'
  drop: string
  /** Its definition (as pg_get_viewdef gives it, read while `users` is still the old table), options, owner, grants, comment, indexes. */
  recreate: string[]
}

export type InboundReference = InboundForeignKeyReference | InboundViewReference

const notOurs = (owner: string) =>
  `it belongs to the role ${owner}, which the cutover's role is not a member of`

/** Every other table's foreign key to public.users, and every view that depends on it, with what would move them. */
export async function findInboundReferences(db: Executor): Promise<InboundReference[]> {
  const keys = await db.execute<{
    name: string
    table: string
    qualified: string
    columns: string[]
    referenced: string[]
    repoint: string[]
    owner: string
    owned: boolean
  }>(sql`
    select c.conname as name, format('%s.%s', n.nspname, t.relname) as table,
      format('%I.%I', n.nspname, t.relname) as qualified,
      array(select a.attname::text from unnest(c.conkey) with ordinality as k(attnum, place)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.place) as columns,
      array(select a.attname::text from unnest(c.confkey) with ordinality as k(attnum, place)
        join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum order by k.place) as referenced,
      array[format('alter table %I.%I drop constraint %I', n.nspname, t.relname, c.conname),
        format('alter table %I.%I add constraint %I %s not valid', n.nspname, t.relname, c.conname,
          pg_get_constraintdef(c.oid)),
        format('alter table %I.%I validate constraint %I', n.nspname, t.relname, c.conname)] as repoint,
      pg_get_userbyid(t.relowner) as owner,
      pg_has_role(t.relowner, 'MEMBER') as owned
    from pg_constraint c join pg_class t on t.oid = c.conrelid join pg_namespace n on n.oid = t.relnamespace
    where c.contype = 'f' and c.confrelid = 'public.users'::regclass and c.conrelid <> c.confrelid
      and c.conparentid = 0
    order by n.nspname, t.relname, c.conname`)

  const views = await db.execute<{
    name: string
    kind: 'v' | 'm'
    drop: string
    recreate: string[]
    owner: string
    owned: boolean
    extras: boolean
  }>(sql`
    with recursive dependent(oid) as (
      select r.ev_class from pg_depend d join pg_rewrite r on r.oid = d.objid
      where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
        and d.refobjid = 'public.users'::regclass and r.ev_class <> 'public.users'::regclass
      union
      select r.ev_class from dependent v
      join pg_depend d on d.refobjid = v.oid and d.refclassid = 'pg_class'::regclass
        and d.classid = 'pg_rewrite'::regclass
      join pg_rewrite r on r.oid = d.objid where r.ev_class <> v.oid
    ), described as (
      select c.oid, format('%s.%s', n.nspname, c.relname) as name, c.relkind::text as kind,
        format('%I.%I', n.nspname, c.relname) as qualified,
        case c.relkind when 'm' then 'materialized view' else 'view' end as keyword,
        regexp_replace(pg_get_viewdef(c.oid), '[;[:space:]]+$', '') as definition,
        c.reloptions, c.relowner, c.relacl, obj_description(c.oid, 'pg_class') as comment
      from dependent join pg_class c on c.oid = dependent.oid join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('v', 'm')
    )
    select name, kind, format('drop %s %s', keyword, qualified) as drop,
      array[format('create %s %s%s as %s', keyword, qualified,
          case when reloptions is null then '' else format(' with (%s)', array_to_string(reloptions, ', ')) end,
          definition),
        format('alter %s %s owner to %I', keyword, qualified, pg_get_userbyid(relowner))]
      || array(select format('grant %s on %s to %s%s', a.privilege_type, qualified,
          case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end,
          case when a.is_grantable then ' with grant option' else '' end)
        from aclexplode(relacl) a where a.grantee <> relowner)
      || array(select pg_get_indexdef(i.indexrelid) from pg_index i where i.indrelid = described.oid)
      || case when comment is null then '{}'::text[]
        else array[format('comment on %s %s is %L', keyword, qualified, comment)] end as recreate,
      pg_get_userbyid(relowner) as owner, pg_has_role(relowner, 'MEMBER') as owned,
      exists (select 1 from pg_trigger g where g.tgrelid = described.oid)
        or exists (select 1 from pg_rewrite w where w.ev_class = described.oid and w.rulename <> '_RETURN') as extras
    from described order by described.oid`)

  return [
    ...keys.rows.map((key): InboundForeignKeyReference => {
      const byId = key.referenced.length === 1 && key.referenced[0] === 'id'
      return {
        kind: 'foreign key',
        name: key.name,
        table: key.table,
        columns: key.columns,
        references: `users(${key.referenced.join(', ')})`,
        rowsWithoutCarriedUser: null,
        cannotRepoint: !key.owned
          ? notOurs(key.owner)
          : !byId
            ? `it references users(${key.referenced.join(', ')}): only a reference to users(id) is repointed (ids are carried as they are; emails and usernames may change)`
            : undefined,
        repoint: key.repoint,
        qualifiedTable: key.qualified,
        column: byId ? key.columns[0] : undefined,
      }
    }),
    ...views.rows.map(
      (view): InboundViewReference => ({
        kind: view.kind === 'm' ? 'materialized view' : 'view',
        name: view.name,
        cannotRepoint: !view.owned
          ? notOurs(view.owner)
          : view.extras
            ? 'it has triggers or rules, which recreating it from its definition would lose'
            : undefined,
        drop: view.drop,
        recreate: view.recreate,
      }),
    ),
  ]
}

/** A reference as the operator reads it: `foreign key orders_user_id_fkey of public.orders (user_id)`. */
export const describeReference = (reference: InboundReference) =>
  reference.kind === 'foreign key'
    ? `foreign key ${reference.name} of ${reference.table} (${reference.columns.join(', ')})`
    : `${reference.kind} ${reference.name}`

/**
 * Counts, for each foreign key to users(id), the rows whose user the plan does not carry (a duplicate `merge` leaves
 * behind, or an id the old table lacks): those would fail its validation on the new table.
 */
export async function countStrandedRows(
  db: Executor,
  references: InboundReference[],
): Promise<InboundReference[]> {
  const counted: InboundReference[] = []
  for (const reference of references) {
    if (reference.kind !== 'foreign key' || reference.column === undefined) {
      counted.push(reference)
      continue
    }
    const column = sql.identifier(reference.column)
    const result = await db.execute<{ count: string }>(sql`
      select count(*) as count from ${sql.raw(reference.qualifiedTable)} t
      where t.${column} is not null and not exists (
        select 1 from ${PLAN_TABLE} p where p.id = t.${column} and p.fate is distinct from 'merged')`)
    counted.push({ ...reference, rowsWithoutCarriedUser: Number(result.rows[0]?.count ?? 0) })
  }
  return counted
}

/**
 * Moves every reference to the new users table, once its rows are copied: views over the old table are dropped (the
 * last made first), each foreign key dropped and added again NOT VALID then validated, and the views recreated in
 * the order they were made. Names what it moved.
 */
export async function repointInbound(db: Executor, references: InboundReference[]): Promise<string[]> {
  const views = references.filter((reference) => reference.kind !== 'foreign key')
  const keys = references.filter((reference) => reference.kind === 'foreign key')
  for (const view of [...views].reverse()) await db.execute(sql.raw(view.drop))
  for (const key of keys) for (const statement of key.repoint) await db.execute(sql.raw(statement))
  for (const view of views) for (const statement of view.recreate) await db.execute(sql.raw(statement))
  return references.map(describeReference)
}
