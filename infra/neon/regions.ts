/**
 * What Neon offers a new project, as its documentation stated it when read on 2026-11-30. Neon adds regions and
 * versions now and then: update these lists (and their dates) from the pages named, nothing else reads them.
 *
 * Regions: https://neon.com/docs/introduction/regions (page updated 2026-01-28).
 */
export const NEON_REGIONS = {
  aws: [
    'aws-us-east-1',
    'aws-us-east-2',
    'aws-us-west-2',
    'aws-eu-central-1',
    'aws-eu-west-2',
    'aws-ap-southeast-1',
    'aws-ap-southeast-2',
    'aws-sa-east-1',
  ],
  azure: ['azure-eastus2', 'azure-westus3', 'azure-gwc'],
} as const

/**
 * Postgres major versions: https://neon.com/docs/reference/compatibility (page updated 2026-02-02: "Neon supports
 * Postgres 14, 15, 16, 17, and 18 (preview)"). A project keeps its major version for life
 * (https://neon.com/docs/postgresql/postgres-version-policy).
 */
export const NEON_PG_VERSIONS = { min: 14, max: 18 } as const

const ALL_REGIONS: readonly string[] = [...NEON_REGIONS.aws, ...NEON_REGIONS.azure]

/** Whether Neon creates projects in this region id. */
export const isNeonRegion = (regionId: string) => ALL_REGIONS.includes(regionId)

/** The AWS regions (`eu-central-1`) where Neon has a region of the same name. */
export const awsRegionsNeonServes = () => NEON_REGIONS.aws.map((id) => id.replace(/^aws-/, ''))

/** Why a region id is refused, naming every one Neon offers; undefined for a region Neon serves. */
export function regionProblem(regionId: string): string | undefined {
  if (isNeonRegion(regionId)) return undefined
  return `Neon has no region ${regionId}; it creates projects in ${ALL_REGIONS.join(', ')} (https://neon.com/docs/introduction/regions)`
}

/** Why a Postgres version is refused; undefined for one Neon offers. */
export function pgVersionProblem(version: number): string | undefined {
  const { min, max } = NEON_PG_VERSIONS
  if (Number.isInteger(version) && version >= min && version <= max) return undefined
  return `Neon offers Postgres ${min} to ${max}, not ${version} (https://neon.com/docs/reference/compatibility)`
}
