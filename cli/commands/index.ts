/**
 * Every `jetflow` subcommand, registered in one place. To add a command, write
 * `cli/commands/<name>.ts` exporting `register(program: Command): void` and add one line here.
 */
import type { Command } from "commander";
import { register as registerConsole } from "./console.js";
import { register as registerCosts } from "./costs.js";
import { register as registerCreds } from "./creds.js";
import { register as registerDeploy } from "./deploy.js";
import { register as registerDev } from "./dev.js";
import { register as registerMigrate } from "./migrate.js";
import { register as registerOrchestrator } from "./orchestrator.js";
import { register as registerProjects } from "./projects.js";
import { register as registerRuns } from "./runs.js";
import { register as registerStats } from "./stats.js";
import { register as registerStreams } from "./streams.js";
import { register as registerWorkerService } from "./worker-service.js";
import { register as registerWorkers } from "./workers.js";
import { register as registerWorker } from "./worker.js";

/** Registers all subcommands on the root `jetflow` program. */
export function registerCommands(program: Command): void {
  registerConsole(program);
  registerCosts(program);
  registerCreds(program);
  registerDeploy(program);
  registerDev(program);
  registerMigrate(program);
  registerOrchestrator(program);
  registerProjects(program);
  registerRuns(program);
  registerStats(program);
  registerStreams(program);
  registerWorkerService(program);
  registerWorkers(program);
  registerWorker(program);
}
