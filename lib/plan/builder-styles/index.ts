// The builder styles, by the style a builder names: the planner and the renderer ask the style of
// the plan's builder, and nothing else branches on it. A new style is a module of this folder, a
// variant of Builder (builders.ts), and its line here.

import type { Builder } from '../builders.js';
import { bundled } from './bundled.js';
import { s2i } from './s2i.js';
import type { BuilderStyle } from './style.js';

const STYLES: { [S in Builder['style']]: BuilderStyle<Extract<Builder, { style: S }>> } = { bundled, s2i };

/** The style of `builder`, typed for it. */
export function builderStyle<B extends Builder>(builder: B): BuilderStyle<B> {
  return STYLES[builder.style] as unknown as BuilderStyle<B>;
}

export type { BuilderStyle } from './style.js';
