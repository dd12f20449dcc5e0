// Headless Chromium (make chromium) through test/support/browser.ts: it loads a page a node server
// serves on 127.0.0.1, clicks its button, reads what the page made of the server's answer and
// writes a screenshot; and it leaves no browser process or profile folder behind.

import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { browserMissing, CHROMIUM_FLAGS, withBrowser } from '../support/browser.js';

// The page asks the server for the answer when the button is clicked, so the text the test reads
// went through the page's script and a request of the browser's.
const PAGE = `<!doctype html>
<html><head><title>cortex-s2i browser check</title>
<style>body { margin: 0; background: #fff; } #result { background: #1565c0; color: #fff; height: 200px; }</style>
</head><body>
<button id="ask">Ask</button>
<div id="result"></div>
<script>
document.getElementById('ask').addEventListener('click', async () => {
  const r = await fetch('/answer');
  document.getElementById('result').textContent = 'answer: ' + (await r.json()).answer;
});
</script>
</body></html>`;

/** Width and height from a PNG's IHDR chunk, after checking its signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).toString('hex')).to.equal('89504e470d0a1a0a');
  expect(png.subarray(12, 16).toString('ascii')).to.equal('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** The browser process this test process started (its child), with its arguments, from /proc. */
function ourChromium(): { pid: number; args: string[]; profile: string } | undefined {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let stat: string, cmdline: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // The parent's pid is the second field after the command name, which is in parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const args = cmdline.split('\0');
    const profile = args.find((a) => a.startsWith('--user-data-dir='));
    if (ppid === process.pid && profile) return { pid: Number(entry), args, profile: profile.split('=')[1]! };
  }
  return undefined;
}

describe('headless Chromium for browser tests (make chromium)', function () {
  this.timeout(120_000);
  const answer = randomUUID();
  const requests: string[] = [];
  const shot = path.join(tmpdir(), `cortex-s2i-browser-${process.pid}.png`);
  let server: Server;
  let url: string;

  before(async function () {
    const missing = browserMissing();
    if (missing) {
      if (process.env.CI === 'true') throw new Error(`browser tests cannot run under CI: ${missing}`);
      console.warn(`\n*** BROWSER TESTS SKIPPED: ${missing}.\n`);
      this.skip();
    }
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/answer') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ answer }));
      } else if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      } else {
        res.writeHead(404).end();
      }
    });
    // 0: any free port; CORTEX_S2I_BROWSER_TEST_PORT pins one.
    const port = Number(process.env.CORTEX_S2I_BROWSER_TEST_PORT || 0);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(async () => {
    if (server) await new Promise((resolve) => server.close(resolve));
    await rm(shot, { force: true });
  });

  it('clicks a button, reads the answer the page fetched, and writes a screenshot', async () => {
    const seen = await withBrowser(
      async (page) => {
        await page.goto(url);
        expect(await page.title()).to.equal('cortex-s2i browser check');
        await page.click('#ask');
        await page.waitForFunction(() => document.getElementById('result')?.textContent !== '');
        const text = await page.textContent('#result');
        await page.screenshot({ path: shot });
        return text;
      },
      { viewport: { width: 640, height: 360 } },
    );
    expect(seen).to.equal(`answer: ${answer}`);
    expect(requests).to.include('/answer');
    const png = await readFile(shot);
    expect(pngSize(png)).to.deep.equal({ width: 640, height: 360 });
    // The blue band of the result: a blank or failed render compresses to a few hundred bytes.
    expect(png.length).to.be.greaterThan(2000);
  });

  it("starts Debian's Chromium with the flags a closed network needs and a fresh profile", async () => {
    const browser = await withBrowser(async (page) => {
      await page.goto(url);
      return ourChromium();
    });
    expect(browser, 'a Chromium started by this process').not.to.equal(undefined);
    for (const flag of CHROMIUM_FLAGS) expect(browser!.args).to.include(flag);
    expect(browser!.profile.startsWith(tmpdir())).to.equal(true);
  });

  it('closes the browser and removes its profile, also when the test inside fails', async () => {
    let browser: ReturnType<typeof ourChromium>;
    const failure = await withBrowser(async (page) => {
      await page.goto(url);
      browser = ourChromium();
      throw new Error('a failing test');
    }).catch((err: unknown) => err);
    expect(failure).to.be.instanceOf(Error).with.property('message', 'a failing test');
    expect(browser!, 'a Chromium started by this process').not.to.equal(undefined);
    expect(existsSync(`/proc/${browser!.pid}`), 'the browser process is gone').to.equal(false);
    expect(existsSync(browser!.profile), 'the profile folder is gone').to.equal(false);
  });
});
