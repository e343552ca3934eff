/**
 * The Neon compute's settings the stack may manage: how long it stays up idle, and its size. As Neon's documentation
 * stated them when read on 2026-11-30: update these rules (and the date) from the pages named, nothing else reads them.
 *
 * Scale to zero: https://neon.com/docs/manage/computes#scale-to-zero-configuration, and the API's
 * `suspend_timeout_seconds` (https://neon.com/docs/reference/api/endpoints/update-project-endpoint): `0` is Neon's
 * default (300 s, 5 minutes), `-1` never suspends, otherwise 60 to 604800 s (a week). The plan decides what is
 * allowed: the Free plan keeps the default, Launch may also disable it, Scale may set a threshold; Neon refuses the
 * rest, and the deploy fails with its reason.
 *
 * Sizes: https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration (page updated 2026-08-26).
 */
export const SUSPEND_TIMEOUT = { default: 0, never: -1, min: 60, max: 604_800 } as const

/** The compute sizes Neon offers, in compute units (about 4 GB of RAM each): .25 and .5 are shared compute. */
export const COMPUTE_UNITS: readonly number[] = [
  0.25,
  0.5,
  ...Array.from({ length: 16 }, (_, i) => i + 1),
  ...Array.from({ length: 20 }, (_, i) => 18 + 2 * i),
]

/**
 * Autoscaling (minimum below maximum) goes up to 16 CU, over a range of at most 8 CU; above that, fixed sizes only,
 * and a compute above 16 CU never scales to zero.
 */
export const AUTOSCALING = { maxUnits: 16, maxRange: 8 } as const

/** The settings of the project's compute the stack manages; an unset one is Neon's to decide. */
export interface ComputeSettings {
  /** Neon's `suspend_timeout_seconds`: 0 (Neon's default, 5 minutes), -1 (never), or 60 to 604800. */
  readonly suspendTimeoutSeconds?: number | undefined
  /** `autoscaling_limit_min_cu` and `autoscaling_limit_max_cu`, set together; equal for a fixed size. */
  readonly computeUnits?: { readonly min: number; readonly max: number } | undefined
}

/** Why a suspend timeout is refused (`given`: the value as the engineer wrote it); undefined for one Neon accepts. */
export function suspendTimeoutProblem(seconds: number, given: string = String(seconds)): string | undefined {
  const { min, max } = SUSPEND_TIMEOUT
  if (Number.isInteger(seconds) && (seconds === 0 || seconds === -1 || (seconds >= min && seconds <= max)))
    return undefined
  return (
    `must be 0 (Neon's default: suspend after 5 minutes idle), -1 (never suspend) or ${min} to ${max} seconds, ` +
    `not ${given} (https://neon.com/docs/manage/computes#scale-to-zero-configuration)`
  )
}

/** Why a compute size range is refused; undefined for one Neon offers (its plan may still limit it). */
export function computeUnitsProblem(min: number, max: number): string | undefined {
  const sizes = 'https://neon.com/docs/manage/computes#compute-size-and-autoscaling-configuration'
  const unknown = [...new Set([min, max])].filter((units) => !COMPUTE_UNITS.includes(units))
  if (unknown.length > 0)
    return `Neon has no compute of ${unknown.join(' or ')} CU; it offers 0.25, 0.5, 1 to 16, and even sizes 18 to 56 (${sizes})`
  if (min > max) return `the minimum (${min} CU) is above the maximum (${max} CU)`
  if (min < max && max > AUTOSCALING.maxUnits)
    return `autoscaling goes up to ${AUTOSCALING.maxUnits} CU, not ${max}; above that, give a fixed size (minimum = maximum) (${sizes})`
  if (max - min > AUTOSCALING.maxRange)
    return `autoscaling spans at most ${AUTOSCALING.maxRange} CU, not ${min} to ${max} (${sizes})`
  return undefined
}
