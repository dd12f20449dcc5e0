// The snapshot of a project seen from one candidate root: what is sent, what is left out and why,
// which links stay links, and the names and shapes these facts are described in. Pure, like the
// resolver (layout.ts) that asks it; it reads nothing from disk.

import path from 'node:path';
import { compare, toPosix } from '../text.js';
import { BUILT_IN, type IgnoreRules } from './ignore-rules.js';
import type { Problem } from './result.js';
import type { ProjectSnapshot, ScannedEntry } from './scan.js';

export const ENVIRONMENT_FILE = '.s2i/environment';
export const IGNORE_FILE = '.cortexignore';
export const DOTENV_FILE = '.env';
/** A Cortex project's API list, at the project's root. */
export const CORTEX_YAML = 'cortex.yaml';
export const SETUP_SCRIPT = 'setup.sh';
/** In .s2i/environment: other model folders beside this one that go into its image (the all image). */
export const MODELS_KEY = 'CORTEX_S2I_MODELS';
export const REQUIREMENTS_FILES = ['requirements_train.txt', 'requirements_predict.txt', 'requirements.txt'] as const;
export type RequirementsFileName = (typeof REQUIREMENTS_FILES)[number];
/** Folders that hold data or trained binaries: at any depth, never in an image. */
export const DATA_FOLDERS = new Set(['data', 'models']);
/** The folder `cortex-s2i all` generates: another image's source. */
export const GENERATED_FOLDER = 'all';
/** Keys of .s2i/environment (or -e) that name what the images call. */
export const ENTRY_KEYS = new Set(['ROUTES', 'TRAIN_MODULE', 'TRAIN_FUNCTION', 'PREDICT_MODULE', 'PREDICT_FUNCTION']);

export interface SourceFile {
  /** Posix path relative to the layout's root folder. */
  path: string;
  abs: string;
  size: number;
  executable: boolean;
  mtimeMs: number;
}

/** A symbolic link inside what is sent, kept as a link: `target` is relative to its folder. */
export interface SourceLink {
  path: string;
  target: string;
}

export interface SharedFolder {
  /** Posix path relative to the layout's root. */
  name: string;
  files: SourceFile[];
}

export interface IgnoredPath {
  path: string;
  dir: boolean;
  by: string;
}

export type LeftOutReason =
  'other model' | 'use case' | 'data' | 'trained models' | 'generated' | 'no Python code' | 'other API';
export interface LeftOutPath {
  path: string;
  why: LeftOutReason;
}

/** A top-level name the model's code imports that the layout does not provide: it must come from the image. */
export interface ExternalImport {
  name: string;
  file: string;
  line: number;
  /** From the model's own code (a missing one fails the build), or from shared code (a warning). */
  strict: boolean;
}

export function sourceFile(abs: string, rel: string, e: ScannedEntry): SourceFile {
  return { path: rel, abs, size: e.size, executable: e.executable, mtimeMs: e.mtimeMs };
}

export interface Layout {
  files: SourceFile[];
  modelFiles: SourceFile[];
  shared: SharedFolder[];
  includedModels: SharedFolder[];
  rootFiles: SourceFile[];
  links: SourceLink[];
  modelsLinks: string[];
  modelPaths: string[];
  siblingModels: string[];
  leftOut: LeftOutPath[];
  ignored: IgnoredPath[];
  pythonFiles: Array<SourceFile & { strict: boolean }>;
  errors: Problem[];
  warnings: Problem[];
  walk: string[];
  read: string[];
}

/** The snapshot seen from one candidate root: what is in, what is out, and why. */
export class Tree {
  private readonly children = new Map<string, string[]>();

  constructor(
    private readonly snap: ProjectSnapshot,
    private readonly rootDir: string,
    private readonly ignore: IgnoreRules,
  ) {
    for (const p of snap.entries.keys()) {
      const dir = path.dirname(p);
      const list = this.children.get(dir);
      if (list) list.push(p);
      else this.children.set(dir, [p]);
    }
    for (const list of this.children.values()) list.sort(compare);
  }

  private rel(abs: string): string {
    return toPosix(path.relative(this.rootDir, abs));
  }

  private kids(dir: string): string[] {
    return this.children.get(dir) ?? [];
  }

  private isModel(dir: string): boolean {
    return this.snap.entries.get(path.join(dir, ENVIRONMENT_FILE))?.kind === 'file';
  }

  /** Whether a model folder lies anywhere below `dir` (walked folders only). */
  private holdsModels(dir: string): boolean {
    return this.kids(dir).some(
      (c) =>
        this.snap.entries.get(c)?.kind === 'dir' &&
        !path.basename(c).startsWith('.') &&
        (this.isModel(c) || this.holdsModels(c)),
    );
  }

  private holdsPython(dir: string): boolean {
    return this.kids(dir).some((c) => {
      const e = this.snap.entries.get(c)!;
      if (this.ignore.ignores(this.rel(c), e.kind === 'dir')) return false;
      if (e.kind === 'file') return c.endsWith('.py');
      return e.kind === 'dir' && !DATA_FOLDERS.has(path.basename(c)) && this.holdsPython(c);
    });
  }

  layout(chain: string[], includedNames: string[]): Layout {
    const out: Layout = {
      files: [],
      modelFiles: [],
      shared: [],
      includedModels: [],
      rootFiles: [],
      links: [],
      modelsLinks: [],
      modelPaths: [],
      siblingModels: [],
      leftOut: [],
      ignored: [],
      pythonFiles: [],
      errors: [],
      warnings: [],
      walk: [],
      read: [],
    };
    const modelDir = chain[0]!;
    // Every folder on the way from the root down to the model must be walked: whether a sibling is
    // a use case, shared code or another model depends on what lies below it.
    for (const level of chain.slice(1)) {
      for (const c of this.kids(level)) {
        if (
          this.snap.entries.get(c)?.kind === 'dir' &&
          !chain.includes(c) &&
          !path.basename(c).startsWith('.') &&
          !this.snap.walked.has(c) &&
          !DATA_FOLDERS.has(path.basename(c))
        )
          out.walk.push(c);
      }
    }
    if (out.walk.length) return out;

    out.modelFiles = this.collect(modelDir, out, true);
    for (const model of this.allModels(this.rootDir)) out.modelPaths.push(this.rel(model));
    if (this.isModel(this.rootDir) && !out.modelPaths.includes('')) out.modelPaths.push('');
    out.modelPaths.sort(compare);
    for (let k = 1; k < chain.length; k++) {
      const level = chain[k]!;
      for (const c of this.kids(level)) {
        if (c === chain[k - 1]) continue;
        const e = this.snap.entries.get(c)!;
        const name = path.basename(c);
        const rel = this.rel(c);
        const isDir = e.kind === 'dir' || (e.kind === 'link' && e.targetKind === 'dir');
        const by = this.ignore.reason(rel, isDir);
        if (by) {
          out.ignored.push({ path: rel, dir: isDir, by });
          continue;
        }
        if (e.kind === 'special') {
          out.warnings.push({
            file: c,
            message: 'skipped: not a regular file, folder or link (a socket, pipe or device)',
          });
          continue;
        }
        if (e.kind === 'link') {
          if (isDir || name.endsWith('.py')) this.link(c, e, out);
          continue;
        }
        if (e.kind === 'file') {
          if (name.endsWith('.py')) {
            const f = sourceFile(c, rel, e);
            out.rootFiles.push(f);
            out.pythonFiles.push({ ...f, strict: false });
            if (!this.snap.texts.has(c)) out.read.push(c);
          }
          continue;
        }
        if (DATA_FOLDERS.has(name)) {
          out.leftOut.push({ path: rel, why: name === 'models' ? 'trained models' : 'data' });
          if (name === 'models') out.modelsLinks.push(rel);
          continue;
        }
        if (this.isModel(c)) {
          // A model folder named all/ is what `cortex-s2i all` generates: another image.
          if (k === 1) out.siblingModels.push(name);
          if (k === 1 && includedNames.includes(name)) {
            out.includedModels.push({ name: rel, files: this.collect(c, out, false) });
            continue;
          }
          out.leftOut.push({ path: rel, why: name === GENERATED_FOLDER ? 'generated' : 'other model' });
          continue;
        }
        if (this.holdsModels(c)) {
          out.leftOut.push({ path: rel, why: 'use case' });
          continue;
        }
        if (!this.holdsPython(c)) {
          out.leftOut.push({ path: rel, why: 'no Python code' });
          continue;
        }
        out.shared.push({ name: rel, files: this.collect(c, out, false) });
      }
    }
    // The model folder's own models/ is a link to the mounted models too.
    const own = path.join(modelDir, 'models');
    if (this.snap.entries.get(own)?.kind === 'dir') out.modelsLinks.push(this.rel(own));
    out.modelsLinks.sort(compare);
    out.files = [
      ...out.modelFiles,
      ...out.rootFiles,
      ...out.shared.flatMap((s) => s.files),
      ...out.includedModels.flatMap((m) => m.files),
    ].sort((a, b) => compare(a.path, b.path));
    out.links.sort((a, b) => compare(a.path, b.path));
    out.ignored.sort((a, b) => compare(a.path, b.path));
    out.leftOut.sort((a, b) => compare(a.path, b.path));
    out.shared.sort((a, b) => compare(a.name, b.name));
    return out;
  }

  /** The non-ignored files under `dir`, never data/ or models/ folders; links checked and kept. */
  private collect(dir: string, out: Layout, strict: boolean): SourceFile[] {
    const files: SourceFile[] = [];
    const visit = (d: string) => {
      for (const c of this.kids(d)) {
        const e = this.snap.entries.get(c)!;
        const rel = this.rel(c);
        const name = path.basename(c);
        const isDir = e.kind === 'dir' || (e.kind === 'link' && e.targetKind === 'dir');
        const by = this.ignore.reason(rel, isDir);
        if (by) {
          out.ignored.push({ path: rel, dir: isDir, by });
          continue;
        }
        if (e.kind === 'dir') {
          if (DATA_FOLDERS.has(name)) {
            // A model folder's own models/ becomes a link; deeper ones are left out.
            out.leftOut.push({ path: rel, why: name === 'models' ? 'trained models' : 'data' });
            continue;
          }
          if (this.isModel(c) && c !== dir) {
            out.leftOut.push({ path: rel, why: 'other model' });
            continue;
          }
          visit(c);
        } else if (e.kind === 'file') {
          const f = sourceFile(c, rel, e);
          files.push(f);
          if (name.endsWith('.py')) {
            out.pythonFiles.push({ ...f, strict });
            if (!this.snap.texts.has(c)) out.read.push(c);
          }
        } else if (e.kind === 'link') {
          this.link(c, e, out);
        } else {
          out.warnings.push({
            file: c,
            message: 'skipped: not a regular file, folder or link (a socket, pipe or device)',
          });
        }
      }
    };
    visit(dir);
    return files;
  }

  /** A link stays a link when it ends inside what is sent; any other link is refused by name. */
  private link(abs: string, e: ScannedEntry, out: Layout): void {
    const rel = this.rel(abs);
    const realRoot = this.snap.realLevels[this.snap.levels.indexOf(this.rootDir)] ?? this.rootDir;
    const problem = (reason: string) =>
      out.errors.push({
        file: abs,
        message: `the link ${rel} -> ${e.linkTarget} ${reason}`,
        hint: 'replace the link with the file itself, or leave it out with .cortexignore',
      });
    if (!e.realTarget) return void problem('points at nothing (dangling, or a loop of links)');
    const inside = e.realTarget === realRoot || e.realTarget.startsWith(realRoot + path.sep);
    if (!inside)
      return void problem(
        `leaves the project (it ends at ${e.realTarget}): nothing outside the project goes into an image`,
      );
    const targetRel = toPosix(path.relative(realRoot, e.realTarget));
    const parts = targetRel.split('/');
    if (
      parts.some((p) => p.startsWith('.') || DATA_FOLDERS.has(p)) ||
      this.ignore.ignores(targetRel, e.targetKind === 'dir')
    ) {
      return void problem(
        `ends at ${targetRel}, which is not sent (dot files, data/, models/ and ignored files never are)`,
      );
    }
    // Relative to the link's own folder, so that it resolves the same way in the image.
    out.links.push({
      path: rel,
      target: toPosix(path.relative(path.dirname(path.join(this.rootDir, rel)), path.join(this.rootDir, targetRel))),
    });
  }

  private allModels(dir: string): string[] {
    const found: string[] = [];
    for (const c of this.kids(dir)) {
      if (this.snap.entries.get(c)?.kind !== 'dir' || path.basename(c).startsWith('.')) continue;
      if (this.isModel(c)) found.push(c);
      found.push(...this.allModels(c));
    }
    return found;
  }

  /** Why the module is missing from the image, in words a user can act on. */
  whyMissing(module: string, chain: string[]): string {
    const parts = module.split('.');
    const candidates: string[] = [];
    // Where Python would look: each folder on the way up, and the one above the root.
    for (const level of [...chain, ...this.snap.levels.slice(chain.length, chain.length + 1)])
      candidates.push(path.join(level, ...parts));
    for (const c of candidates) {
      for (const p of [`${c}.py`, c]) {
        const e = this.snap.entries.get(p);
        if (!e) continue;
        const rel = this.rel(p);
        const segments = rel.split('/');
        if (rel.startsWith('..')) return `${p} is outside the project ${this.rootDir}`;
        const dataAt = segments.findIndex((s) => DATA_FOLDERS.has(s));
        if (dataAt >= 0)
          return `${rel} is inside ${segments.slice(0, dataAt + 1).join('/')}/, and data/ and models/ folders never go into an image`;
        for (let n = 1; n < segments.length; n++) {
          const dir = path.join(this.rootDir, ...segments.slice(0, n));
          if (this.isModel(dir) && !chain.includes(dir))
            return `${rel} belongs to another model (${segments.slice(0, n).join('/')}), which is not in this image`;
          if (!chain.includes(dir) && this.holdsModels(dir))
            return `${rel} is in ${segments.slice(0, n).join('/')}/, another use case (a folder of model folders), which is not in this image`;
        }
        const by = this.ignore.reason(rel, e.kind === 'dir');
        if (by) return `${rel} is left out by ${by === BUILT_IN ? 'the built-in rules' : by}`;
        return `${rel} is left out of the image`;
      }
    }
    return `no ${parts.join('/')}.py or ${parts.join('/')}/ exists there`;
  }
}
