/** What `once` keeps: every value built in this process, so that one call closes them all. */
const built = new Set<() => Promise<void>>()

/**
 * A value built once per container (cold start) and shared by warm invocations: the first call builds it, the
 * others wait for that build; a failed build is forgotten, so the next call tries again. `dispose` closes what
 * the value holds (a pool) when `disposeAll` runs.
 */
export function once<T>(build: () => Promise<T>, dispose?: (value: T) => Promise<void>): () => Promise<T> {
  let value: Promise<T> | undefined
  const forget = async () => {
    const current = value
    value = undefined
    const settled = await current?.catch(() => undefined)
    if (settled !== undefined) await dispose?.(settled)
  }
  built.add(forget)
  return () => {
    if (!value) {
      const building = build()
      value = building
      building.catch(() => {
        if (value === building) value = undefined
      })
    }
    return value
  }
}

/** Closes and forgets every value built so far (the local server's shutdown, and tests that start over). */
export async function disposeAll(): Promise<void> {
  await Promise.all([...built].map((forget) => forget()))
}
