/**
 * Where payloads live in R2 (the BLOBS binding), named once for the Worker's routes and the objects:
 * models and inputs by their content hash, a replica's outputs by job and replica.
 */
export const modelKey = (sha256: string): string => `models/${sha256}`;
export const inputsKey = (inputSha256: string): string => `inputs/${inputSha256}`;
export const resultKey = (jobId: string, replica: number): string => `results/${jobId}/${replica}`;
/** A chat model's tokenizer.json, by its SHA-256 (runtime/chat-router.ts). */
export const tokenizerKey = (sha256: string): string => `tokenizers/${sha256}`;
