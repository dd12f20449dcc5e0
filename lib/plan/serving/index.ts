// The serving styles, in the order they are asked whether a source is theirs: the first that
// says so plans the image. ROUTES models come last: a model folder of no other style is one.

import { cortexApis } from './cortex-apis.js';
import { routes } from './routes.js';
import type { ServingRequest, ServingStyle, SourceFolder } from './style.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const SERVING_STYLES: ReadonlyArray<ServingStyle<any>> = [cortexApis, routes];

/** A style and what the source declares in it: the two go together. */
export interface Served<D = unknown> {
  style: ServingStyle<D>;
  declared: D;
}

/** The style of the source (the first of `styles` that takes it), and what it declares. */
export async function servingStyleOf(
  source: SourceFolder,
  request: ServingRequest,
  styles: ReadonlyArray<ServingStyle<unknown>> = SERVING_STYLES,
): Promise<Served> {
  for (const style of styles) {
    const declared: unknown = await style.declared(source, request);
    if (declared !== undefined) return { style, declared };
  }
  throw new Error('no serving style took the source: ROUTES models take every one');
}

export type { ServingRequest, ServingStyle, SourceFolder } from './style.js';
