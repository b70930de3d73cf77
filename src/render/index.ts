/**
 * Figures as SVG, rasterised to PNG with resvg and the bundled DejaVu Sans: maps on the sheet and the
 * plots of the analyses. Pure functions of typed arrays and plain objects; the only I/O is reading the
 * font files once.
 */
export { mapFigure, renderMapSvg, renderMapPng, categoricalMapFigure, MAX_CATEGORIES } from './map.ts';
export type { MapOptions, MapLayout, CategoricalMapOptions, CategoricalMapLayout } from './map.ts';
export { linePlotFigure } from './line-plot.ts';
export type { LinePlotOptions, LineSeries, PlotLayout } from './line-plot.ts';
export { barChartFigure } from './bar-chart.ts';
export type { BarChartOptions, BarGroup, BarChartLayout, BarRect } from './bar-chart.ts';
export { effectVsControlFigure } from './effect-plot.ts';
export type { EffectVsControlOptions, EffectSet, EffectLayout, EffectRow } from './effect-plot.ts';
export { histogramFigure } from './histogram.ts';
export type { HistogramOptions, HistogramSeries, HistogramMarker, HistogramLayout } from './histogram.ts';
export { svgToPng } from './png.ts';
export { defaultCellPx, MAX_SHEET_SIDE, MAX_SHEET_PX, RECT_CELLS_LIMIT } from './sheet.ts';
export type { SheetRect } from './sheet.ts';
export { niceTicks, logTicks, formatTick, formatValue, MAX_TICKS } from './ticks.ts';
export type { Ticks } from './ticks.ts';
export { NAN_COLOR, colorFor, sequentialColorFor, colormapAt, qualitativePalette } from './colormap.ts';
export type { RGB, ColormapName } from './colormap.ts';
export { escapeXml } from './svg.ts';
export { FONT_FAMILY, fontFiles, textWidth } from './font.ts';
export type { Figure, Rect, Axis } from './layout.ts';
