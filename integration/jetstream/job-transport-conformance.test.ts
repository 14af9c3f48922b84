// The shared JobTransport conformance suite (src/testing) run unchanged against the JetStream
// transport: one nats-server for the file, a fresh prefixed topology per case. The suite is a
// static import, so a rename breaks the typecheck and the import instead of skipping (and
// passing) this file; an empty suite fails too.
import { test } from "uvu";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { services } from "../harness/index.js";
import { createJetStreamJobTransport } from "../../adapters/jetstream/job-transport.js";
import { jobTransportConformance, type JobTransportCaseOptions } from "../../src/testing/index.js";
import { freshTopology } from "./helpers.js";

const svc = await services(["nats"]);
const t = svc ? test : test.skip;

const cases = jobTransportConformance(async ({ leaseMs, maxDeliveries }: JobTransportCaseOptions) => {
  const nc: NatsConnection = await connect({ servers: svc!.nats.url });
  const transport = await createJetStreamJobTransport(nc, { topology: freshTopology(), leaseMs, maxDeliveries, promoterPollMs: 200 });
  return {
    transport,
    async cleanup() {
      await transport.close();
      await nc.close();
    },
  };
});
if (cases.length === 0) throw new Error("jobTransportConformance returned no cases: the conformance suite is empty");

for (const c of cases) t(c.name, () => c.run());
test.after(async () => {
  await svc?.stop();
});

test.run();
