// The examples of the README and of docs/ stay runnable: every cortex-s2i command they show is one
// the command line accepts; the CI examples in docs/ci.md are valid YAML, and the buildah job builds
// the folder --as-dockerfile wrote and pushes by digest. (The README's five-minute walk is run as it
// is against a real engine: test/integration/readme-walk.test.ts.)

import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { BuildArgs } from '../lib/cli/commands/build.js';
import { parseCommandLine } from '../lib/cli/main.js';
import { packageFile } from '../lib/package-root.js';

/** Values for the variables the examples use, as a pipeline would set them. */
const VARIABLES: Record<string, string> = {
  IMAGE: 'registry.example.com/team/churn-predict',
  SHA: '0123456789abcdef',
  GITHUB_SHA: '0123456789abcdef',
  CI_COMMIT_SHA: '0123456789abcdef',
};

function yamlBlocks(markdown: string): unknown[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => parse(m[1]!) as unknown);
}

/** A shell line's simple commands as words, with the variables above expanded (any other is an error). */
function commands(line: string): string[][] {
  const out: string[][] = [];
  for (const part of line.split(/\s*(?:&&|\|\||[;|]|\bdo\b|\bthen\b)\s*/)) {
    const words = [...part.replace(/\s[12]?>.*$/, '').matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)].map((m) =>
      m[2] !== undefined
        ? m[2]
        : (m[1] ?? m[3]!).replace(/\$(\w+)|\$\{(\w+)\}/g, (all, a: string | undefined, b: string | undefined) => {
            const name = (a ?? b)!;
            if (all.startsWith('$(') || !(name in VARIABLES)) return all;
            return VARIABLES[name]!;
          }),
    );
    if (words.length) out.push(words);
  }
  return out;
}

function cortexCalls(scripts: string[]): string[][] {
  const calls: string[][] = [];
  for (const script of scripts) {
    for (const line of script.split('\n')) {
      for (const words of commands(line)) {
        const at = words.indexOf('cortex-s2i');
        // The command's name as a word of prose or of an import (from 'cortex-s2i') is no call.
        if (at >= 0 && at + 1 < words.length) calls.push(words.slice(at + 1));
      }
    }
  }
  return calls;
}

/** The lines of a page's code: fenced blocks and indented ones, a continued line joined to the next. */
function codeLines(markdown: string): string[] {
  const lines: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      fenced = !fenced;
      continue;
    }
    if (fenced || line.startsWith('    ')) lines.push(line.trim());
  }
  return lines
    .join('\n')
    .replace(/\\\n\s*/g, ' ')
    .split('\n');
}

describe('the commands the README and docs/ show', () => {
  let pages: Array<[string, string]>;
  before(async () => {
    const docs = (await readdir(packageFile('docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
    pages = await Promise.all(
      ['README.md', 'ARCHITECTURE.md', ...docs].map(
        async (page) => [page, await readFile(packageFile(...page.split('/')), 'utf8')] as [string, string],
      ),
    );
  });

  it('are each one the command line accepts, as written', () => {
    let checked = 0;
    for (const [page, text] of pages) {
      const lines = codeLines(text).filter((l) => !l.startsWith('#') && !/[<[…]/.test(l.replace(/#.*$/, '')));
      for (const argv of cortexCalls(lines.map((l) => l.replace(/\s#\s.*$/, '')))) {
        expect(() => parseCommandLine(argv), `${page}: cortex-s2i ${argv.join(' ')}`).not.to.throw();
        checked++;
      }
    }
    expect(checked).to.be.greaterThan(15);
  });

  it('name each command of the README at least once in a runnable example', () => {
    const named = new Set<string>();
    for (const [, text] of pages) {
      const lines = codeLines(text).filter((l) => !/[<[…]/.test(l.replace(/#.*$/, '')));
      for (const argv of cortexCalls(lines.map((l) => l.replace(/\s#\s.*$/, '')))) named.add(argv[0]!);
    }
    expect([...named].sort()).to.include.members(['all', 'build', 'builders', 'deploy', 'init', 'job', 'push']);
  });
});

describe('the CI examples in docs/ci.md', () => {
  let blocks: unknown[];
  before(async () => {
    blocks = yamlBlocks(await readFile(packageFile('docs', 'ci.md'), 'utf8'));
  });

  it('has a GitHub Actions workflow and a GitLab CI job, both valid YAML', () => {
    expect(blocks).to.have.length(2);
    const [github, gitlab] = blocks as [Record<string, unknown>, Record<string, unknown>];
    expect(github).to.include.keys('on', 'jobs');
    expect(Object.values(gitlab).some((job) => Array.isArray((job as { script?: unknown }).script))).to.equal(true);
  });

  it('GitHub: every cortex-s2i call parses, it builds, tests /ready and a prediction, and pushes by digest', () => {
    const github = blocks[0] as { jobs: Record<string, { steps: Array<{ run?: string }> }> };
    const scripts = Object.values(github.jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
    const calls = cortexCalls(scripts);
    for (const argv of calls) expect(() => parseCommandLine(argv), argv.join(' ')).not.to.throw();
    const names = calls.map((a) => parseCommandLine(a).command.name);
    expect(names).to.include.members(['builders', 'build', 'push']);
    expect(calls.some((a) => a.includes('--digest-file'))).to.equal(true);
    const all = scripts.join('\n');
    expect(all)
      .to.match(/docker run /)
      .and.match(/curl [^\n]*\/ready/)
      .and.match(/curl [^\n]*-X POST[^\n]*test_instances\.json/);
  });

  it('GitLab: the buildah job builds what --as-dockerfile wrote and pushes with --digestfile', () => {
    const gitlab = blocks[1] as Record<string, { script: string[]; before_script?: string[] }>;
    const job = Object.values(gitlab).find((j) => Array.isArray(j.script))!;
    const scripts = [...(job.before_script ?? []), ...job.script];
    // A line with ': ' in it is a mapping to YAML, and GitLab refuses the job.
    for (const line of scripts) expect(line, JSON.stringify(line)).to.be.a('string');
    const calls = cortexCalls(scripts);
    expect(calls).to.have.length.greaterThan(0);
    let contextDir: string | undefined;
    for (const argv of calls) {
      const { command, args } = parseCommandLine(argv);
      if (command.name === 'build') contextDir = (args as BuildArgs).make.asDockerfile;
    }
    expect(contextDir, 'a build --as-dockerfile').to.be.a('string');
    const words = scripts.flatMap((s) => commands(s));
    const bud = words.find((w) => w[0] === 'buildah' && w[1] === 'bud');
    expect(bud, 'buildah bud').to.not.equal(undefined);
    expect(bud!.at(-1)).to.equal(contextDir);
    expect(words.some((w) => w[0] === 'buildah' && w[1] === 'push' && w.includes('--digestfile'))).to.equal(true);
    const all = scripts.join('\n');
    expect(all)
      .to.match(/curl [^\n]*\/ready/)
      .and.match(/curl [^\n]*-X POST[^\n]*test_instances\.json/);
  });

  it('reads shell lines as the examples need: quotes, variables, redirections and lists', () => {
    expect(
      commands('npx cortex-s2i build churn daemon "$IMAGE:$GITHUB_SHA" --json > build.json && echo "$(cat x)"'),
    ).to.deep.equal([
      [
        'npx',
        'cortex-s2i',
        'build',
        'churn',
        'daemon',
        'registry.example.com/team/churn-predict:0123456789abcdef',
        '--json',
      ],
      ['echo', '$(cat x)'],
    ]);
  });
});
