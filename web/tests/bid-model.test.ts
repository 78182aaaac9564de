/// <reference lib="dom" />
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../../gpu-agent/models/build.ts';
import { startStack, type Stack } from '../../test/e2e/stack.ts';
import { connectDevWallet, launch, openPage } from './browser.ts';

/**
 * The bid form against the model's interface, in Chromium against the `npm start` stack (no chain,
 * no agents: nothing is placed). The form reads a picked file's inputs in the page, fetches those
 * of a model uploaded before, shows them, and checks typed inputs with the API's own rule.
 */
let stack: Stack;
let browser: Browser;
const work = mkdtempSync(join(tmpdir(), 'doug-bid-model-'));
const modelPath = join(work, 'mlp-16x4.onnx');
const notModelPath = join(work, 'notes.onnx');

beforeAll(async () => {
  writeFileSync(modelPath, buildMlpModel({ inputSize: 16, hidden: 32, outputSize: 4, seed: 42 }));
  writeFileSync(notModelPath, 'these are notes, not a model');
  stack = await startStack({ agents: 0, chain: false });
  browser = await launch();
});

afterAll(async () => {
  try {
    await browser?.close();
    await stack?.stop();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

describe('the bid form and the model', () => {
  it("shows a picked model's inputs, refuses a file that is not ONNX, and checks typed inputs before submit", async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/bid');
    // The markets load once the page is live (its handlers attached).
    await page.getByTestId('bid-market').selectOption('cpu');

    await page.getByTestId('bid-model-file').setInputFiles(notModelPath);
    await expect.poll(() => page.locator('.model .field-error').innerText()).toContain('This file is not an ONNX model');

    await page.getByTestId('bid-model-file').setInputFiles(modelPath);
    await expect.poll(() => page.getByTestId('bid-model-io').innerText()).toContain('Takes x: float32 [batch, 16]');
    expect(await page.getByTestId('bid-model-io').innerText()).toContain('Gives y: float32 [batch, 4]');

    const inputs = page.getByTestId('bid-inputs-text');
    await inputs.fill('{"x": {"dtype": "float32", "dims": [1, 4], "values": [1, 2, 3, 4]}}');
    await inputs.blur();
    const error = page.locator('[data-testid="bid-inputs-text"] ~ .field-error');
    await expect.poll(() => error.innerText()).toBe('Input x must have 16 at axis 1 of [batch, 16]; 4 was sent ([1, 4]) (MODEL__INPUT_DIM).');
    await w.shot('bid-model-unfit');

    await inputs.fill('');
    await page.getByTestId('bid-inputs-template').click();
    await expect.poll(() => page.getByTestId('bid-inputs-summary').innerText()).toContain('x float32 [1, 16]');
    expect(await error.count()).toBe(0);
    await w.shot('bid-model-template');
    expect(w.problems()).toEqual([]);
    await w.close();
  });

  it('fetches the inputs of a model uploaded before from the API', async () => {
    const w = await openPage(browser, stack.url);
    const { page } = w;
    await page.goto('/bid');
    await connectDevWallet(page);
    // Signed in, a picked model is uploaded at once and remembered in this browser.
    await page.getByTestId('bid-model-file').setInputFiles(modelPath);
    await expect.poll(() => page.getByTestId('bid-model-info').innerText(), { timeout: 30_000 }).toContain('on the server');

    await page.reload();
    const choice = page.getByTestId('bid-model-choice');
    await expect.poll(() => choice.locator('option').count(), { timeout: 30_000 }).toBeGreaterThan(1);
    const info = page.waitForResponse((r) => /\/v1\/models\/[0-9a-f]{64}\/info$/.test(r.url()));
    await choice.selectOption({ index: 1 });
    expect((await info).status()).toBe(200);
    await expect.poll(() => page.getByTestId('bid-model-io').innerText()).toContain('Takes x: float32 [batch, 16]');
    await page.getByTestId('bid-inputs-text').fill('{"x": {"dtype": "int32", "dims": [1, 16], "values": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}}');
    await page.getByTestId('bid-inputs-text').blur();
    await expect.poll(() => page.locator('[data-testid="bid-inputs-text"] ~ .field-error').innerText()).toContain('MODEL__INPUT_DTYPE');
    await w.shot('bid-model-remembered');
    expect(w.problems()).toEqual([]);
    await w.close();
  });
});
