// The worker the thread tests start: thread isolation on the fixture `mod`, polling and beating
// fast so a test waits on events, not on the defaults' seconds.
import { createActivityWorker, type ActivityWorker, type StageModule, type WorkerTransport } from "../../../worker-sdk/index.js";
import type { Fixture } from "../../remote/helpers/fixture.js";

export function threadWorker(
  f: Fixture,
  mod: StageModule,
  over: Record<string, unknown> = {},
  transport: WorkerTransport = f.transport.worker,
): ActivityWorker {
  return createActivityWorker({
    transport,
    queue: "q",
    stageCodeVersion: "v1",
    registry: mod.stages,
    modulePath: mod.file,
    workerId: "w1",
    pollWaitMs: 50,
    heartbeatIntervalMs: 50,
    ...over,
  });
}
