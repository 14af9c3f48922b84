/**
 * JSON Schemas of every message a worker or a client in another language sends or receives,
 * generated from the zod contract (`npm run schemas` writes them to docs/schemas/, and a test
 * fails when the checked-in files and the contract disagree).
 */
import { z } from "zod";
import * as api from "./api-messages.js";
import { EventMessage } from "./event-message.js";
import { ControlReply, ControlRequest, WorkerRecord } from "./fleet.js";
import { JobMessage } from "./job-message.js";
import * as heartbeatBatch from "./heartbeat-batch.js";
import * as tasks from "./tasks.js";
import * as ws from "./worker-service.js";

/** Wire messages by file name (without `.json`): what each side parses. */
export const WIRE_SCHEMAS: Record<string, z.ZodType> = {
  "task-message": tasks.TaskMessage,
  "start-request": tasks.StartRequest,
  "heartbeat-request": tasks.HeartbeatRequest,
  "heartbeat-reply": tasks.HeartbeatReply,
  "heartbeat-batch-request": heartbeatBatch.HeartbeatBatchRequest,
  "heartbeat-batch-reply": heartbeatBatch.HeartbeatBatchReply,
  "report-message": tasks.ReportMessage,
  "presign-request": tasks.PresignRequest,
  "presign-reply": tasks.PresignReply,
  "task-error-reply": tasks.TaskErrorReply,
  "cancel-notice": tasks.CancelNotice,
  "worker-record": WorkerRecord,
  "control-request": ControlRequest,
  "control-reply": ControlReply,
  "job-message": JobMessage,
  "event-message": EventMessage,
  "api-runs-create-request": api.RunCreateRequest,
  "api-runs-create-reply": api.RunCreateReply,
  "api-runs-get-request": api.RunGetRequest,
  "api-runs-get-reply": api.RunGetReply,
  "api-runs-list-request": api.RunListRequest,
  "api-runs-list-reply": api.RunListReply,
  "api-runs-cancel-request": api.RunCancelRequest,
  "api-runs-cancel-reply": api.RunCancelReply,
  "api-runs-rerun-request": api.RunRerunRequest,
  "api-runs-rerun-reply": api.RunRerunReply,
  "api-runs-annotate-reply": api.RunAnnotateReply,
  "api-stats-request": api.StatsRequest,
  "api-stats-reply": api.StatsReply,
  "api-workers-list-request": api.WorkersListRequest,
  "api-workers-list-reply": api.WorkersListReply,
  "api-runs-artifact-request": api.RunArtifactRequest,
  "api-runs-artifact-reply": api.RunArtifactReply,
  "api-dead-letters-list-request": api.DeadLettersListRequest,
  "api-dead-letters-list-reply": api.DeadLettersListReply,
  "api-error": api.ApiErrorBody,
  "worker-service-start-request": ws.WsStartRequest,
  "worker-service-stop-request": ws.WsStopRequest,
  "worker-service-restart-request": ws.WsRestartRequest,
  "worker-service-status-request": ws.WsStatusRequest,
  "worker-service-project-status": ws.WsProjectStatus,
  "worker-service-list-reply": ws.WsListReply,
  "worker-service-error-reply": ws.WsErrorReply,
};

/**
 * The JSON Schema (draft 2020-12) of `name`, as text with a trailing newline. Input shape: what a
 * sender may put on the wire (defaults are optional, refinements beyond JSON Schema are noted in
 * docs/protocol.md).
 */
export function jsonSchemaText(name: string): string {
  const schema = WIRE_SCHEMAS[name];
  if (!schema) throw new Error(`no wire schema named "${name}"`);
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
  return `${JSON.stringify({ $id: `https://jetflow.dev/schemas/${name}.json`, title: name, ...json }, null, 2)}\n`;
}
