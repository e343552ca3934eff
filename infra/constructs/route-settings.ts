import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2'
import type { IConstruct } from 'constructs'
import type { Route } from '#functions/routes'

/** API Gateway's key for a route, `GET /api/v1/admin/users`: what the stage's `RouteSettings` are keyed by. */
export const routeKey = (route: Pick<Route, 'method' | 'path'>): string => `${route.method} ${route.path}`

/** A route's own setting on the stage, in CloudFormation's names (the property is plain JSON to CDK). */
export interface RouteSetting {
  readonly ThrottlingRateLimit: number
  readonly ThrottlingBurstLimit: number
  readonly DetailedMetricsEnabled: boolean
}

/**
 * Gives routes a setting of their own on the stage, beside those it has. A route setting replaces the stage's default
 * for its route, all of it, so each is whole; a route has one at most (a second is refused, not merged). API Gateway
 * refuses a stage whose settings name a route that does not exist yet ("Unable to find Route by key"): the stage is
 * created and updated after the routes it names.
 */
export function addRouteSettings(
  stage: apigw.HttpStage,
  routes: readonly {
    readonly route: Pick<Route, 'method' | 'path'>
    readonly resource: IConstruct
    readonly setting: RouteSetting
  }[],
): void {
  const cfnStage = stage.node.defaultChild as apigw.CfnStage
  const settings: Record<string, RouteSetting> = {
    ...(cfnStage.routeSettings as Record<string, RouteSetting>),
  }
  for (const { route, setting } of routes) {
    const key = routeKey(route)
    if (key in settings) throw new Error(`route ${key} has a stage setting already`)
    settings[key] = setting
  }
  cfnStage.routeSettings = settings
  stage.node.addDependency(...routes.map(({ resource }) => resource))
}
