// What `ringdht get` writes: the value's exact bytes when piped or redirected
// (so `get k > file` round-trips), with a newline after it on a terminal (so
// the prompt starts on its own line); `--hex` always ends with a newline.

export function valueOutput(value: Buffer, hex: boolean, terminal: boolean): Buffer {
  if (hex) return Buffer.from(`${value.toString("hex")}\n`);
  return terminal ? Buffer.concat([value, Buffer.from("\n")]) : value;
}
