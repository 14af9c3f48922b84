/**
 * Every `jetflow` subcommand, registered in one place. To add a command, write
 * `cli/commands/<name>.ts` exporting `register(program: Command): void` and add one line here.
 *
 * Modules are imported on demand: a process that runs one command (every worker and orchestrator
 * process) loads only that command's module, not the console server, the deploy store, postgres
 * and the API client of all the others (~0.2-0.4 s of CPU per process start).
 */
import type { Command } from "commander";

type CommandModule = { register(program: Command): void };

/** Top-level command name -> its module (the module registers exactly that command). */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  console: () => import("./console.js"),
  costs: () => import("./costs.js"),
  creds: () => import("./creds.js"),
  deploy: () => import("./deploy.js"),
  dev: () => import("./dev.js"),
  migrate: () => import("./migrate.js"),
  orchestrator: () => import("./orchestrator.js"),
  projects: () => import("./projects.js"),
  runs: () => import("./runs.js"),
  stats: () => import("./stats.js"),
  streams: () => import("./streams.js"),
  "worker-service": () => import("./worker-service.js"),
  workers: () => import("./workers.js"),
  worker: () => import("./worker.js"),
};

/**
 * Registers the subcommands on the root `jetflow` program: only `command` when it names one,
 * else all of them (root help, `help <cmd>`, an unknown name that needs its suggestion).
 */
export async function registerCommands(program: Command, command?: string): Promise<void> {
  const names = command !== undefined && Object.hasOwn(COMMANDS, command) ? [command] : Object.keys(COMMANDS);
  const modules = await Promise.all(names.map((n) => COMMANDS[n]!()));
  for (const m of modules) m.register(program);
}
