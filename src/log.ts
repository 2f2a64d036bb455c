// Logging: pino, structured and levelled. On a terminal the lines are pretty
// and one per event; elsewhere (files, test harnesses) they are JSON lines.
// Level and format come from config, overridden by RINGDHT_LOG_LEVEL and
// RINGDHT_LOG_FORMAT.

import { createRequire } from "node:module";
import { pino } from "pino";
import type PinoPretty from "pino-pretty";

export type Logger = pino.Logger;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["auto", "pretty", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
}

const isLevel = (s: string | undefined): s is LogLevel => LOG_LEVELS.some((l) => l === s);
const isFormat = (s: string | undefined): s is LogFormat => LOG_FORMATS.some((f) => f === s);

/** Applies the environment's overrides to the configured options. */
export function logOptionsFromEnv(base: LogOptions, env = process.env): LogOptions {
  const level = env.RINGDHT_LOG_LEVEL;
  const format = env.RINGDHT_LOG_FORMAT;
  return {
    level: isLevel(level) ? level : base.level,
    format: isFormat(format) ? format : base.format,
  };
}

export function createLogger(opts: LogOptions): Logger {
  const usePretty = opts.format === "pretty" || (opts.format === "auto" && process.stderr.isTTY);
  const base = { level: opts.level, base: undefined };
  if (!usePretty) return pino(base, pino.destination({ fd: 2, sync: true }));
  const stream = loadPretty()({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY,
    singleLine: true,
    translateTime: "HH:MM:ss.l",
    ignore: "pid,hostname",
  });
  return pino(base, stream);
}

/**
 * pino-pretty and its dependencies are loaded only for pretty output: a node
 * logging JSON lines (a service, a harness) never needs them.
 */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
}

/** A logger that drops everything (tests, library use). */
export const silentLogger = (): Logger => pino({ level: "silent" });
