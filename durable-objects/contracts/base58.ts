// base58 for the contracts and the domain, which import nothing outside durable-objects/ but this
// leaf: the implementation is programs/client/base58.ts.
export { decodeBase58, decodePublicKey, encodeBase58 } from '../../programs/client/base58.ts';
