// The README and the pages it links to, held to the code and to each other: the command list is
// the command table's, the README stays short, and every link between the pages leads somewhere.

import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { COMMANDS } from '../lib/cli/commands/index.js';
import { commandList } from '../lib/cli/help.js';
import { packageFile } from '../lib/package-root.js';

/** A heading's anchor as GitHub makes it: lower case, spaces as dashes, punctuation gone. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('the README', () => {
  let readme: string;
  before(async () => {
    readme = await readFile(packageFile('README.md'), 'utf8');
  });

  it("lists every command as the command table has it, and nothing else, under 'Commands'", () => {
    const section = /^## Commands\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
    const block = /^```\n([\s\S]*?)^```$/m.exec(section)?.[1];
    expect(block?.trimEnd(), 'the command list').to.equal(commandList(COMMANDS));
  });

  it('is at most 250 lines, and starts with the two commands that do everything', () => {
    expect(readme.split('\n').length).to.be.at.most(250);
    const [title, , demo, test] = readme.split('\n');
    expect(title).to.equal('# cortex-s2i');
    expect(demo).to.match(/^ {4}make demo +# /);
    expect(test).to.match(/^ {4}make test +# /);
  });
});

describe('the links between the pages', () => {
  it('lead to files that are there, and to headings those files have', async () => {
    const pages = [
      'README.md',
      'ARCHITECTURE.md',
      'bench/README.md',
      ...(await readdir(packageFile('docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
    ];
    let links = 0;
    for (const page of pages) {
      const text = await readFile(packageFile(...page.split('/')), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        links++;
        const [file, hash] = target!.split('#') as [string, string | undefined];
        const resolved =
          file === ''
            ? packageFile(...page.split('/'))
            : path.resolve(path.dirname(packageFile(...page.split('/'))), file);
        expect(existsSync(resolved), `${page}: ${target}`).to.equal(true);
        if (hash === undefined || !resolved.endsWith('.md')) continue;
        const headings = (await readFile(resolved, 'utf8')).matchAll(/^#{1,6} (.*)$/gm);
        expect(
          [...headings].map((h) => anchor(h[1]!)),
          `${page}: ${target}`,
        ).to.include(hash);
      }
    }
    expect(links).to.be.greaterThan(20);
  });
});
