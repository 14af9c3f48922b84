/**
 * The service harness for integration tests: real NATS, Postgres and S3, resolved per call
 * from an env URL, a container, or a local process. See ./README.md for the test-file pattern.
 */
export type { NatsService, PostgresService, S3Service, ServiceName, ServiceSource, UseNatsOptions } from "./types.js";
export { ServiceUnavailableError } from "./types.js";
export { useNats, findNatsServerBinary } from "./nats.js";
export { usePostgres } from "./postgres.js";
export { services, type ServiceMap, type Services } from "./services.js";
export { inCI } from "./lifecycle.js";
export { freePort, portRefuses, waitForPort } from "./net.js";
export {
  useS3,
  s3ClientConfig,
  orchestratorS3Config,
  LOCAL_S3_ACCESS_KEY_ID,
  LOCAL_S3_SECRET_ACCESS_KEY,
  type UseS3Options,
} from "./s3.js";
export { useRepoNats, repoNatsConfig, assertDenied, REPO_NATS_PASSWORDS } from "./repo-nats.js";
export { useNatsCluster, useRepoNatsCluster, type NatsCluster, type NatsClusterNode, type UseNatsClusterOptions } from "./nats-cluster.js";
