import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HttpResult } from './handler.ts'

/** The files of the `swagger-ui-dist` package that the docs page loads, with their media types. */
export const SWAGGER_UI_DIST_FILES = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const

/** Where a function bundle carries those files, beside its `index.mjs` (infra/bundling.ts copies them there). */
export const BUNDLED_SWAGGER_UI_DIRECTORY = 'swagger-ui'

const INITIALIZER = 'swagger-initializer.js'
const HTML = 'text/html; charset=utf-8'
const JAVASCRIPT = 'text/javascript; charset=utf-8'

// Everything the page loads comes from this origin: no CDN, no validator badge, no fonts from elsewhere.
// Swagger UI sets inline styles from script, hence 'unsafe-inline' for styles only.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ')

/** The media type of what the docs site serves at a path: an asset by its file name, else the page. */
export function swaggerUiContentType(path: string): string {
  const file = path.slice(path.lastIndexOf('/') + 1)
  if (file === INITIALIZER) return JAVASCRIPT
  return SWAGGER_UI_DIST_FILES[file as keyof typeof SWAGGER_UI_DIST_FILES] ?? HTML
}

/** Every path the docs site answers: the page itself, then its assets under `<pagePath>/`. */
export function swaggerUiPaths(pagePath: string): { path: string; contentType: string }[] {
  return [
    { path: pagePath, contentType: HTML },
    { path: `${pagePath}/${INITIALIZER}`, contentType: JAVASCRIPT },
    ...Object.entries(SWAGGER_UI_DIST_FILES).map(([file, contentType]) => ({
      path: `${pagePath}/${file}`,
      contentType,
    })),
  ]
}

/**
 * The Swagger UI site: an HTML page at `pagePath`, its assets beside it, and Swagger UI pointed at the OpenAPI
 * document at `specPath`. Links are relative, so the site works behind any host or base path.
 */
export function createSwaggerUiSite({ pagePath, specPath }: { pagePath: string; specPath: string }) {
  const pageDirectory = posix.dirname(pagePath)
  const relative = (path: string) => posix.relative(pageDirectory, path)
  const assetHref = (file: string) => relative(`${pagePath}/${file}`)
  const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>API documentation</title>
    <link rel="stylesheet" href="${assetHref('swagger-ui.css')}">
    <link rel="stylesheet" href="${assetHref('index.css')}">
    <link rel="icon" type="image/png" href="${assetHref('favicon-32x32.png')}" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${assetHref('swagger-ui-bundle.js')}"></script>
    <script src="${assetHref(INITIALIZER)}"></script>
  </body>
</html>
`
  const initializer = `window.ui = SwaggerUIBundle({
  url: new URL(${JSON.stringify(relative(specPath))}, document.baseURI).href,
  dom_id: '#swagger-ui',
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  deepLinking: true,
  validatorUrl: null,
  displayRequestDuration: true,
  tryItOutEnabled: true,
})
`
  const files = new Map<string, () => HttpResult>([
    [
      pagePath,
      () =>
        text(page, HTML, { 'cache-control': 'no-cache', 'content-security-policy': CONTENT_SECURITY_POLICY }),
    ],
    [`${pagePath}/${INITIALIZER}`, () => text(initializer, JAVASCRIPT, { 'cache-control': 'no-cache' })],
  ])
  for (const [file, contentType] of Object.entries(SWAGGER_UI_DIST_FILES)) {
    files.set(`${pagePath}/${file}`, () => distFile(file, contentType))
  }

  return {
    /** The response for a path of the site; 404 in the API's shape for any other path. */
    respond(path: string): HttpResult {
      const file = files.get(path)
      return file ? file() : { statusCode: 404, body: { detail: 'Not Found' } }
    },
  }
}

const text = (body: string, contentType: string, headers: Record<string, string>): HttpResult => ({
  statusCode: 200,
  headers: { 'content-type': contentType, ...headers },
  raw: { body, isBase64Encoded: false },
})

const distFiles = new Map<string, HttpResult>()

/** A swagger-ui-dist file, read once per container; immutable for a given package version, so cacheable. */
function distFile(file: string, contentType: string): HttpResult {
  let result = distFiles.get(file)
  if (!result) {
    const bytes = readFileSync(join(swaggerUiDirectory(), file))
    const isText = contentType.startsWith('text/')
    // The source maps are not served, so the comments that point at them would only cause 404s in devtools.
    const body = isText
      ? bytes.toString('utf8').replace(/\n?\/[/*]# sourceMappingURL=\S+(?: \*\/)?\s*$/, '\n')
      : bytes.toString('base64')
    result = {
      statusCode: 200,
      headers: { 'content-type': contentType, 'cache-control': 'public, max-age=3600' },
      raw: { body, isBase64Encoded: !isText },
    }
    distFiles.set(file, result)
  }
  return result
}

let directory: string | undefined

/** Beside the bundle in Lambda; the installed `swagger-ui-dist` package when run from source (local server, tests). */
function swaggerUiDirectory(): string {
  if (!directory) {
    const bundled = join(dirname(fileURLToPath(import.meta.url)), BUNDLED_SWAGGER_UI_DIRECTORY)
    directory = existsSync(bundled) ? bundled : swaggerUiDistDirectory()
  }
  return directory
}

/** The installed `swagger-ui-dist` package's directory. */
export const swaggerUiDistDirectory = (): string =>
  dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
