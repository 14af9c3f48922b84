// The shared JobTransport conformance suite (src/testing) run unchanged against the JetStream
// transport: one nats-server for the file, a fresh prefixed topology per case.
import { test } from "uvu";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { createJetStreamJobTransport } from "../../adapters/jetstream/job-transport.js";
import type { JobTransport } from "../../src/ports/job-transport.js";
import * as testing from "../../src/testing/index.js";
import { freshTopology } from "./helpers.js";

type Factory = (opts: { leaseMs: number; maxDeliveries: number }) => Promise<{ transport: JobTransport; cleanup(): Promise<void> }>;
type Suite = (factory: Factory) => { name: string; run(): Promise<void> }[];

const suite = (testing as unknown as { jobTransportConformance?: Suite }).jobTransportConformance;
const svc = await services(["nats"]);
if (!suite) process.stderr.write("\nSKIPPING job-transport conformance: src/testing does not export jobTransportConformance yet\n\n");

const factory: Factory = async ({ leaseMs, maxDeliveries }) => {
  const nc: NatsConnection = await connect({ servers: svc!.nats.url });
  const transport = await createJetStreamJobTransport(nc, { topology: freshTopology(), leaseMs, maxDeliveries, promoterPollMs: 200 });
  return {
    transport,
    async cleanup() {
      await transport.close();
      await nc.close();
    },
  };
};

if (svc && suite) {
  for (const c of suite(factory)) test(c.name, () => c.run());
} else {
  test.skip("job-transport conformance (suite or NATS unavailable)", () => {});
}
test.after(async () => {
  await svc?.stop();
});

test.run();
