// The one error of an unusable data_dir (the CLI exits 2 on it). Apart from
// persist/lmdb-records.ts so that code which only reports it does not load
// LMDB's native module.

/** The data folder cannot be used: missing rights, not a folder, or a corrupt database. */
export class DataDirError extends Error {
  override readonly name = "DataDirError";
}
