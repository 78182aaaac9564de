/**
 * Step 1 of building the chat model (see README.md here): trains the tokenizer on the corpus,
 * writes it to examples/chat/tokenizer.json, and writes the tokenized corpus and the training
 * configuration to the build folder for train.py.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer, tokenizerDocument, trainByteLevelBpe } from '../../durable-objects/contracts/tokenizer.ts';
import { corpusText } from './corpus.ts';
import { BUILD_DIR, CHAT_MODEL, EXAMPLE_DIR } from './config.ts';

const text = corpusText();
const trained = trainByteLevelBpe(text, CHAT_MODEL.vocab, [CHAT_MODEL.endOfText]);
const tokenizer = new Tokenizer(trained);
const ids = tokenizer.encode(text);
mkdirSync(BUILD_DIR, { recursive: true });
mkdirSync(EXAMPLE_DIR, { recursive: true });
writeFileSync(join(EXAMPLE_DIR, 'tokenizer.json'), `${JSON.stringify(tokenizerDocument(trained))}\n`);
writeFileSync(join(BUILD_DIR, 'tokens.bin'), new Uint8Array(Uint16Array.from(ids).buffer));
writeFileSync(join(BUILD_DIR, 'config.json'), JSON.stringify(CHAT_MODEL, null, 2));
console.log(`corpus: ${text.length} characters, ${ids.length} tokens of a vocabulary of ${tokenizer.vocabSize}`);
