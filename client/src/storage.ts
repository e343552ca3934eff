/**
 * Where the client keeps the session (one item: the token pair and when to refresh it), and nowhere else. `localStorage`
 * fits as it is; so does React Native's AsyncStorage, and expo-secure-store with its three functions renamed. Values may
 * come back as promises.
 */
export interface TokenStorage {
  getItem(key: string): string | null | undefined | Promise<string | null | undefined>
  setItem(key: string, value: string): unknown
  removeItem(key: string): unknown
}

/** The default: this page's memory only. The session ends with the page; each tab logs in on its own. */
export function memoryStorage(): TokenStorage {
  const items = new Map<string, string>()
  return {
    getItem: (key) => items.get(key),
    setItem: (key, value) => items.set(key, value),
    removeItem: (key) => items.delete(key),
  }
}
