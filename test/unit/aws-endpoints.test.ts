/**
 * The endpoints of the hand-signed AWS calls (Secrets Manager's GetSecretValue, Lambda's Invoke), in each partition
 * the service runs in, with and without FIPS: the host the AWS SDK's own endpoint rules resolve (its Secrets Manager
 * client, the one the rotation function uses), and a clear refusal for a region of another partition.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { describe, expect, it } from 'vitest'
import {
  partitionOf,
  SUPPORTED_PARTITIONS,
  serviceEndpoint,
  UnsupportedPartitionError,
} from '#shared/platform/aws-endpoints'

/** Regions of each supported partition, the SDK's own names for them. */
const REGIONS = {
  aws: ['us-east-1', 'eu-central-1', 'ap-southeast-2', 'ca-central-1', 'il-central-1', 'mx-central-1'],
  'aws-cn': ['cn-north-1', 'cn-northwest-1'],
  'aws-us-gov': ['us-gov-west-1', 'us-gov-east-1'],
} as const

/** What the AWS SDK's Secrets Manager client resolves for a region, with FIPS on or off. */
async function sdkEndpoint(region: string, fips: boolean): Promise<string> {
  const client = new SecretsManagerClient({ region, useFipsEndpoint: fips })
  try {
    const endpoint = await client.config.endpointProvider({
      Region: region,
      UseFIPS: fips,
      UseDualStack: false,
    })
    return endpoint.url.toString().replace(/\/$/, '')
  } finally {
    client.destroy()
  }
}

describe('the endpoint of a hand-signed AWS call', () => {
  it('is the regional host in its partition’s domain: amazonaws.com, amazonaws.com.cn in China', () => {
    expect(serviceEndpoint('lambda', 'eu-west-1')).toBe('https://lambda.eu-west-1.amazonaws.com')
    expect(serviceEndpoint('lambda', 'cn-north-1')).toBe('https://lambda.cn-north-1.amazonaws.com.cn')
    expect(serviceEndpoint('lambda', 'us-gov-west-1')).toBe('https://lambda.us-gov-west-1.amazonaws.com')
    expect(serviceEndpoint('secretsmanager', 'cn-northwest-1')).toBe(
      'https://secretsmanager.cn-northwest-1.amazonaws.com.cn',
    )
  })

  it('is the FIPS host when AWS_USE_FIPS_ENDPOINT is set, in the commercial and GovCloud partitions', () => {
    expect(serviceEndpoint('lambda', 'us-east-1', true)).toBe('https://lambda-fips.us-east-1.amazonaws.com')
    expect(serviceEndpoint('lambda', 'us-gov-west-1', true)).toBe(
      'https://lambda-fips.us-gov-west-1.amazonaws.com',
    )
    expect(serviceEndpoint('secretsmanager', 'us-gov-east-1', true)).toBe(
      'https://secretsmanager-fips.us-gov-east-1.amazonaws.com',
    )
  })

  it('is the host the AWS SDK resolves, for every partition the service runs in, FIPS on and off', async () => {
    for (const [partition, regions] of Object.entries(REGIONS))
      for (const region of regions) {
        expect(partitionOf(region).name, region).toBe(partition)
        for (const fips of [false, true])
          expect(serviceEndpoint('secretsmanager', region, fips), `${region} fips=${fips}`).toBe(
            await sdkEndpoint(region, fips),
          )
      }
    expect([...SUPPORTED_PARTITIONS].sort()).toEqual(Object.keys(REGIONS).sort())
  })

  it('takes a region no partition names as the commercial partition’s, as the SDK does', async () => {
    expect(partitionOf('xx-future-1').name).toBe('aws')
    expect(serviceEndpoint('secretsmanager', 'xx-future-1')).toBe(await sdkEndpoint('xx-future-1', false))
  })

  it('refuses a region of a partition the service does not run in, naming it', () => {
    for (const [region, partition] of [
      ['us-iso-east-1', 'aws-iso'],
      ['us-isob-east-1', 'aws-iso-b'],
      ['eu-isoe-west-1', 'aws-iso-e'],
      ['us-isof-south-1', 'aws-iso-f'],
      ['eusc-de-east-1', 'aws-eusc'],
    ] as const) {
      expect(() => serviceEndpoint('lambda', region), region).toThrow(UnsupportedPartitionError)
      expect(() => partitionOf(region), region).toThrow(
        `region ${region} is in the ${partition} partition; the service runs in aws, aws-cn, aws-us-gov only`,
      )
    }
  })
})
