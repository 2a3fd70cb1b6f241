// What views may ask of the page; main.ts fills these in (views never import main.ts).
export const actions = {
  setFocus: (_i: number | null): void => {},
  selectHead: (_layerIdx: number, _head: number | 'mean'): void => {},
  forceToken: (_id: number): void => {},
  /** Translate the prompt again with this many beams (encoder-decoders). */
  setBeams: (_n: number): void => {},
};
