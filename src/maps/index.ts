/** Maps: the sheet layout, colormaps, PNG rendering and NPY export. Pure functions over typed arrays. */
export { LayoutError, MAX_RASTER_SIDE, topolossGrid, resolveLayout, toSheet, fromSheet, medianNearestNeighbourDistance } from './layout.ts';
export type { SheetLayout } from './layout.ts';
export { NAN_COLOR, colorFor, sequentialColorFor } from './colormap.ts';
export type { RGB } from './colormap.ts';
export { GLYPH_WIDTH, GLYPH_HEIGHT, GLYPH_ADVANCE, LINE_HEIGHT, FONT_CHARACTERS, hasGlyph, glyph, drawText, drawTextVertical, textWidth, textHeight } from './font.ts';
export type { Color } from './font.ts';
export {
  renderMapPng,
  renderMapRgba,
  renderLinePlotPng,
  renderLinePlotRgba,
  encodeRgbaPng,
  defaultCellPx,
  niceTicks,
  formatTick,
  formatValue,
} from './render.ts';
export type { MapPngOptions, MapRaster, LinePlotOptions, LinePlotRaster, LineSeries, Rect } from './render.ts';
export { encodeNpy, decodeNpy, npyHeaderDict } from './npy.ts';
export type { NpyArray, NpyEncodable, NpyTypedArray } from './npy.ts';
