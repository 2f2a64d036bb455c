// A 32-byte API key as a map key: its bytes as a latin1 string (cheap, exact).

export type KeyId = string;
export const keyId = (key: Buffer): KeyId => key.toString("latin1");
export const keyBytes = (id: KeyId): Buffer => Buffer.from(id, "latin1");
