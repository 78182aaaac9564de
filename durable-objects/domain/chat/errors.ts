import { defineErrors } from '../define-errors.ts';

/** Refusals of chat completions (namespace CHAT__). Append-only. */
export const CHAT_ERRORS = defineErrors({
  CHAT__UNKNOWN_MODEL: 'no route of agents serves model {model} now; GET /v1/models lists the models that can be served',
  CHAT__PROMPT_TOO_LONG: 'the prompt is {promptTokens} tokens and max_tokens is {maxTokens}; model {model} holds {limit} positions in all',
  CHAT__ROUTE_FAILED: 'stage {stage} of model {model} failed and no other agent holding it took over: {problem}',
  CHAT__UNSUPPORTED: '{field}: {problem}',
  CHAT__HOLDER_AT_FAULT: 'stage {stage} of {manifest} gave outputs at step {step} that two other holders of it disagree with: this agent is out of chat routing, and its provider {provider} is proposed for a slash where it has stake',
  CHAT__SLASH_NOT_FOUND: 'no chat holder {agentKey} was found at fault',
  CHAT__SLASH_INVALID: '{field}: {problem}',
  CHAT__SLASH_TRANSITION: 'a slash cannot go from {from} to {to}',
});

export type ChatErrorCode = keyof typeof CHAT_ERRORS;
