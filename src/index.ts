// Entry point: the real dependencies (the runner through @actions/core, this process's
// environment and signals, the platform clients, the wall clock, GitHub's services), then
// the pipeline. The first import sets __dirname/__filename: ssh2 reads them at load time
// and they do not exist in an ESM bundle.
import './shim.ts';
import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import * as core from '@actions/core';
import { run, type Deps } from './main.ts';
import { envInputGetter } from './inputs.ts';
import { secrets } from './secrets.ts';
import { createPlatform } from './platform/index.ts';
import { closeDispatcher } from './net/http.ts';
import { gitHubServices } from './github/services.ts';
import { runnerState } from './pipeline/state.ts';
import type { ActionIO } from './pipeline/deps.ts';

const io: ActionIO = {
  info: (line) => core.info(line),
  warning: (line) => core.warning(line),
  notice: (line) => core.notice(line),
  debug: (line) => core.debug(line),
  group: (name, fn) => core.group(name, fn),
  setSecret: (value) => core.setSecret(value),
  setOutput: (name, value) => core.setOutput(name, value),
  setFailed: (message) => core.setFailed(message),
  appendSummary: async (markdown) => {
    const file = process.env.GITHUB_STEP_SUMMARY;
    if (file) await appendFile(file, markdown, 'utf8');
  },
};

const deps: Deps = {
  inputs: envInputGetter(process.env),
  env: process.env,
  io,
  state: runnerState,
  secrets,
  createPlatform: (api, cfg) => createPlatform(api, cfg, secrets),
  clock: { now: () => Date.now(), sleep: (ms, signal) => sleep(ms, undefined, { signal }) },
  github: gitHubServices({ env: process.env, io, secrets }),
  signals: {
    on: (signal, listener) => process.on(signal, listener),
    off: (signal, listener) => process.off(signal, listener),
    exit: (code) => process.exit(code),
  },
  closeNetwork: closeDispatcher,
};

await run(deps);
